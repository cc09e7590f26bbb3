import { test } from 'node:test';
import assert from 'node:assert/strict';
import { http2Module } from './http2-parser';
import { feedInTwo, MutateOptions, mutate, Random } from '../../testing/fuzz';
import { L7Parser, L7Record } from '../l7-parser';
import { block, frame, PREFACE_BYTES, SETTINGS_ACK, SETTINGS_EMPTY } from './test-frames';

const HEADERS = 1;
const DATA = 0;
const RST = 3;
const PUSH = 5;
const PING = 6;
const GOAWAY = 7;
const WINDOW = 8;
const CONT = 9;
const ES = 0x1;
const EH = 0x4;

const req = (id: number, method: string, path: string, extra: [string, string][] = [], flags = EH | ES): Buffer =>
  frame(HEADERS, flags, id, block([[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'api.example'], ...extra]));
const resp = (id: number, status: number, extra: [string, string][] = [], flags = EH): Buffer => frame(HEADERS, flags, id, block([[':status', String(status)], ...extra]));
const data = (id: number, n: number, flags = 0): Buffer => frame(DATA, flags, id, Buffer.alloc(n, 0x61));

function run(client: Buffer[], server: Buffer[], order?: [0 | 1, number, number][]): { records: L7Record[]; parser: L7Parser } {
  const p = http2Module.create();
  const records: L7Record[] = [];
  const steps = order ?? [...client.map((_, i) => [0, i, 1000 + i * 10] as [0, number, number]), ...server.map((_, i) => [1, i, 5000 + i * 10] as [1, number, number])];
  for (const [d, i, ts] of steps) {
    p.feed(d, d === 0 ? client[i] : server[i], ts);
    records.push(...p.take());
  }
  return { records, parser: p };
}

test('request/response pair with prior knowledge', () => {
  const c = Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, req(1, 'GET', '/a/b/c?x=1', [['user-agent', 'ua'], ['cookie', 'secret']])]);
  const s = Buffer.concat([SETTINGS_EMPTY, SETTINGS_ACK, resp(1, 200), data(1, 10, ES)]);
  const p = http2Module.create();
  p.feed(0, c, 100);
  p.feed(1, s, 350);
  const [r, ...more] = p.take();
  assert.equal(more.length, 0);
  assert.equal(r.protocol, 'http2');
  assert.equal(r.version, '2');
  assert.equal(r.requestType, 'GET');
  assert.equal(r.requestDomain, 'api.example');
  assert.equal(r.requestResource, '/a/b/c?x=1');
  assert.equal(r.endpoint, '/a/b');
  assert.equal(r.requestId, 1);
  assert.equal(r.status, 'ok');
  assert.equal(r.responseCode, 200);
  assert.equal(r.requestTimeUs, 100);
  assert.equal(r.responseTimeUs, 350);
  assert.equal(r.countsAsRequest, true);
  assert.deepEqual(r.attributes, { 'user-agent': 'ua' });
  assert.equal(r.responseLength, resp(1, 200).length + data(1, 10).length);
});

test('split at every byte boundary gives the same record', () => {
  const c = Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, req(1, 'POST', '/x', [], EH), data(1, 5, ES)]);
  const s = Buffer.concat([SETTINGS_EMPTY, resp(1, 201), data(1, 7, ES)]);
  for (let cut = 1; cut < c.length; cut++) {
    const p = http2Module.create();
    feedInTwo(p, 0, c, cut, 1, 2);
    for (let k = 1; k < s.length; k += 3) {
      const q = http2Module.create();
      q.feed(0, c, 1);
      feedInTwo(q, 1, s, k, 3, 4);
      const rs = q.take();
      assert.equal(rs.length, 1);
      assert.equal(rs[0].responseCode, 201);
    }
    p.feed(1, s, 3);
    const rs = p.take();
    assert.equal(rs.length, 1, `cut ${cut}`);
    assert.equal(rs[0].requestType, 'POST');
    assert.equal(rs[0].requestResource, '/x');
    assert.equal(rs[0].requestTimeUs, cut <= PREFACE_BYTES.length + 9 + req(1, 'POST', '/x', [], EH).length - 1 ? 2 : 1);
  }
});

