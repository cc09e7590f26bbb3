/**
 * The real OpenTelemetry JS SDK sends known spans to the receiver over HTTP — once with its
 * OTLP/HTTP protobuf exporter (gzip), once with its JSON exporter — into a fresh embedded
 * ClickHouse; the rows are read back from the request log (SQL) and the per-minute application
 * table (through the query API).
 *
 * The oracle is the test's own table of spans (kind → tap_side per SPEC §1, expected status per
 * SPEC §4) and the SDK's record of what it sent: ids, kinds and durations come from an in-memory
 * exporter on the same tracer providers, not from constants the mapping also used.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { context, HrTime, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor, SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { buildApiServer } from '../query/api-server';
import { Frame } from '../query/frames';
import { QueryService } from '../query/query-service';
import { ChdbStore } from '../store/chdb-store';
import { migrate } from '../store/store';
import { OtlpReceiver, startOtlpReceiver } from './otlp-receiver';

type Expected = 'ok' | 'client_error' | 'server_error';

interface SpanPlan {
  service: 'checkout' | 'catalog';
  name: string;
  kind: SpanKind;
  /** Offset of the start from the run's base time, and duration, in µs (sub-ms on purpose). */
  startUs: number;
  durationUs: number;
  attributes: Record<string, string | number>;
  error?: boolean;
  expect: Expected;
  /** Index of the plan entry whose span is the parent. */
  parent?: number;
}

const TAP_SIDE_OF_KIND: Record<SpanKind, string> = {
  [SpanKind.SERVER]: 's-app',
  [SpanKind.CONSUMER]: 's-app',
  [SpanKind.CLIENT]: 'c-app',
  [SpanKind.PRODUCER]: 'c-app',
  [SpanKind.INTERNAL]: 'app',
};

