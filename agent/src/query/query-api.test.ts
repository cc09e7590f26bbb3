/**
 * The query API against a real embedded ClickHouse filled by replaying the project's demo
 * recording (its known workload is the oracle for requests and statuses) and corpus captures
 * (tshark's oracle for response times, packets and TCP counters). Requests go through the HTTP
 * layer (fastify's inject), as the datasource sends them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { replay } from '../pipeline/replay';
import { ChdbStore } from '../store/chdb-store';
import { Store } from '../store/store';
import { CORPUS_MISSING, corpusDir, Oracle } from '../testing/corpus';
import { buildApiServer } from './api-server';
import { Frame } from './frames';
import { histogramQuantile } from './histogram-quantile';
import { QueryService } from './query-service';

const root = resolve(__dirname, '../../..');
const DEMO = join(root, 'fixtures/captures/demo-loopback.pcap');
const workload = JSON.parse(readFileSync(join(root, 'fixtures/captures/demo-loopback.workload.json'), 'utf8')) as {
  servers: { protocol: string; port: number; requests: number; by_address: Record<string, { requests: number; responses_by_status: Record<string, number> }> }[];
  refused: { address: string; port: number; connection_attempts: number }[];
};
const corpus = corpusDir();
const ZEEK_HTTP = 'http1/zeek_http-1000-requests-one-dropped-response.pcap';
const RETRANS = 'tcp/cs_tcp_retransmissions.pcapng';
const ZERO_WINDOW = 'tcp/cs_tcp_zerowindowdead.pcapng';

let dir: string;
let store: ChdbStore;
let service: QueryService;
const ALL_TIME = { from: 0, to: 4_102_444_800_000 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'metaflow-query-'));
  store = new ChdbStore(dir);
  await replay({ input: DEMO, store, host: 'demo', localAddresses: ['127.0.0.1', '::1'] });
  if (corpus) for (const [name, host] of [[ZEEK_HTTP, 'zeek'], [RETRANS, 'retrans'], [ZERO_WINDOW, 'zerowin']]) await replay({ input: join(corpus, name), store, host });
  service = new QueryService(store, { version: 'test' });
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const app = buildApiServer(service);
  const res = await app.inject({ method, url, payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.statusCode, json: res.json() as Record<string, unknown> };
}

async function query(q: Record<string, unknown>): Promise<Frame[]> {
  const res = await call('POST', '/api/v1/query', { ...ALL_TIME, interval: '1m', ...q });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json.frames as Frame[];
}

/** A table frame as rows keyed by field name. */
function rows(frame: Frame): Record<string, unknown>[] {
  const n = frame.fields[0]?.values.length ?? 0;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(frame.fields.map((f) => [f.name, f.values[i]])));
}

async function table(q: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const [frame] = await query({ format: 'table', ...q });
  return rows(frame);
}

const demoOnly = [{ tag: 'host', op: '=', value: 'demo' }];
const http = workload.servers.find((s) => s.protocol === 'http') as (typeof workload.servers)[number];
const redis = workload.servers.find((s) => s.protocol === 'redis') as (typeof workload.servers)[number];
const endpointOf = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

test('RED per service equals the recorded workload: requests, errors, error ratio', async () => {
  const got = await table({
    dataType: 'application',
    groupBy: ['service'],
    filters: demoOnly,
    tapSide: ['local'],
    metrics: [{ metric: 'request' }, { metric: 'error' }, { metric: 'error_ratio' }, { metric: 'timeout' }],
    orderBy: [{ by: 'service' }],
  });
  const expected: Record<string, { request: number; error: number }> = {};
  for (const s of [http, redis]) {
    for (const [ip, a] of Object.entries(s.by_address)) {
      const errors = Object.entries(a.responses_by_status).reduce((n, [code, k]) => n + (code === 'error' || Number(code) >= 400 ? k : 0), 0);
      expected[endpointOf(ip, s.port)] = { request: a.requests, error: errors };
    }
  }
  assert.deepEqual(
    Object.fromEntries(got.map((r) => [r.service, { request: r.request, error: r.error }])),
    expected,
  );
  for (const r of got) {
    assert.equal(r.error_ratio, (r.error as number) / (r.request as number));
    assert.equal(r.timeout, 0);
  }
});

