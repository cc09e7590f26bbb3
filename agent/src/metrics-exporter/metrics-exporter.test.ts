/**
 * The exposition against a stand-in store whose rows are written out here: names, types and
 * labels, errors by status class, histogram buckets (checked against samples placed by hand),
 * the cardinality cap, the cache, and a store that fails or never answers. The same numbers
 * read from a real store and checked against tshark are in metrics-store.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { histogramBucket } from '../aggregate/network-metrics';
import { LiveHealth } from '../live/live-agent';
import { buildApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { Store } from '../store/store';
import { TableDef } from '../store/tables';
import { ExposedSample, familyTypes, parseExposition, select, total } from './exposition-reader';
import { MetricsExporter, maxSeriesFromEnv, wantsOpenMetrics } from './metrics-exporter';

type Row = Record<string, unknown>;

/** A store answering the exporter's three reads from rows given here, counting its queries. */
class FakeStore implements Store {
  readonly description = 'fake';
  queries = 0;
  failWith: Error | undefined;
  hang = false;

  constructor(
    public application: Row[],
    public network: Row[] = [],
    public newest: Row[] = [],
  ) {}

  async exec(): Promise<void> {}
  async insert(_t: TableDef, _rows: Buffer, _n: number): Promise<void> {}
  async close(): Promise<void> {}

  async query<T>(sql: string): Promise<T[]> {
    this.queries++;
    if (this.hang) return new Promise<T[]>(() => undefined);
    if (this.failWith) throw this.failWith;
    if (sql.includes('UNION ALL')) return this.newest as T[];
    if (sql.includes('application_1m')) return this.application as T[];
    if (sql.includes('network_map_1m')) return this.network as T[];
    throw new Error(`unexpected query ${sql}`);
  }
}

/** Response times in µs → the stored histogram map (the agent's own bucketing) and sum. */
function stored(timesUs: number[]): { hist: Record<string, string>; hist_sum: string } {
  const hist: Record<string, string> = {};
  for (const t of timesUs) hist[histogramBucket(t)] = String(Number(hist[histogramBucket(t)] ?? 0) + 1);
  return { hist, hist_sum: String(timesUs.reduce((a, b) => a + b, 0)) };
}

function appRow(service: string, endpoint: string, tapSide: string, counts: { request: number; response: number; client_error?: number; server_error?: number; timeout?: number }, timesUs: number[] = []): Row {
  return {
    host_name: 'h1',
    service_name: service,
    endpoint,
    l7_protocol: 'http1',
    tap_side: tapSide,
    client_error: 0,
    server_error: 0,
    timeout: 0,
    ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, String(v)])),
    ...stored(timesUs),
  };
}