/** Checkout speaks the current semantic conventions, catalog the older ones. */
function plan(): SpanPlan[] {
  const spans: SpanPlan[] = [];
  const checkoutCodes = [200, 200, 201, 404, 500, 200, 0, 503];
  checkoutCodes.forEach((code, i) => {
    const attributes: Record<string, string | number> = { 'http.request.method': 'GET', 'http.route': '/orders/:id', 'url.path': `/orders/${i}`, 'server.port': 8080, 'client.address': '10.0.0.9' };
    if (code) attributes['http.response.status_code'] = code;
    spans.push({
      service: 'checkout',
      name: 'GET /orders/:id',
      kind: SpanKind.SERVER,
      startUs: i * 1_000_000,
      durationUs: 7_300 * (i + 1) + 123,
      attributes,
      error: code >= 500 || code === 0,
      expect: code >= 500 || code === 0 ? 'server_error' : code >= 400 ? 'client_error' : 'ok',
    });
  });
  [200, 200, 502].forEach((code, i) =>
    spans.push({
      service: 'checkout',
      name: 'GET',
      kind: SpanKind.CLIENT,
      startUs: 1_000 + i * 1_000_000,
      durationUs: 2_500 + 311 * i,
      attributes: { 'http.request.method': 'GET', 'url.full': `http://catalog:9090/items/${i}`, 'server.address': 'catalog', 'server.port': 9090, 'http.response.status_code': code },
      error: code >= 500,
      expect: code >= 500 ? 'server_error' : 'ok',
      parent: i,
    }),
  );
  spans.push({ service: 'checkout', name: 'render receipt', kind: SpanKind.INTERNAL, startUs: 50_000, durationUs: 901, attributes: {}, expect: 'ok', parent: 0 });
  spans.push({ service: 'checkout', name: 'orders publish', kind: SpanKind.PRODUCER, startUs: 60_000, durationUs: 1_234, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' }, expect: 'ok' });
  [200, 200, 200, 200, 502].forEach((code, i) =>
    spans.push({
      service: 'catalog',
      name: 'GET /items',
      kind: SpanKind.SERVER,
      startUs: 2_000 + i * 1_000_000,
      durationUs: 1_900 + 77 * i,
      attributes: { 'http.method': 'GET', 'http.target': `/items/${i}?full=1`, 'http.status_code': code, 'net.host.port': 9090 },
      expect: code >= 500 ? 'server_error' : 'ok',
    }),
  );
  [0, 14].forEach((grpcStatus, i) =>
    spans.push({
      service: 'catalog',
      name: 'catalog.Stock/Check',
      kind: SpanKind.SERVER,
      startUs: 3_000 + i * 1_000_000,
      durationUs: 640 + i,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': 'catalog.Stock', 'rpc.method': 'Check', 'rpc.grpc.status_code': grpcStatus },
      error: grpcStatus !== 0,
      expect: grpcStatus === 0 ? 'ok' : 'server_error',
    }),
  );
  spans.push({ service: 'catalog', name: 'orders process', kind: SpanKind.CONSUMER, startUs: 70_000, durationUs: 3_333, attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' }, expect: 'ok' });
  spans.push({ service: 'catalog', name: 'GET', kind: SpanKind.CLIENT, startUs: 80_000, durationUs: 150, attributes: { 'db.system': 'redis', 'db.statement': 'GET item:1' }, expect: 'ok' });
  return spans;
}

const hr = (us: number): HrTime => [Math.floor(us / 1e6), (us % 1e6) * 1000];
const durationUs = (d: HrTime): number => d[0] * 1_000_000 + Math.floor(d[1] / 1000);

/** The test application: two services' tracer providers, each with the OTLP exporter and an in-memory copy. */
async function sendKnownSpans(exporterFor: () => SpanExporter, baseUs: number): Promise<{ spans: ReadableSpan[]; plans: Map<string, SpanPlan> }> {
  const memory = new InMemorySpanExporter();
  const providers = Object.fromEntries(
    (['checkout', 'catalog'] as const).map((service) => [
      service,
      new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'process.pid': service === 'checkout' ? 1111 : 2222 }),
        spanProcessors: [new BatchSpanProcessor({ exporter: exporterFor(), scheduledDelayMillis: 60_000 }), new SimpleSpanProcessor({ exporter: memory })],
      }),
    ]),
  ) as Record<'checkout' | 'catalog', TracerProvider>;
  const plans = new Map<string, SpanPlan>();
  const started: ReturnType<ReturnType<TracerProvider['getTracer']>['startSpan']>[] = [];
  for (const p of plan()) {
    const parent = p.parent === undefined ? context.active() : trace.setSpan(context.active(), started[p.parent]);
    const span = providers[p.service].getTracer('metaflow-test').startSpan(p.name, { kind: p.kind, startTime: hr(baseUs + p.startUs), attributes: p.attributes }, parent);
    if (p.error) span.setStatus({ code: SpanStatusCode.ERROR, message: `${p.name} failed` });
    started.push(span);
    plans.set(span.spanContext().spanId, p);
  }
  // Ended after all started, so parents exist when children start; times are explicit.
  plan().forEach((p, i) => started[i].end(hr(baseUs + p.startUs + p.durationUs)));
  for (const provider of Object.values(providers)) await provider.forceFlush();
  const spans = [...memory.getFinishedSpans()];
  // Shutting down also empties the shared in-memory exporter: read it first.
  for (const provider of Object.values(providers)) await provider.shutdown();
  return { spans, plans };
}

let dir: string;
let store: ChdbStore;
const receivers: OtlpReceiver[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'metaflow-otel-'));
  store = new ChdbStore(dir);
  await migrate(store);
});

after(async () => {
  for (const r of receivers) await r.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ALL_TIME = { from: 0, to: 4_102_444_800_000 };
/** The exporter's compression enum, named without importing its package (not a dependency of ours). */
const GZIP = 'gzip' as NonNullable<NonNullable<ConstructorParameters<typeof ProtoExporter>[0]>['compression']>;

async function applicationTable(host: string, groupBy: string[]): Promise<Record<string, unknown>[]> {
  const app = buildApiServer(new QueryService(store, { version: 'test' }));
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/query',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({
      dataType: 'application',
      ...ALL_TIME,
      interval: '1m',
      format: 'table',
      groupBy,
      filters: [{ tag: 'host', op: '=', value: host }],
      metrics: [{ metric: 'request' }, { metric: 'response' }, { metric: 'error' }, { metric: 'client_error' }, { metric: 'server_error' }, { metric: 'rrt' }, { metric: 'rrt', aggregation: 'max' }],
    }),
  });
  assert.equal(res.statusCode, 200, res.body);
  const [frame] = res.json<{ frames: Frame[] }>().frames;
  const n = frame.fields[0]?.values.length ?? 0;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(frame.fields.map((f) => [f.name, f.values[i]])));
}