test('several streams in one feed, answered out of order', () => {
  const c = Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, req(1, 'GET', '/one'), req(3, 'GET', '/two'), req(5, 'DELETE', '/three')]);
  const s = Buffer.concat([resp(5, 204, [], EH | ES), resp(3, 404, [], EH), data(3, 3, ES), resp(1, 500, [], EH | ES)]);
  const { records } = run([c], [s]);
  assert.deepEqual(
    records.map((r) => [r.requestId, r.requestResource, r.responseCode, r.status]),
    [
      [5, '/three', 204, 'ok'],
      [3, '/two', 404, 'client_error'],
      [1, '/one', 500, 'server_error'],
    ],
  );
});

test('HPACK dynamic table across requests and SETTINGS_HEADER_TABLE_SIZE', () => {
  const first = frame(HEADERS, EH | ES, 1, block([[':method', 'GET'], [':path', '/idx'], [':authority', 'h.example']], { index: true, huffman: true }));
  // second request: three indexed dynamic references (62 newest = :authority)
  const second = frame(HEADERS, EH | ES, 3, block([64, 63, 62]));
  const settings = frame(4, 0, 0, '0001 00010000');
  const { records } = run([Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, first, second])], [Buffer.concat([settings, resp(1, 200, [], EH | ES), resp(3, 200, [], EH | ES)])]);
  assert.equal(records.length, 2);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.requestResource, r.requestDomain]),
    [
      ['GET', '/idx', 'h.example'],
      ['GET', '/idx', 'h.example'],
    ],
  );
});

test('HEADERS with padding and priority, CONTINUATION, interim 1xx', () => {
  const blk = block([[':method', 'PUT'], [':path', '/c'], [':authority', 'x'], ['x-request-id', 'rid-1']]);
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from('8000000310', 'hex'), blk.subarray(0, 5), Buffer.alloc(3)]);
  const c = Buffer.concat([PREFACE_BYTES, frame(HEADERS, 0x08 | 0x20 | ES, 1, padded), frame(CONT, 0, 1, blk.subarray(5, 9)), frame(CONT, EH, 1, blk.subarray(9))]);
  const s = Buffer.concat([resp(1, 100), resp(1, 200), frame(PING, 0, 0, '0000000000000000'), frame(WINDOW, 0, 0, '00001000'), data(1, 1, ES)]);
  const p = http2Module.create();
  p.feed(0, c, 10);
  p.feed(1, s.subarray(0, resp(1, 100).length), 20);
  assert.equal(p.take().length, 0);
  p.feed(1, s.subarray(resp(1, 100).length), 30);
  const [r] = p.take();
  assert.equal(r.requestType, 'PUT');
  assert.equal(r.xRequestId, 'rid-1');
  assert.equal(r.responseCode, 200);
  assert.equal(r.responseTimeUs, 30);
  assert.equal(r.requestTimeUs, 10);
});

