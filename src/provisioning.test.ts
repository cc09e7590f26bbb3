/**
 * The provisioned dashboards against the query API's own validation: every target, with its
 * variables set, must be a query the API accepts (a renamed metric or tag fails here, not in
 * front of a user).
 */
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { parse as parseYaml } from 'yaml';

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

interface AlertQuery {
  refId: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, unknown> & { refId: string; expression?: string; type?: string };
}

describe('provisioned alert rules', () => {
  const rulesFile = parseYaml(readFileSync(join(__dirname, '../provisioning/alerting/metaflow-rules.yaml'), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ uid: string; title: string; condition: string; data: AlertQuery[] }> }>;
  };
  const datasources = parseYaml(readFileSync(join(__dirname, '../provisioning/datasources/metaflow.yaml'), 'utf8')) as { datasources: Array<{ uid: string }> };
  const plugin = JSON.parse(readFileSync(join(__dirname, 'datasource/plugin.json'), 'utf8')) as Record<string, unknown>;
  const rules = rulesFile.groups.flatMap((g) => g.rules);

  it('the data source declares the backend that evaluates them', () => {
    expect(plugin).toMatchObject({ backend: true, alerting: true, executable: 'gpx_metaflow' });
  });

  it('covers error ratio, p99 response time and connection failures', () => {
    expect(rules.map((r) => r.uid).sort()).toEqual(['metaflow-connection-failures', 'metaflow-error-ratio', 'metaflow-p99-response-time']);
  });

  for (const rule of rules) {
    it(`${rule.title}: MetaFlow queries are valid, expressions refer to existing queries`, () => {
      const refIds = new Set(rule.data.map((d) => d.refId));
      expect(refIds.has(rule.condition)).toBe(true);
      for (const d of rule.data) {
        expect(d.model.refId).toBe(d.refId);
        if (d.datasourceUid === '__expr__') {
          const referenced = (d.model.expression ?? '').match(/[A-Z]\w*/g) ?? [];
          for (const r of referenced) expect(refIds).toContain(r);
          continue;
        }
        expect(datasources.datasources.map((ds) => ds.uid)).toContain(d.datasourceUid);
        expect(d.relativeTimeRange?.from).toBeGreaterThan(0);
        const q = migrateQuery(d.model as unknown as MetaFlowQuery & Record<string, unknown>);
        const request = buildStructuredRequest(q, { from: 0, to: 300_000, intervalMs: 60_000, replace: (t) => t, expand: (t) => [t] });
        expect(() => validateQuery(request, 300_000)).not.toThrow();
      }
    });
  }
});