interface LogRow {
  span_id: string;
  trace_id: string;
  parent_span_id: string;
  tap_side: string;
  signal_source: string;
  l7_protocol: string;
  response_duration: string;
  response_status: string;
  service_0: string;
  service_1: string;
  pid_0: number;
  pid_1: number;
  endpoint: string;
}

async function runAndCheck(host: string, exporterFor: (url: string) => SpanExporter): Promise<void> {
  const receiver = await startOtlpReceiver(store, { port: 0, agentHost: host, onLog: (l) => assert.fail(l) });
  receivers.push(receiver);
  const baseUs = (Date.now() - 10 * 60_000) * 1000 + 123;
  const { spans, plans } = await sendKnownSpans(() => exporterFor(`${receiver.url}/v1/traces`), baseUs);
  assert.equal(spans.length, plan().length, 'the SDK recorded every span');
  assert.equal(receiver.ingest.stats.accepted, spans.length, 'the receiver accepted every span');
  await receiver.ingest.flush();

  // The request log, row by row against the SDK's record of each span.
  const rows = await store.query<LogRow>(
    `SELECT span_id, trace_id, parent_span_id, tap_side, signal_source, l7_protocol, response_duration, response_status, service_0, service_1, pid_0, pid_1, endpoint
     FROM flow_log.l7_flow_log WHERE host = {host:String}`,
    { host },
  );
  assert.equal(rows.length, spans.length);
  const bySpan = new Map(rows.map((r) => [r.span_id, r]));
  for (const s of spans) {
    const p = plans.get(s.spanContext().spanId) as SpanPlan;
    const row = bySpan.get(s.spanContext().spanId);
    assert.ok(row, `span ${s.name} stored`);
    const side = TAP_SIDE_OF_KIND[s.kind];
    const appSide = side === 'c-app' ? 'service_0' : 'service_1';
    assert.deepEqual(
      { tap: row.tap_side, src: row.signal_source, trace: row.trace_id, parent: row.parent_span_id, us: Number(row.response_duration), status: row.response_status, service: row[appSide], pid: side === 'c-app' ? row.pid_0 : row.pid_1 },
      {
        tap: side,
        src: 'otel',
        trace: s.spanContext().traceId,
        parent: s.parentSpanContext?.spanId ?? '',
        us: durationUs(s.duration),
        status: p.expect,
        service: p.service,
        pid: p.service === 'checkout' ? 1111 : 2222,
      },
      `span ${s.name} (${s.spanContext().spanId})`,
    );
  }
  const protocols = rows.reduce<Record<string, number>>((m, r) => ({ ...m, [r.l7_protocol]: (m[r.l7_protocol] ?? 0) + 1 }), {});
  assert.deepEqual(protocols, { http1: 16, grpc: 2, kafka: 2, redis: 1, '': 1 });

  // The per-minute application table through the query API: per tap_side and per service.
  const expected = new Map<string, { request: number; error: number; client_error: number; server_error: number; sum: number; max: number }>();
  for (const s of spans) {
    const p = plans.get(s.spanContext().spanId) as SpanPlan;
    const side = TAP_SIDE_OF_KIND[s.kind];
    const e = expected.get(side) ?? { request: 0, error: 0, client_error: 0, server_error: 0, sum: 0, max: 0 };
    const us = durationUs(s.duration);
    e.request++;
    if (p.expect !== 'ok') e.error++;
    if (p.expect === 'client_error') e.client_error++;
    if (p.expect === 'server_error') e.server_error++;
    e.sum += us;
    e.max = Math.max(e.max, us);
    expected.set(side, e);
  }
  const red = await applicationTable(host, ['tap_side']);
  assert.deepEqual(
    Object.fromEntries(red.map((r) => [r.tap_side, { request: r.request, response: r.response, error: r.error, client_error: r.client_error, server_error: r.server_error, max: r.rrt_max }])),
    Object.fromEntries([...expected].map(([side, e]) => [side, { request: e.request, response: e.request, error: e.error, client_error: e.client_error, server_error: e.server_error, max: e.max }])),
  );
  for (const r of red) {
    const e = expected.get(String(r.tap_side)) as { request: number; sum: number };
    assert.ok(Math.abs((r.rrt as number) - e.sum / e.request) < 1e-6, `${r.tap_side}: average ${r.rrt} µs vs ${e.sum / e.request}`);
  }
  // Server side per service: checkout's 8 requests with 1 client and 3 server errors, catalog's 5 + 2 + 1.
  const serverSide = (await applicationTable(host, ['tap_side', 'service', 'endpoint'])).filter((r) => r.tap_side === 's-app');
  assert.deepEqual(
    serverSide.map((r) => [r.service, r.endpoint, r.request, r.client_error, r.server_error]).sort(),
    [
      ['catalog', '/catalog.Stock/Check', 2, 0, 1],
      ['catalog', '/items/{id}', 5, 0, 1],
      ['catalog', 'orders', 1, 0, 0],
      ['checkout', '/orders/:id', 8, 1, 3],
    ],
  );
}