test('rates, per-interval max and averages agree with the sums they come from', async () => {
  const [total] = await table({ dataType: 'application', filters: demoOnly, metrics: [{ metric: 'request' }] });
  const series = await query({ dataType: 'application', interval: '1s', step: 1, filters: demoOnly, metrics: [{ metric: 'request', aggregation: 'rate' }, { metric: 'request', aggregation: 'max' }] });
  const rate = series[0].fields.find((f) => f.name === 'request_rate')?.values as number[];
  const max = series[0].fields.find((f) => f.name === 'request_max')?.values as number[];
  assert.equal(rate.reduce((a, b) => a + b, 0), total.request, 'a 1 s rate summed over the seconds is the count');
  assert.equal(Math.max(...max), Math.max(...rate));
  // The busiest second, counted independently from the request log (response times of the second).
  const perSecond = await call('POST', '/api/v1/sql', {
    sql: "SELECT max(n) AS busiest FROM (SELECT time, count() AS n FROM flow_log.l7_flow_log WHERE host = 'demo' AND type != 'response' AND tap_side = 'local' GROUP BY time)",
    ...ALL_TIME,
  });
  assert.equal((perSecond.json.frames as Frame[])[0].fields[0].values[0], Math.max(...max));
});

test('every aggregation of a counter per bucket, checked against the per-second rows in SQL mode', async () => {
  const series = await query({
    dataType: 'application',
    interval: '1s',
    step: 60,
    filters: demoOnly,
    tapSide: ['local'],
    metrics: ['sum', 'rate', 'avg', 'min', 'max'].map((aggregation) => ({ metric: 'request', aggregation })),
  });
  const values = (name: string): number[] => series[0].fields.find((f) => f.name === name)?.values as number[];
  const independent = await call('POST', '/api/v1/sql', {
    sql: `SELECT toUnixTimestamp(toStartOfInterval(time, INTERVAL 60 SECOND)) * 1000 AS t, sum(n) AS total, min(n) AS least, max(n) AS most
          FROM (SELECT time, sum(request) AS n FROM flow_metrics.application_1s WHERE host = 'demo' AND tap_side = 'local' GROUP BY time)
          GROUP BY t ORDER BY t`,
    ...ALL_TIME,
  });
  const [t, total, least, most] = (independent.json.frames as Frame[])[0].fields.map((f) => f.values as number[]);
  assert.deepEqual(series[0].fields[0].values, t);
  assert.deepEqual(values('request'), total);
  assert.deepEqual(values('request_rate'), total.map((n) => n / 60));
  assert.deepEqual(values('request_avg'), total.map((n) => n / 60), 'mean per second over the whole minute');
  assert.deepEqual(values('request_min'), least);
  assert.deepEqual(values('request_max'), most);
});

test('request log aggregates: counts with conditions, exact quantiles and extremes', async () => {
  const [r] = await table({
    dataType: 'l7_flow_log',
    filters: [...demoOnly, { tag: 'tap_side', op: '=', value: 'local' }],
    metrics: [
      { metric: 'log_count' },
      { metric: 'error_count' },
      { metric: 'timeout_count' },
      ...['avg', 'min', 'max', 'p50', 'p99'].map((aggregation) => ({ metric: 'response_duration', aggregation })),
    ],
  });
  const errors = Object.values(http.by_address).reduce((n, a) => n + (a.responses_by_status['404'] ?? 0) + (a.responses_by_status['500'] ?? 0), 0) + 6;
  assert.equal(r.log_count, http.requests + redis.requests);
  assert.equal(r.error_count, errors, 'HTTP 404/500 and the six Redis errors');
  assert.equal(r.timeout_count, 0);
  const sql = await call('POST', '/api/v1/sql', {
    sql: "SELECT avg(response_duration) AS a, min(response_duration) AS lo, max(response_duration) AS hi, quantile(0.5)(response_duration) AS p50 FROM flow_log.l7_flow_log WHERE host = 'demo' AND tap_side = 'local' AND type = 'session'",
    ...ALL_TIME,
  });
  const [a, lo, hi, p50] = (sql.json.frames as Frame[])[0].fields.map((f) => f.values[0] as number);
  assert.equal(r.response_duration, a, "avg is the default, named after the metric");
  assert.equal(r.response_duration_min, lo);
  assert.equal(r.response_duration_max, hi);
  assert.equal(r.response_duration_p50, p50);
  assert.ok((r.response_duration_p99 as number) <= hi && (r.response_duration_p99 as number) >= p50);
});