test('gRPC: status from trailers, service and endpoint, trailers-only error', () => {
  const grpcReq = (id: number) => req(id, 'POST', '/pkg.Greeter/SayHello', [['content-type', 'application/grpc+proto'], ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']], EH);
  const c = Buffer.concat([PREFACE_BYTES, grpcReq(1), data(1, 5, ES), grpcReq(3), data(3, 5, ES)]);
  const s = Buffer.concat([
    resp(1, 200, [['content-type', 'application/grpc']]),
    data(1, 9),
    resp(1, 0, [], EH | ES).subarray(0, 0),
    frame(HEADERS, EH | ES, 1, block([['grpc-status', '0']])),
    frame(HEADERS, EH | ES, 3, block([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '14'], ['grpc-message', 'no%20backend']])),
  ]);
  const { records } = run([c], [s]);
  assert.equal(records.length, 2);
  const [ok, bad] = records;
  assert.equal(ok.protocol, 'grpc');
  assert.equal(ok.requestResource, 'pkg.Greeter');
  assert.equal(ok.endpoint, '/pkg.Greeter/SayHello');
  assert.equal(ok.status, 'ok');
  assert.equal(ok.responseCode, 0);
  assert.equal(ok.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(ok.spanId, 'b7ad6b7169203331');
  assert.equal(bad.status, 'server_error');
  assert.equal(bad.responseCode, 14);
  assert.equal(bad.responseException, 'no backend');
});

test('trace headers: b3, uber-trace-id, sw8', () => {
  const sw8 = `1-${Buffer.from('trace-abc').toString('base64')}-${Buffer.from('seg-1').toString('base64')}-3-c2Vydg==-aW5zdA==-L2Y=-aG9zdA==`;
  const c = Buffer.concat([
    PREFACE_BYTES,
    req(1, 'GET', '/b3', [['b3', '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90']]),
    req(3, 'GET', '/uber', [['uber-trace-id', '5af7183fb1d4cf5f%3A6c3d2e1f0a9b8c7d%3A0%3A1']]),
    req(5, 'GET', '/sw8', [['sw8', sw8]]),
  ]);
  const s = Buffer.concat([resp(1, 200, [], EH | ES), resp(3, 200, [], EH | ES), resp(5, 200, [], EH | ES)]);
  const { records } = run([c], [s]);
  assert.deepEqual(
    records.map((r) => [r.traceId, r.spanId, r.parentSpanId]),
    [
      ['80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1', '05e3ac9a4f6e3b90'],
      ['5af7183fb1d4cf5f', '6c3d2e1f0a9b8c7d', undefined],
      ['trace-abc', 'seg-1-3', undefined],
    ],
  );
});

test('RST_STREAM, late response after a client CANCEL, GOAWAY', () => {
  const c = Buffer.concat([PREFACE_BYTES, req(1, 'GET', '/r'), req(3, 'GET', '/c'), req(5, 'GET', '/g1'), req(7, 'GET', '/g2')]);
  const c2 = frame(RST, 0, 3, '00000008');
  const s = Buffer.concat([frame(RST, 0, 1, '00000007'), resp(3, 200, [], EH), frame(GOAWAY, 0, 0, '00000005 00000000'), resp(5, 200, [], EH | ES)]);
  const p = http2Module.create();
  p.feed(0, c, 1);
  p.feed(0, c2, 2);
  assert.equal(p.take().length, 0);
  p.feed(1, s, 9);
  const rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestId, r.status, r.responseCode, r.responseException]),
    [
      [1, 'server_error', undefined, 'RST_STREAM REFUSED_STREAM'],
      [3, 'ok', 200, undefined],
      [7, 'unknown', undefined, 'GOAWAY NO_ERROR'],
      [5, 'ok', 200, undefined],
    ],
  );
});

test('expire() and close() report unanswered requests as timeouts', () => {
  const p = http2Module.create();
  p.feed(0, Buffer.concat([PREFACE_BYTES, req(1, 'GET', '/slow'), req(3, 'GET', '/later')]), 1_000);
  p.feed(0, req(5, 'GET', '/new'), 9_000_000);
  p.expire(10_000_000, 5_000_000);
  assert.deepEqual(
    p.take().map((r) => [r.requestId, r.status]),
    [
      [1, 'timeout'],
      [3, 'timeout'],
    ],
  );
  p.close(11_000_000);
  assert.deepEqual(
    p.take().map((r) => [r.requestId, r.status, r.countsAsRequest]),
    [[5, 'timeout', true]],
  );
});

test('h2c Upgrade: stream 1 answers the HTTP/1.1 request', () => {
  const up = Buffer.from('GET /up/x/y HTTP/1.1\r\nHost: h2c.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n', 'latin1');
  const sw = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');
  // The upgrade exchange is HTTP/2's to parse (it pairs stream 1 with it), so it claims it.
  assert.equal(http2Module.detect(0, up, 80), 'yes');
  assert.equal(http2Module.detect(1, sw, 80), 'yes');
  const p = http2Module.create();
  p.feed(0, up, 100);
  p.feed(1, Buffer.concat([sw, SETTINGS_EMPTY]), 200);
  p.feed(0, Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, SETTINGS_ACK, req(3, 'GET', '/second')]), 300);
  p.feed(1, Buffer.concat([resp(1, 200, [], EH), data(1, 4, ES), resp(3, 404, [], EH | ES)]), 400);
  const rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestId, r.requestType, r.requestDomain, r.requestResource, r.endpoint, r.responseCode, r.requestTimeUs, r.responseTimeUs]),
    [
      [1, 'GET', 'h2c.example', '/up/x/y', '/up/x', 200, 100, 400],
      [3, 'GET', 'api.example', '/second', '/second', 404, 300, 400],
    ],
  );
});