async function scrape(exporter: MetricsExporter, accept?: string): Promise<{ text: string; samples: ExposedSample[]; contentType: string }> {
  const page = await exporter.render(accept);
  return { text: page.body, samples: parseExposition(page.body.replace(/# EOF\n$/, '')), contentType: page.contentType };
}

const CHECKOUT_TIMES = [3, 700, 1024, 1500, 90_000, 5_000_000];

test('RED families: OTel-style names, labels per service endpoint and tap side, errors by status class', async () => {
  const store = new FakeStore([
    appRow('checkout:8080', '/api/pay', 's', { request: 6, response: 6, client_error: 1, server_error: 2 }, CHECKOUT_TIMES),
    appRow('checkout:8080', '/api/pay', 'c', { request: 5, response: 4, timeout: 1 }, [900, 1100, 2000, 2500]),
  ]);
  const { samples, text } = await scrape(new MetricsExporter({ store }));
  const types = familyTypes(text);
  assert.equal(types.metaflow_server_requests_total, 'counter');
  assert.equal(types.metaflow_server_errors_total, 'counter');
  assert.equal(types.metaflow_server_request_duration_seconds, 'histogram');
  assert.equal(types.metaflow_network_rtt_seconds, 'histogram');
  const server = { service_name: 'checkout:8080', endpoint: '/api/pay', l7_protocol: 'http1', host_name: 'h1', tap_side: 's' };
  assert.deepEqual(select(samples, 'metaflow_server_requests_total', server)[0].labels, server);
  assert.equal(total(samples, 'metaflow_server_requests_total', server), 6);
  assert.equal(total(samples, 'metaflow_server_requests_total', { tap_side: 'c' }), 5, 'tap sides stay apart');
  assert.deepEqual(
    Object.fromEntries(select(samples, 'metaflow_server_errors_total', server).map((s) => [s.labels.error_type, s.value])),
    { client_error: 1, server_error: 2, timeout: 0 },
  );
  assert.equal(total(samples, 'metaflow_server_errors_total', { tap_side: 'c', error_type: 'timeout' }), 1);
});

test('the duration histogram is cumulative in seconds; +Inf and _count are every sample, _sum their total', async () => {
  const store = new FakeStore([appRow('checkout:8080', '/api/pay', 's', { request: 6, response: 6 }, CHECKOUT_TIMES)]);
  const { samples } = await scrape(new MetricsExporter({ store }));
  const buckets = select(samples, 'metaflow_server_request_duration_seconds_bucket');
  const finite = buckets.filter((b) => b.labels.le !== '+Inf');
  assert.equal(finite.length, 23, 'one bucket per stored log2 bucket but the open-ended last');
  for (let i = 1; i < finite.length; i++) {
    assert.ok(Number(finite[i].labels.le) > Number(finite[i - 1].labels.le), 'bounds increase');
    assert.ok(finite[i].value >= finite[i - 1].value, 'counts are cumulative');
  }
  // Each bound counts the samples strictly below it (the store's log2 buckets are half-open).
  for (const b of finite) assert.equal(b.value, CHECKOUT_TIMES.filter((us) => us / 1e6 < Number(b.labels.le)).length, `le=${b.labels.le}`);
  assert.equal(select(buckets, 'metaflow_server_request_duration_seconds_bucket', { le: '0.001024' })[0].value, 2, '3 µs and 700 µs; 1024 µs is one bucket up');
  assert.equal(select(buckets, 'metaflow_server_request_duration_seconds_bucket', { le: '4.194304' })[0].value, 5, '5 s is beyond the last finite bound');
  assert.equal(select(buckets, 'metaflow_server_request_duration_seconds_bucket', { le: '+Inf' })[0].value, 6);
  assert.equal(total(samples, 'metaflow_server_request_duration_seconds_count'), 6);
  assert.ok(Math.abs(total(samples, 'metaflow_server_request_duration_seconds_sum') - CHECKOUT_TIMES.reduce((a, b) => a + b, 0) / 1e6) < 1e-9);
});

test('network families per edge: directions, failures by type, RTT histogram', async () => {
  const edge = { host_name: 'h1', client_service_name: '10.0.0.1', server_service_name: 'db:5432', network_transport: 'tcp', tap_side: 'c' };
  const store = new FakeStore(
    [],
    [
      {
        ...edge,
        byte_tx: '1000',
        byte_rx: '5000',
        packet_tx: 10,
        packet_rx: 12,
        retrans_tx: 1,
        retrans_rx: 2,
        client_establish_fail: 0,
        server_establish_fail: 3,
        tcp_transfer_fail: 0,
        tcp_rst_fail: 1,
        ...stored([150, 300]),
      },
    ],
  );
  const { samples } = await scrape(new MetricsExporter({ store }));
  assert.equal(total(samples, 'metaflow_network_bytes_total', { ...edge, direction: 'client_to_server' }), 1000);
  assert.equal(total(samples, 'metaflow_network_bytes_total', { direction: 'server_to_client' }), 5000);
  assert.equal(total(samples, 'metaflow_network_retransmissions_total', { direction: 'server_to_client' }), 2);
  assert.equal(total(samples, 'metaflow_network_connection_failures_total', { error_type: 'server_establish_fail' }), 3);
  assert.equal(total(samples, 'metaflow_network_connection_failures_total', { error_type: 'tcp_rst_fail' }), 1);
  assert.equal(total(samples, 'metaflow_network_rtt_seconds_count', edge), 2);
  assert.equal(select(samples, 'metaflow_network_rtt_seconds_bucket', { le: '0.000256' })[0].value, 1);
});

test('over the cap, label sets fold into "other" per tap side, are counted, and keep their places', async () => {
  const rows = [
    appRow('a', '/1', 's', { request: 50, response: 50, server_error: 5 }, [100]),
    appRow('b', '/1', 's', { request: 40, response: 40 }),
    appRow('c', '/1', 's', { request: 30, response: 30, client_error: 3 }, [200]),
    appRow('d', '/1', 'c', { request: 20, response: 20, client_error: 2 }),
    appRow('e', '/1', 'c', { request: 10, response: 10 }),
  ];
  const store = new FakeStore(rows);
  const exporter = new MetricsExporter({ store, maxSeries: 2, cacheMs: 0 });
  const first = (await scrape(exporter)).samples;
  const services = (s: ExposedSample[]): string[] => select(s, 'metaflow_server_requests_total').map((x) => `${x.labels.service_name}@${x.labels.tap_side}`);
  assert.deepEqual(services(first).sort(), ['a@s', 'b@s', 'other@c', 'other@s']);
  assert.equal(total(first, 'metaflow_server_requests_total', { service_name: 'other', tap_side: 's' }), 30);
  assert.equal(total(first, 'metaflow_server_requests_total', { service_name: 'other', tap_side: 'c' }), 30, 'tap sides are folded apart');
  assert.equal(total(first, 'metaflow_server_requests_total'), 150, 'totals survive the fold');
  assert.equal(total(first, 'metaflow_server_errors_total', { service_name: 'other', tap_side: 's', error_type: 'client_error' }), 3, 'errors fold with their requests');
  assert.equal(total(first, 'metaflow_server_request_duration_seconds_count', { service_name: 'other', tap_side: 's' }), 1);
  assert.equal(total(first, 'metaflow_exporter_series_folded', { data_type: 'application' }), 3);
  assert.equal(total(first, 'metaflow_exporter_series_limit'), 2);

  // c becomes the busiest: a and b keep their places, so their counters stay monotonic.
  store.application = [appRow('c', '/1', 's', { request: 900, response: 900 }), ...rows.filter((r) => r.service_name !== 'c')];
  assert.deepEqual(services((await scrape(exporter)).samples).sort(), ['a@s', 'b@s', 'other@c', 'other@s']);
  // b expires (TTL): its place goes to the busiest waiting label set.
  store.application = store.application.filter((r) => r.service_name !== 'b');
  assert.deepEqual(services((await scrape(exporter)).samples).sort(), ['a@s', 'c@s', 'other@c']);
});

test('a failing store: health families answer, store families are absent, store_up is 0', async () => {
  const store = new FakeStore([appRow('a', '/1', 's', { request: 1, response: 1 })]);
  store.failWith = new Error('connect ECONNREFUSED 127.0.0.1:8123');
  const health = fakeHealth();
  const reported: string[] = [];
  const exporter = new MetricsExporter({ store, health: () => health, cacheMs: 0, onStoreDown: (e) => reported.push(e) });
  const { samples } = await scrape(exporter);
  await scrape(exporter);
  assert.deepEqual(reported, ['connect ECONNREFUSED 127.0.0.1:8123'], 'the outage is reported once, with its reason');
  assert.equal(total(samples, 'metaflow_exporter_store_up'), 0);
  assert.equal(select(samples, 'metaflow_server_requests_total').length, 0, 'no stale RED numbers to alert on');
  assert.equal(total(samples, 'metaflow_agent_packets_total'), 1234);
  assert.equal(total(samples, 'metaflow_store_rows_dropped_total'), 7);
  assert.equal(total(samples, 'metaflow_store_rows_pending'), 300);
  assert.equal(total(samples, 'metaflow_agent_packets_not_analysed_total', { kind: 'malformed', reason: 'truncated_ip_header' }), 2);
});

test('a store that never answers: the scrape returns after the timeout and the stuck read is not repeated', async () => {
  const store = new FakeStore([]);
  store.hang = true;
  const exporter = new MetricsExporter({ store, timeoutMs: 100, cacheMs: 0 });
  const started = Date.now();
  const first = await scrape(exporter);
  assert.ok(Date.now() - started < 2000);
  assert.equal(total(first.samples, 'metaflow_exporter_store_up'), 0);
  const queries = store.queries;
  const second = await scrape(exporter);
  assert.equal(total(second.samples, 'metaflow_exporter_store_up'), 0);
  assert.equal(store.queries, queries, 'no new read while the first is stuck');
});

test('concurrent and close scrapes share one read of the store', async () => {
  const store = new FakeStore([appRow('a', '/1', 's', { request: 1, response: 1 })], [], [{ kind: 'application', newest: Math.floor(Date.now() / 1000) - 30 }]);
  const exporter = new MetricsExporter({ store, cacheMs: 60_000 });
  const pages = await Promise.all([scrape(exporter), scrape(exporter), scrape(exporter, 'application/openmetrics-text')]);
  await scrape(exporter);
  assert.equal(store.queries, 3, 'application, network and data age, once');
  for (const p of pages) assert.equal(total(p.samples, 'metaflow_server_requests_total'), 1);
  const age = total(pages[0].samples, 'metaflow_store_data_age_seconds', { data_type: 'application' });
  assert.ok(age >= 30 && age < 40, `data age ${age}`);
});

test('OpenMetrics when asked for, the text format otherwise', async () => {
  const exporter = new MetricsExporter({ store: new FakeStore([appRow('a', '/1', 's', { request: 2, response: 2 })]) });
  const prometheusAccept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const om = await scrape(exporter, prometheusAccept);
  assert.match(om.contentType, /^application\/openmetrics-text; version=1\.0\.0/);
  assert.match(om.text, /\n# EOF\n$/);
  assert.match(om.text, /^# TYPE metaflow_server_requests counter$/m, 'OpenMetrics names the counter family without _total');
  assert.equal(total(om.samples, 'metaflow_server_requests_total'), 2);
  const plain = await scrape(exporter);
  assert.match(plain.contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(plain.text, /^# TYPE metaflow_server_requests_total counter$/m);
  assert.equal(total(plain.samples, 'metaflow_server_requests_total'), 2, 'one format does not rename the other');
  assert.equal(wantsOpenMetrics(undefined), false);
  assert.equal(wantsOpenMetrics('text/plain, application/openmetrics-text;q=0.5'), false);
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0'), false);
  assert.equal(wantsOpenMetrics('application/openmetrics-text'), true);
});

test('/metrics on the API server needs the bearer token when one is set', async () => {
  const store = new FakeStore([appRow('a', '/1', 's', { request: 2, response: 2 })]);
  const app = buildApiServer(new QueryService(store, { version: 'test' }), { token: 's3cret', metrics: new MetricsExporter({ store }) });
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer s3cret' } });
  assert.equal(ok.statusCode, 200);
  assert.match(ok.headers['content-type'] as string, /^text\/plain/);
  assert.equal(total(parseExposition(ok.body), 'metaflow_server_requests_total'), 2);
  await app.close();
});

test('the series cap comes from METAFLOW_METRICS_MAX_SERIES and must be a positive integer', () => {
  assert.equal(maxSeriesFromEnv({}), undefined);
  assert.equal(maxSeriesFromEnv({ METAFLOW_METRICS_MAX_SERIES: '250' }), 250);
  assert.throws(() => maxSeriesFromEnv({ METAFLOW_METRICS_MAX_SERIES: '0' }), /positive integer/);
});

function fakeHealth(): LiveHealth {
  return {
    packets: 1234,
    packetBytes: 99_000,
    socketEvents: 40,
    kernelDrops: 3,
    loaderRestarts: 0,
    captureGaps: 0,
    captureGapSeconds: 0,
    malformed: { truncated_ip_header: 2 },
    skipped: { non_ip: 5 },
    flowsOpen: 17,
    socketsOpen: 4,
    flowTableEvictions: 0,
    requestRecords: 88,
    store: { rowsWritten: 5000, rowsDropped: 7, insertsFailed: 2, rowsBuffered: 300, bufferedBytes: 65_536 },
  };
}