test('response times against tshark: average to the µs, percentile inside its histogram bucket', { skip: corpus ? false : CORPUS_MISSING }, async () => {
  const oracle = JSON.parse(readFileSync(join(corpus as string, ZEEK_HTTP + '.oracle.json'), 'utf8')) as Oracle & {
    l7: { http: { response_time_s: { avg: number; p50: number; max: number; count: number } } };
  };
  const rt = oracle.l7.http.response_time_s;
  const [r] = await table({
    dataType: 'application',
    filters: [{ tag: 'host', op: '=', value: 'zeek' }],
    metrics: [{ metric: 'response' }, { metric: 'rrt' }, { metric: 'rrt', aggregation: 'max' }, { metric: 'rrt', aggregation: 'p50' }],
  });
  assert.equal(r.response, rt.count);
  assert.ok(Math.abs((r.rrt as number) - rt.avg * 1e6) < 0.01, `avg ${r.rrt} µs vs ${rt.avg * 1e6}`);
  assert.equal(r.rrt_max, Math.round(rt.max * 1e6));
  const p50 = r.rrt_p50 as number;
  const bucket = (us: number): number => Math.ceil(Math.log2(us + 1));
  assert.equal(bucket(p50), bucket(rt.p50 * 1e6), `p50 ${p50} µs vs ${rt.p50 * 1e6}`);
  // The SQL estimate is the JS one (histogram-quantile.ts) to the last digit.
  const hist = await store.query<{ h: Record<string, string> }>("SELECT sumMap(rrt_hist) AS h FROM flow_metrics.application_1m WHERE host = 'zeek'");
  assert.ok(Math.abs((histogramQuantile(hist[0].h, 0.5) as number) - p50) < 1e-9);
  const [exact] = await table({ dataType: 'l7_flow_log', filters: [{ tag: 'host', op: '=', value: 'zeek' }], metrics: [{ metric: 'response_duration', aggregation: 'max' }] });
  assert.equal(exact.response_duration_max, Math.round(rt.max * 1e6));
});

test('network metrics against tshark: packets, bytes, SYNs, retransmissions, zero windows', { skip: corpus ? false : CORPUS_MISSING }, async () => {
  for (const [name, host] of [[ZEEK_HTTP, 'zeek'], [RETRANS, 'retrans'], [ZERO_WINDOW, 'zerowin']]) {
    const o = JSON.parse(readFileSync(join(corpus as string, name + '.oracle.json'), 'utf8')) as Oracle;
    const [r] = await table({
      dataType: 'network_map',
      filters: [{ tag: 'host', op: '=', value: host }],
      metrics: ['packet', 'byte', 'syn_count', 'synack_count', 'rst_count', 'retrans', 'retrans_syn', 'retrans_synack', 'zero_win'].map((metric) => ({ metric })),
    });
    assert.equal(r.packet, o.capture.packets, `${name} packets`);
    assert.equal(r.byte, o.capture.bytes, `${name} bytes`);
    assert.equal(r.syn_count, o.tcp.syn, `${name} SYN`);
    assert.equal(r.synack_count, o.tcp.syn_ack, `${name} SYN-ACK`);
    assert.equal(r.rst_count, o.tcp.rst, `${name} RST`);
    assert.equal((r.retrans as number) + (r.retrans_syn as number) + (r.retrans_synack as number), o.tcp.analysis.retransmission ?? 0, `${name} retransmissions`);
    assert.equal(r.zero_win, o.tcp.analysis.zero_window ?? 0, `${name} zero window`);
    const flows = await query({ dataType: 'l4_flow_log', filters: [{ tag: 'host', op: '=', value: host }, { tag: 'is_closed', op: '=', value: 1 }], limit: 1000 });
    assert.equal(flows[0].fields[0].values.length, o.flows.tcp, `${name} flows in the flow log`);
  }
});