test('the OTLP/HTTP protobuf exporter (gzip): counts, kinds and durations arrive in the request log and application_1m', async () => {
  await runAndCheck('otel-proto', (url) => new ProtoExporter({ url, compression: GZIP }));
});

test('the OTLP/HTTP JSON exporter: the same spans arrive the same way', async () => {
  await runAndCheck('otel-json', (url) => new JsonExporter({ url }));
});

test('hostile text in spans is stored (escaped, clipped or dropped) without spoiling the batch it shares', async () => {
  const receiver = await startOtlpReceiver(store, { port: 0, agentHost: 'otel-hostile', onLog: (l) => assert.fail(l) });
  receivers.push(receiver);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const attr = (key: string, value: string | number): Record<string, unknown> => ({ key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } });
  const names = ['quote " and \\ backslash', 'line\nbreak\ttab\u0000nul', 'lone \ud800 surrogate', 'emoji 😀', 'x'.repeat(5000)];
  const spans = names.map((name, i) => ({
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name,
    kind: 3,
    startTimeUnixNano: String(nowNs - 1_000_000n),
    endTimeUnixNano: String(nowNs),
    attributes: [attr('http.request.method', name), attr('http.route', name), attr('server.address', name), attr('server.port', 99999), attr('http.response.status_code', 2 ** 40), attr('peer.service', name)],
  }));
  const body = JSON.stringify({ resourceSpans: [{ resource: { attributes: [attr('service.name', 'svc "\ud800"'), attr('process.pid', -5)] }, scopeSpans: [{ scope: { name: '\u0001' }, spans }] }] });
  const res = await fetch(`${receiver.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  await receiver.ingest.flush();
  const rows = await store.query<{ service_0: string; service_1: string; ip_1: string; port_1: number; endpoint: string; response_code: number; pid_0: number }>(
    "SELECT service_0, service_1, ip_1, port_1, endpoint, response_code, pid_0 FROM flow_log.l7_flow_log WHERE host = 'otel-hostile' ORDER BY span_id",
  );
  assert.equal(rows.length, names.length);
  assert.deepEqual(
    rows.map((r) => [r.service_0, r.ip_1, r.port_1, r.response_code, r.pid_0]),
    names.map(() => ['svc "\ufffd"', '', 0, 0, 0]),
  );
  assert.deepEqual(
    rows.map((r) => r.endpoint),
    ['quote " and \\ backslash', 'line\nbreak\ttab\u0000nul', 'lone \ufffd surrogate', 'emoji 😀', 'x'.repeat(1024)],
  );
  const red = await store.query<{ n: string }>("SELECT sum(request) AS n FROM flow_metrics.application_map_1s WHERE host = 'otel-hostile'");
  assert.equal(Number(red[0].n), names.length);
});
