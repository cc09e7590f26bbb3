/**
 * The OTLP/HTTP layer through fastify's inject: encodings in and out, partial success, gzip, the
 * body limit before and after decompression, content types, the token, backpressure, and bad
 * input of every kind answered with a google.rpc.Status — never a 500, never a crash.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { RowCollector } from '../store/row-collector';
import { decodeRpcStatusProto, decodeTraceResponseProto, encodeTraceRequestProto } from './otlp-proto';
import { buildOtlpServer, OtlpServerOptions } from './otlp-receiver';
import { SpanIngest, SpanWriter } from './span-ingest';

class CollectingWriter extends RowCollector implements SpanWriter {
  backlogged = false;
  async flush(): Promise<void> {}
}

function server(options: OtlpServerOptions = {}): { app: ReturnType<typeof buildOtlpServer>; writer: CollectingWriter } {
  const writer = new CollectingWriter();
  return { app: buildOtlpServer(new SpanIngest(writer, { host: 'test', flushIntervalMs: 60_000 }), options), writer };
}

const nowNs = BigInt(Date.now()) * 1_000_000n;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function jsonSpan(n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE,
    spanId: (n + 1).toString(16).padStart(16, '0'),
    name: `GET /items/${n}`,
    kind: 2,
    startTimeUnixNano: String(nowNs - 5_000_000n),
    endTimeUnixNano: String(nowNs),
    attributes: [{ key: 'http.request.method', value: { stringValue: 'GET' } }],
    ...overrides,
  };
}

function jsonRequest(spans: Record<string, unknown>[]): string {
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'items' } }] }, scopeSpans: [{ spans }] }] });
}

function protoRequest(spans: Record<string, unknown>[]): Buffer {
  return encodeTraceRequestProto({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'items' } }] },
        scopeSpans: [{ spans: spans.map((s) => ({ ...s, traceId: Buffer.from(String(s.traceId), 'hex'), spanId: Buffer.from(String(s.spanId), 'hex') })) }],
      },
    ],
  });
}

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_TYPE = { 'content-type': 'application/json' };

test('protobuf in, protobuf out: a full success is an empty ExportTraceServiceResponse', async () => {
  const { app, writer } = server();
  const res = await app.inject({ method: 'POST', url: '/v1/traces', headers: PROTO, payload: protoRequest([jsonSpan(1), jsonSpan(2)]) });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/x-protobuf');
  assert.equal(res.rawPayload.length, 0, 'partial_success unset');
  assert.equal(writer.rows('l7_flow_log').length, 2);
});

test('JSON in, JSON out, with a charset parameter; partial success names the rejected spans', async () => {
  const { app, writer } = server();
  const full = await app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: jsonRequest([jsonSpan(1)]) });
  assert.equal(full.statusCode, 200);
  assert.match(String(full.headers['content-type']), /^application\/json/);
  assert.deepEqual(full.json(), {});
  const partial = await app.inject({ method: 'POST', url: '/v1/traces', headers: JSON_TYPE, payload: jsonRequest([jsonSpan(2), jsonSpan(3, { spanId: 'xyz' }), jsonSpan(4, { endTimeUnixNano: '1' })]) });
  assert.equal(partial.statusCode, 200);
  assert.deepEqual(partial.json(), { partialSuccess: { rejectedSpans: '2', errorMessage: '2 spans rejected: invalid span id (1), end before start (1)' } });
  assert.equal(writer.rows('l7_flow_log').length, 2);
});

test('partial success in protobuf', async () => {
  const { app } = server();
  const res = await app.inject({ method: 'POST', url: '/v1/traces', headers: PROTO, payload: protoRequest([jsonSpan(1), jsonSpan(2, { spanId: '00' })]) });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(decodeTraceResponseProto(res.rawPayload), { partialSuccess: { rejectedSpans: 1, errorMessage: '1 span rejected: invalid span id (1)' } });
});

test('gzip bodies are inflated; gzip garbage is a 400; a gzip bomb stops at the limit with 413', async () => {
  const { app, writer } = server({ maxBodyBytes: 1 << 20 });
  const zipped = await app.inject({ method: 'POST', url: '/v1/traces', headers: { ...PROTO, 'content-encoding': 'gzip' }, payload: gzipSync(protoRequest([jsonSpan(1)])) });
  assert.equal(zipped.statusCode, 200);
  assert.equal(writer.rows('l7_flow_log').length, 1);

  const garbage = await app.inject({ method: 'POST', url: '/v1/traces', headers: { ...PROTO, 'content-encoding': 'gzip' }, payload: randomBytes(500) });
  assert.equal(garbage.statusCode, 400);
  const status = decodeRpcStatusProto(garbage.rawPayload);
  assert.equal(status.code, 3);
  assert.match(String(status.message), /not valid gzip/);

  const bomb = gzipSync(Buffer.alloc(64 << 20));
  assert.ok(bomb.length < 1 << 20, 'the compressed bomb itself is under the limit');
  const exploded = await app.inject({ method: 'POST', url: '/v1/traces', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, payload: bomb });
  assert.equal(exploded.statusCode, 413);
  assert.deepEqual(exploded.json(), { code: 8, message: `the decompressed body is larger than ${1 << 20} bytes` });
});

test('a body over the limit is refused with 413 before it is decoded', async () => {
  const { app } = server();
  const huge = await app.inject({ method: 'POST', url: '/v1/traces', headers: PROTO, payload: Buffer.alloc((20 << 20) + 1) });
  assert.equal(huge.statusCode, 413);
  assert.equal(decodeRpcStatusProto(huge.rawPayload).code, 8);
});

test('other content types and encodings get 415; other paths 404; a token is enforced when set', async () => {
  const { app } = server();
  for (const headers of [{ 'content-type': 'text/plain' }, {}, { 'content-type': 'application/grpc' }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/traces', headers, payload: 'x' });
    assert.equal(res.statusCode, 415, JSON.stringify(headers));
    assert.match(res.json<{ message: string }>().message, /send application\/x-protobuf or application\/json/);
  }
  const brotli = await app.inject({ method: 'POST', url: '/v1/traces', headers: { ...JSON_TYPE, 'content-encoding': 'br' }, payload: '{}' });
  assert.equal(brotli.statusCode, 415);
  assert.equal((await app.inject({ method: 'POST', url: '/v1/metrics', headers: JSON_TYPE, payload: '{}' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/traces' })).statusCode, 404);

  const guarded = server({ token: 's3cret' }).app;
  assert.equal((await guarded.inject({ method: 'POST', url: '/v1/traces', headers: JSON_TYPE, payload: '{}' })).statusCode, 401);
  assert.equal((await guarded.inject({ method: 'POST', url: '/v1/traces', headers: { ...JSON_TYPE, authorization: 'Bearer nope' }, payload: '{}' })).statusCode, 401);
  assert.equal((await guarded.inject({ method: 'POST', url: '/v1/traces', headers: { ...JSON_TYPE, authorization: 'Bearer s3cret' }, payload: '{}' })).statusCode, 200);
});

test('while the store is behind, senders are asked to retry (503, Retry-After)', async () => {
  const { app, writer } = server();
  writer.backlogged = true;
  const res = await app.inject({ method: 'POST', url: '/v1/traces', headers: PROTO, payload: protoRequest([jsonSpan(1)]) });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '5');
  assert.equal(decodeRpcStatusProto(res.rawPayload).code, 14);
  assert.equal(writer.rows('l7_flow_log').length, 0);
});

test('malformed requests get 400 with a google.rpc.Status in their encoding', async () => {
  const { app } = server();
  const good = protoRequest([jsonSpan(1)]);
  const cases: [Record<string, string>, Buffer | string][] = [
    [PROTO, good.subarray(0, good.length - 7)],
    [PROTO, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])],
    [JSON_TYPE, '{"resourceSpans": [ {'],
    [JSON_TYPE, '{"resourceSpans": "all of them"}'],
    [JSON_TYPE, ''],
  ];
  for (const [headers, payload] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/traces', headers, payload });
    assert.equal(res.statusCode, 400, String(payload));
    const status = headers === PROTO ? decodeRpcStatusProto(res.rawPayload) : res.json<{ code: number; message: string }>();
    assert.equal(status.code, 3);
    assert.ok(status.message && status.message.length > 0);
  }
});

test('fuzz: random and mutated bodies are answered with 200 or 400, never a server error', async () => {
  const { app } = server();
  const proto = protoRequest([jsonSpan(1), jsonSpan(2, { attributes: [{ key: 'k', value: { arrayValue: { values: [{ intValue: '5' }, { kvlistValue: { values: [] } }] } } }] })]);
  const json = Buffer.from(jsonRequest([jsonSpan(1), jsonSpan(2)]));
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const statuses = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const [headers, base] = i % 2 === 0 ? [PROTO, proto] : [JSON_TYPE, json];
    let payload: Buffer;
    if (i % 5 === 0) payload = randomBytes(random(300));
    else {
      payload = Buffer.from(base);
      for (let k = 0; k < 1 + random(4); k++) payload[random(payload.length)] = random(256);
      if (i % 7 === 0) payload = payload.subarray(0, random(payload.length));
    }
    const res = await app.inject({ method: 'POST', url: '/v1/traces', headers, payload });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    assert.ok(res.statusCode === 200 || res.statusCode === 400, `status ${res.statusCode} for ${payload.toString('hex')}`);
  }
  assert.ok((statuses.get(400) ?? 0) > 0 && (statuses.get(200) ?? 0) > 0, JSON.stringify([...statuses]));
});
