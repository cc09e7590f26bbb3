/**
 * Spans through the capture paths' writer: request-log rows and per-second RED rows, counted in
 * the second each span ended whatever order they arrive in; spans too old or too far ahead are
 * rejected rather than sent to the store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RowCollector } from '../store/row-collector';
import { AttributeValue, DecodedTraces, OtelSpan } from './otlp-decode';
import { SpanIngest, SpanWriter } from './span-ingest';

class CollectingWriter extends RowCollector implements SpanWriter {
  flushes = 0;
  backlogged = false;
  async flush(): Promise<void> {
    this.flushes++;
  }
}

const NOW_MS = 1_700_000_100_000;
const SECOND = 1_700_000_050; // well inside the accepted window

function span(id: number, kind: number, startUs: number, durationUs: number, attributes: Record<string, AttributeValue> = {}, statusCode = 0): OtelSpan {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: id.toString(16).padStart(16, '0'),
    parentSpanId: '',
    name: `span ${id}`,
    kind,
    startNs: BigInt(startUs) * 1000n,
    endNs: BigInt(startUs + durationUs) * 1000n,
    attributes: new Map(Object.entries(attributes)),
    statusCode,
    statusMessage: '',
  };
}

function traces(spans: OtelSpan[], rejected: [string, number][] = []): DecodedTraces {
  return { groups: [{ resource: new Map([['service.name', 'api']]), scope: 'test', spans }], rejected: new Map(rejected) };
}

const http = { 'http.request.method': 'GET', 'http.route': '/users', 'server.port': 8080 };

test('spans become request-log rows and per-second RED rows, in the second they ended', async () => {
  const writer = new CollectingWriter();
  const ingest = new SpanIngest(writer, { host: 'node-1', now: () => NOW_MS, flushIntervalMs: 60_000 });
  const t0 = SECOND * 1e6;
  // Out of order on purpose: the later second first, then two spans ending in the same second.
  const result = ingest.ingest(
    traces([
      span(3, 3, t0 + 900_000, 400_000, { ...http, 'server.address': 'users', 'http.response.status_code': 200 }),
      span(1, 2, t0 + 100_000, 20_000, { ...http, 'http.response.status_code': 200 }),
      span(2, 2, t0 + 200_000, 35_500, { ...http, 'http.response.status_code': 503 }, 2),
    ], [['invalid span id', 2]]),
  );
  assert.deepEqual(result, { accepted: 3, rejected: 2, message: '2 spans rejected: invalid span id (2)' });

  const log = writer.rows<Record<string, unknown>>('l7_flow_log');
  assert.deepEqual(
    log.map((r) => [r.span_id, r.time, r.tap_side, r.signal_source, r.host, r.type, r.response_duration, r.response_status, r.service_1, r.endpoint]),
    [
      ['0000000000000001', SECOND, 's-app', 'otel', 'node-1', 'session', 20_000, 'ok', 'api', '/users'],
      ['0000000000000002', SECOND, 's-app', 'otel', 'node-1', 'session', 35_500, 'server_error', 'api', '/users'],
      ['0000000000000003', SECOND + 1, 'c-app', 'otel', 'node-1', 'session', 400_000, 'ok', 'users:8080', '/users'],
    ],
  );
  const red = writer.rows<Record<string, unknown>>('application_map_1s');
  assert.deepEqual(
    red.map((r) => [r.time, r.tap_side, r.service_0, r.service_1, r.request, r.response, r.error, r.server_error, r.rrt_sum, r.rrt_count, r.rrt_max]),
    [
      [SECOND, 's-app', '', 'api', 2, 2, 1, 1, 55_500, 2, 35_500],
      [SECOND + 1, 'c-app', 'api', 'users:8080', 1, 1, undefined, undefined, 400_000, 1, 400_000],
    ],
  );
  assert.equal(writer.flushes, 0, 'rows wait for the next flush, not one insert per export');
  await ingest.flush();
  assert.equal(writer.flushes, 1);
  assert.deepEqual(ingest.stats, { accepted: 3, rejected: 2 });
});

test('spans more than 3 days old or over an hour ahead are rejected: their times would pick the partitions written', () => {
  const writer = new CollectingWriter();
  const ingest = new SpanIngest(writer, { host: 'h', now: () => NOW_MS });
  const nowUs = NOW_MS * 1000;
  const result = ingest.ingest(
    traces([
      span(1, 2, nowUs - 4 * 86_400e6, 1000),
      span(2, 2, nowUs + 2 * 3600e6, 1000),
      span(3, 2, 1_000_000, 1000),
      span(4, 2, nowUs - 2 * 86_400e6, 1000),
      span(5, 2, nowUs + 30 * 60e6, 1000),
    ]),
  );
  assert.deepEqual(result, { accepted: 2, rejected: 3, message: '3 spans rejected: time more than 3 days old or 1 hour ahead (3)' });
  assert.equal(writer.rows('l7_flow_log').length, 2);
});
