/**
 * The provisioned dashboards against the query API's own validation: every target, with its
 * variables set, must be a query the API accepts (a renamed metric or tag fails here, not in
 * front of a user).
 */
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';

import { validateQuery } from '../agent/src/query/structured-query';
import { migrateQuery } from './datasource/query-migration';
import { buildStructuredRequest } from './datasource/request-builder';
import { MetaFlowQuery } from './datasource/types';

const DIR = join(__dirname, '../provisioning/dashboards/metaflow');
const SAMPLE_VALUES: Record<string, string[]> = { $tap_side: ['s'], $service: ['10.0.0.1:80', '10.0.0.2:443'], $status: ['ok', 'server_error'], $server_port: ['80'] };

interface Dashboard {
  title: string;
  panels: Array<{ title: string; targets: Array<MetaFlowQuery & Record<string, unknown>> }>;
}

describe('provisioned dashboards', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has the RED, network, request-log, flow-log and service-map dashboards', () => {
    expect(files.sort()).toEqual(['flow-log.json', 'network-overview.json', 'red-overview.json', 'request-log.json', 'service-map.json']);
  });

  for (const file of files) {
    const dashboard = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Dashboard;
    for (const panel of dashboard.panels) {
      it(`${dashboard.title} / ${panel.title}: every target is a valid query`, () => {
        for (const target of panel.targets) {
          const q = migrateQuery(target);
          if (q.mode === 'map') {
            expect(['service', 'process', 'ip', 'host', 'container', '$level']).toContain(q.mapLevel);
            continue;
          }
          const request = buildStructuredRequest(q, {
            from: 0,
            to: 3_600_000,
            intervalMs: 60_000,
            replace: (t) => t,
            expand: (t) => SAMPLE_VALUES[t] ?? [t],
          });
          expect(() => validateQuery(request, 3_600_000)).not.toThrow();
        }
      });
    }
  }
});