test('every filter operator on the request log, counted against the workload', async () => {
  const count = async (filters: Record<string, unknown>[]): Promise<number> => {
    const [r] = await table({ dataType: 'l7_flow_log', filters: [...demoOnly, { tag: 'tap_side', op: '=', value: 'local' }, ...filters], metrics: [{ metric: 'log_count' }] });
    return r.log_count as number;
  };
  const status = http.by_address['127.0.0.1'].responses_by_status;
  const all = http.requests + redis.requests;
  assert.equal(await count([{ tag: 'response_code', op: '=', value: 404 }]), 10);
  assert.equal(await count([{ tag: 'response_code', op: 'in', values: [404, 500] }]), 15);
  assert.equal(await count([{ tag: 'l7_protocol', op: '=', value: 'http1' }, { tag: 'response_code', op: '!=', value: 200 }]), 15);
  assert.equal(await count([{ tag: 'l7_protocol', op: 'not in', values: ['http1'] }]), redis.requests);
  assert.equal(await count([{ tag: 'service_1', op: 'like', value: '127.0.0.1:18%' }]), http.by_address['127.0.0.1'].requests);
  assert.equal(await count([{ tag: 'service_1', op: 'not like', value: '%16379' }]), http.requests);
  assert.equal(await count([{ tag: 'service_1', op: 'regex', value: '^\\[::1\\]' }]), http.by_address['::1'].requests);
  assert.equal(await count([{ tag: 'port_1', op: 'not regex', value: '^18' }]), redis.requests);
  assert.equal(await count([{ tag: 'service_1', op: '=', value: '127.0.0.1:18080' }, { tag: 'response_code', op: '=', value: 500 }]), status['500']);
  assert.equal(await count([]), all);
  // Values are parameters: a quote or a comment in them finds nothing and breaks nothing.
  assert.equal(await count([{ tag: 'service_1', op: '=', value: "x' OR '1'='1" }]), 0);
  assert.equal(await count([{ tag: 'service_1', op: 'in', values: ["') OR 1=1 --", '127.0.0.1:16379'] }]), redis.requests);
});

test('request log rows come newest first with a level and a body', async () => {
  const [frame] = await query({ dataType: 'l7_flow_log', filters: [...demoOnly, { tag: 'response_code', op: '=', value: 500 }], limit: 100 });
  assert.equal(frame.meta?.preferredVisualisationType, 'logs');
  const times = frame.fields.find((f) => f.name === 'time')?.values as number[];
  assert.equal(times.length, http.by_address['127.0.0.1'].responses_by_status['500'] + http.by_address['::1'].responses_by_status['500']);
  assert.deepEqual([...times].sort((a, b) => b - a), times);
  assert.ok((frame.fields.find((f) => f.name === 'level')?.values as string[]).every((l) => l === 'error'));
  assert.match((frame.fields.find((f) => f.name === 'body')?.values as string[])[0], /^http1 GET .* → server_error 500/);
});

