/**
 * RED numbers of a corpus HTTP capture from its tshark oracle, for the tests that compare
 * `/metrics` (directly or through Prometheus) with them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Oracle } from '../testing/corpus';
import { OracleL7 } from '../testing/l7-oracle';

export type HttpOracle = Oracle & {
  l7: { http: OracleL7 & { status_counts: Record<string, number>; endpoints: { server: string }[] } };
};

export function httpOracle(corpus: string, capture: string): HttpOracle {
  return JSON.parse(readFileSync(join(corpus, capture + '.oracle.json'), 'utf8')) as HttpOracle;
}

/** The one server of the capture's HTTP exchanges as `ip:port`: the service name without process tags. */
export function httpServer(o: HttpOracle): string {
  const servers = new Set(o.l7.http.endpoints.map((e) => e.server));
  assert.equal(servers.size, 1, 'the capture has one HTTP server');
  return [...servers][0];
}

/** Final responses and errors by status class from tshark's status counts (interim 1xx are not responses, SPEC §4). */
export function statusClasses(o: HttpOracle): { responses: number; client_error: number; server_error: number } {
  const out = { responses: 0, client_error: 0, server_error: 0 };
  for (const [code, n] of Object.entries(o.l7.http.status_counts)) {
    const c = Number(code);
    if (c < 200 && c !== 101) continue;
    out.responses += n;
    if (c >= 400 && c < 500) out.client_error += n;
    if (c >= 500) out.server_error += n;
  }
  return out;
}