test('a refused h2c upgrade hands the connection to HTTP/1.1', () => {
  const up = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n', 'latin1');
  const p = http2Module.create();
  p.feed(0, up, 1);
  p.feed(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi', 'latin1'), 2);
  p.feed(0, Buffer.from('GET /next HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'), 3);
  p.feed(1, Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', 'latin1'), 5);
  p.close(6);
  assert.deepEqual(
    p.take().map((r) => [r.protocol, r.requestResource, r.responseCode, r.requestTimeUs, r.responseTimeUs]),
    [
      ['http1', '/', 200, 1, 2],
      ['http1', '/next', 404, 3, 5],
    ],
  );
});

test('capture starting mid-stream: resync on a frame boundary, unknown dynamic refs tolerated', () => {
  const tail = data(1, 40).subarray(17); // the end of a DATA frame already in flight
  const midReq = frame(HEADERS, EH | ES, 9, Buffer.concat([block([[':method', 'GET'], [':path', '/mid']]), Buffer.from([0xc5])])); // 0xc5: index 69, never seen
  const p = http2Module.create();
  p.feed(0, Buffer.concat([tail, frame(WINDOW, 0, 0, '00000100'), midReq]), 10);
  p.feed(1, Buffer.concat([Buffer.from('00', 'hex'), resp(9, 200, [], EH | ES)]), 20);
  const rs = p.take();
  assert.equal(rs.length, 1);
  assert.equal(rs[0].requestResource, '/mid');
  assert.equal(rs[0].requestDomain, '');
  assert.equal(rs[0].responseCode, 200);
  assert.ok(p.stats.bytesSkipped >= tail.length);
  // a response whose request was before the capture: a response without request
  const q = http2Module.create();
  q.feed(1, Buffer.concat([resp(11, 503, [], EH), data(11, 3, ES)]), 5);
  const [only] = q.take();
  assert.equal(only.countsAsRequest, true);
  assert.equal(only.requestTimeUs, undefined);
  assert.equal(only.status, 'server_error');
});

test('gap inside DATA keeps sync; gap elsewhere resyncs', () => {
  const p = http2Module.create();
  p.feed(0, Buffer.concat([PREFACE_BYTES, req(1, 'POST', '/upload', [], EH), data(1, 100).subarray(0, 30)]), 1);
  p.gap(0, 50);
  p.feed(0, Buffer.concat([Buffer.alloc(29, 0x61), req(3, 'GET', '/after')]), 2);
  p.feed(1, Buffer.concat([resp(1, 200, [], EH | ES), resp(3, 200, [], EH | ES)]), 3);
  assert.deepEqual(
    p.take().map((r) => r.requestResource),
    ['/upload', '/after'],
  );
  // a gap in the middle of a HEADERS frame: the next frames are found again
  const q = http2Module.create();
  const r1 = req(1, 'GET', '/lost');
  q.feed(0, Buffer.concat([PREFACE_BYTES, r1.subarray(0, 12)]), 1);
  q.gap(0, 20);
  q.feed(0, Buffer.concat([Buffer.from('77 66 55', 'hex'), frame(PING, 0, 0, '0102030405060708'), req(3, 'GET', '/found')]), 2);
  q.feed(1, resp(3, 200, [], EH | ES), 3);
  assert.deepEqual(
    q.take().map((r) => r.requestResource),
    ['/found'],
  );
});

test('PUSH_PROMISE creates the promised stream', () => {
  const c = Buffer.concat([PREFACE_BYTES, req(1, 'GET', '/page')]);
  const promise = frame(PUSH, EH, 1, Buffer.concat([Buffer.from('00000002', 'hex'), block([[':method', 'GET'], [':path', '/style.css'], [':authority', 'api.example']])]));
  const s = Buffer.concat([promise, resp(1, 200, [], EH | ES), resp(2, 200, [], EH | ES)]);
  const { records } = run([c], [s]);
  assert.deepEqual(
    records.map((r) => [r.requestId, r.requestResource]),
    [
      [1, '/page'],
      [2, '/style.css'],
    ],
  );
});

test('detect: preface and frame sequences yes; other protocols no', () => {
  assert.equal(http2Module.detect(0, PREFACE_BYTES, 1234), 'yes');
  assert.equal(http2Module.detect(0, Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY]), 1234), 'yes');
  assert.equal(http2Module.detect(1, Buffer.concat([SETTINGS_EMPTY, SETTINGS_ACK, resp(1, 200, [], EH)]), 1234), 'yes');
  assert.equal(http2Module.detect(0, Buffer.concat([req(1, 'GET', '/'), data(1, 3, ES)]), 1234), 'yes');
  const no = (hex: string, d: 0 | 1 = 0) => assert.equal(http2Module.detect(d, Buffer.from(hex.replace(/\s+/g, ''), 'hex'), 1234), 'no', hex);
  assert.equal(http2Module.detect(0, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 80), 'no');
  assert.equal(http2Module.detect(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 80), 'no');
  // TLS ClientHello
  no('16 03 01 00 2f 01 00 00 2b 03 03' + '00'.repeat(32) + '00 00 02 00 2f 01 00');
  // MySQL server greeting
  no('4a 00 00 00 0a 38 2e 30 2e 33 32 00 08 00 00 00 3d 2a 5e 6c 11 0b 32 7e 00 ff ff ff 02 00 ff df 15 00 00 00 00 00 00 00 00 00 00', 1);
  // Redis inline command and RESP
  assert.equal(http2Module.detect(0, Buffer.from('PING\r\n'), 6379), 'no');
  assert.equal(http2Module.detect(0, Buffer.from('*1\r\n$4\r\nPING\r\n'), 6379), 'no');
  // Kafka ApiVersions request
  no('00 00 00 1e 00 12 00 03 00 00 00 01 00 09 63 6f 6e 73 75 6d 65 72 00 0a 6b 61 66 6b 61 2d 6a 61 76 61 00');
  // random bytes: never yes
  const random = new Random(7);
  for (let i = 0; i < 2000; i++) {
    const b = random.bytes(1 + random.int(64));
    assert.notEqual(http2Module.detect(0, b, 1234), 'yes');
  }
});