test('SQL mode: macros, time series by text columns, and a row cap', async () => {
  const res = await call('POST', '/api/v1/sql', {
    sql: "SELECT $__timeInterval(time) AS t, l7_protocol, sum(request) AS requests FROM flow_metrics.application_map_1s WHERE $__timeFilter(time) AND host = 'demo' AND tap_side = 'local' GROUP BY t, l7_protocol ORDER BY t",
    ...ALL_TIME,
    intervalSeconds: 86_400,
    format: 'time_series',
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const frames = res.json.frames as Frame[];
  const byProtocol = Object.fromEntries(frames.map((f) => [f.fields[1].labels?.l7_protocol, f.fields[1].values.reduce((a, b) => (a as number) + (b as number), 0)]));
  assert.deepEqual(byProtocol, { http1: http.requests, redis: redis.requests });
  assert.equal(frames[0].fields[0].type, 'time');
  const capped = new QueryService(store, { version: 'test', maxSqlRows: 3 });
  const big = await capped.sql({ sql: 'SELECT flow_id FROM flow_log.l7_flow_log', ...ALL_TIME });
  assert.equal(big.frames[0].fields[0].values.length, 3);
  assert.match(big.frames[0].meta?.notices?.[0].text ?? '', /only the first 3 rows/);
});

test('SQL mode refuses writes, other databases, system tables, table functions and several statements', async () => {
  const refused: [string, RegExp][] = [
    ['INSERT INTO flow_log.l7_flow_log (host) VALUES (1)', /only SELECT statements are allowed, this is INSERT/],
    ['DROP TABLE flow_log.l7_flow_log', /this is DROP/],
    ['ALTER TABLE flow_log.l7_flow_log DELETE WHERE 1', /only SELECT/],
    ['TRUNCATE TABLE flow_log.l7_flow_log', /only SELECT/],
    ['CREATE TABLE flow_log.x (a UInt8) ENGINE = Memory', /only SELECT/],
    ['SELECT * FROM system.tables', /system tables are not readable/],
    ['SELECT name FROM system.databases', /system tables/],
    ['SELECT * FROM information_schema.tables', /system tables/],
    ['SELECT * FROM default.t', /only the databases flow_metrics and flow_log are readable, not default/],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", /table functions are not allowed \(file\)/],
    ["SELECT * FROM url('http://127.0.0.1:1/', 'CSV')", /table functions are not allowed \(url\)/],
    ["SELECT * FROM remote('127.0.0.1', system.one)", /table functions are not allowed \(remote\)/],
    ['SELECT * FROM numbers(10)', /table functions/],
    ['SELECT 1; SELECT 2', /only one statement/],
    ['SELECT 1; DROP TABLE flow_log.l7_flow_log', /only one statement/],
    ['SELECT count() FROM flow_log.l7_flow_log WHERE 1 IN (SELECT dummy FROM system.one)', /system tables/],
    ['WITH x AS (SELECT * FROM system.one) SELECT * FROM x', /system tables/],
    ["SELECT dictGet('d', 'a', 1)", /dictGet is not allowed/],
    ['SELECT 1 SETTINGS readonly = 0', /SETTINGS clauses are not allowed/],
    ['SELEC 1', /Syntax error: failed at position 7/],
  ];
  for (const [sql, message] of refused) {
    const res = await call('POST', '/api/v1/sql', { sql, ...ALL_TIME });
    assert.equal(res.status, 400, sql);
    assert.match(String(res.json.error), message, sql);
  }
  const [still] = await table({ dataType: 'l7_flow_log', filters: demoOnly, metrics: [{ metric: 'log_count' }] });
  assert.ok((still.log_count as number) > 0, 'nothing was dropped or deleted');
});

test('discovery for editors and variables: tables, metrics with units, tags, values by prefix', async () => {
  const tables = (await call('GET', '/api/v1/tables')).json as unknown as { name: string }[];
  assert.deepEqual(
    tables.map((t) => t.name),
    ['application', 'application_map', 'network', 'network_map', 'l7_flow_log', 'l4_flow_log'],
  );
  const metrics = (await call('GET', '/api/v1/tables/application/metrics')).json as unknown as { name: string; unit: string; aggregations: string[] }[];
  assert.deepEqual(metrics.find((m) => m.name === 'rrt'), { name: 'rrt', unit: 'µs', description: 'response time: response − its request', aggregations: ['avg', 'max', 'p50', 'p90', 'p95', 'p99'] });
  const tags = (await call('GET', '/api/v1/tables/network/tags')).json as unknown as { name: string }[];
  assert.ok(['tap_side', 'service', 'server_port', 'role'].every((t) => tags.some((x) => x.name === t)));
  const values = await call('GET', `/api/v1/tables/application/tags/service/values?prefix=127.&from=${ALL_TIME.from}&to=${ALL_TIME.to}`);
  assert.deepEqual(values.json, ['127.0.0.1:16379', '127.0.0.1:18080']);
  const structured = { dataType: 'application', ...ALL_TIME, interval: '1m', format: 'table', groupBy: ['service'], filters: demoOnly, tapSide: ['local'], metrics: [{ metric: 'request' }] };
  const sql = await call('POST', '/api/v1/query/sql', structured);
  assert.match(String(sql.json.sql), /^SELECT .* sum\(`request`\) AS `__m0`/);
  // Its runnable form gives SQL mode the same answer.
  const viaSql = await call('POST', '/api/v1/sql', { sql: String(sql.json.runnable), ...ALL_TIME });
  assert.equal(viaSql.status, 200, JSON.stringify(viaSql.json));
  const direct = await table(structured);
  const frame = (viaSql.json.frames as Frame[])[0];
  assert.deepEqual(
    rows(frame).map((r) => [r.service, Number(r.__m0)]),
    direct.map((r) => [r.service, r.request]),
  );
});

test('service map of the demo: one edge per client → server pair, RED as the workload, Node Graph frames', async () => {
  const res = await call('POST', '/api/v1/map', { ...ALL_TIME, level: 'service', filters: demoOnly });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const [nodes, edges] = res.json.frames as Frame[];
  const e = rows(edges);
  const seconds = (ALL_TIME.to - ALL_TIME.from) / 1000;
  const requests = Object.fromEntries(e.map((x) => [`${x.source} -> ${x.target}`, Math.round((x.mainstat as number) * seconds)]));
  assert.deepEqual(requests, {
    '127.0.0.1 -> 127.0.0.1:16379': redis.requests,
    '127.0.0.1 -> 127.0.0.1:18080': http.by_address['127.0.0.1'].requests,
    '::1 -> [::1]:18080': http.by_address['::1'].requests,
    // Connections refused by a closed port: an edge without requests, with its failures.
    '127.0.0.1 -> 127.0.0.1:18099': 0,
  });
  assert.equal(e.find((x) => x.target === '127.0.0.1:18099')?.detail__connection_failures, workload.refused[0].connection_attempts);
  assert.ok(e.every((x) => x.detail__tap_side === 'local'));
  const n = rows(nodes);
  assert.deepEqual(n.filter((x) => x.subtitle === 'external client').map((x) => x.id).sort(), ['127.0.0.1', '::1']);
  const web = n.find((x) => x.id === '127.0.0.1:18080');
  const s = http.by_address['127.0.0.1'].responses_by_status;
  assert.equal(web?.detail__server_error_ratio, (s['404'] + s['500']) / http.by_address['127.0.0.1'].requests);
  const bad = await call('POST', '/api/v1/map', { ...ALL_TIME, level: 'galaxy' });
  assert.equal(bad.status, 400);
});

test('HTTP: 400 with a message for bad input, 404 for unknown routes, 401 without the token', async () => {
  const bad = await call('POST', '/api/v1/query', '{"dataType": ');
  assert.equal(bad.status, 400);
  assert.match(String(bad.json.error), /JSON/);
  const unknownTag = await call('POST', '/api/v1/query', { dataType: 'application', ...ALL_TIME, metrics: [{ metric: 'request' }], groupBy: ['nope'] });
  assert.equal(unknownTag.status, 400);
  assert.match(String(unknownTag.json.error), /no tag "nope"/);
  assert.equal((await call('GET', '/api/v1/nowhere')).status, 404);
  const guarded = buildApiServer(service, { token: 's3cret' });
  assert.equal((await guarded.inject({ method: 'GET', url: '/api/v1/health' })).statusCode, 401);
  assert.equal((await guarded.inject({ method: 'GET', url: '/api/v1/health', headers: { authorization: 'Bearer nope' } })).statusCode, 401);
  const ok = await guarded.inject({ method: 'GET', url: '/api/v1/health', headers: { authorization: 'Bearer s3cret' } });
  assert.equal(ok.statusCode, 200);
  const health = ok.json() as { version: string; newest: Record<string, number | null> };
  assert.equal(health.version, 'test');
  assert.ok((health.newest.application ?? 0) > 0);
});

test('a store that cannot be reached is a 503, not a crash', async () => {
  const down: Store = {
    description: 'down',
    exec: async () => undefined,
    insert: async () => undefined,
    query: async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
    },
    close: async () => undefined,
  };
  const app = buildApiServer(new QueryService(down, { version: 'x' }));
  const res = await app.inject({ method: 'POST', url: '/api/v1/query', payload: { dataType: 'application', ...ALL_TIME, metrics: [{ metric: 'request' }] } });
  assert.equal(res.statusCode, 503);
  assert.match((res.json() as { error: string }).error, /not reachable: connect ECONNREFUSED/);
});