test('fuzz: 100,000 mutated messages never throw, stay bounded', () => {
  const base = Buffer.concat([
    PREFACE_BYTES,
    SETTINGS_EMPTY,
    req(1, 'POST', '/pkg.S/M', [['content-type', 'application/grpc'], ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']], EH),
    data(1, 20, ES),
    frame(HEADERS, EH | ES, 3, block([[':method', 'GET'], [':path', '/h'], [':authority', 'x']], { index: true, huffman: true })),
  ]);
  const sbase = Buffer.concat([SETTINGS_EMPTY, resp(1, 200, [['content-type', 'application/grpc']]), data(1, 8), frame(HEADERS, EH | ES, 1, block([['grpc-status', '3']])), frame(RST, 0, 3, '00000002'), frame(GOAWAY, 0, 0, '0000000300000000')]);
  const random = new Random(12345);
  // The 'length' mutation: a random 24-bit value anywhere (frame lengths are 24-bit).
  const options: MutateOptions = { kinds: ['flip', 'truncate', 'length', 'overwrite'], length: { bytes: 3 } };
  const start = Date.now();
  for (let i = 0; i < 100_000; i++) {
    const p = http2Module.create({ maxBufferBytes: 4096 });
    const c = mutate(base, random, options);
    const s = mutate(sbase, random, options);
    const cut = random.int(c.length + 1);
    p.feed(0, c.subarray(0, cut), 1);
    p.feed(1, s, 2);
    if (random.int(5) === 0) p.gap(0, random.int(100));
    p.feed(0, c.subarray(cut), 3);
    p.expire(10, 5);
    p.close(20);
    for (const r of p.take()) assert.ok(r.requestId === undefined || r.requestId >= 0);
  }
  assert.ok(Date.now() - start < 60_000);
  // buffering is bounded: a frame header announcing 16 MB is never held
  const p = http2Module.create({ maxBufferBytes: 4096 });
  p.feed(0, Buffer.concat([PREFACE_BYTES, frame(4, 0, 0, '000500ffffff')]), 1);
  const huge = Buffer.alloc(9);
  huge.writeUIntBE(0xfffff0, 0, 3);
  huge[3] = 1;
  huge[4] = 4;
  huge.writeUInt32BE(1, 5);
  p.feed(0, huge, 2);
  for (let i = 0; i < 100; i++) p.feed(0, Buffer.alloc(1000, 0x41), 3 + i);
  p.feed(0, Buffer.concat([frame(PING, 0, 0, '0000000000000000'), req(5, 'GET', '/ok')]), 200);
  p.feed(1, resp(5, 200, [], EH | ES), 300);
  assert.ok(p.stats.parseErrors >= 1);
});
