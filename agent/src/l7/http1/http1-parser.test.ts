import assert from 'node:assert/strict';
import { test } from 'node:test';
import { feedInTwo, mutate, Random } from '../../testing/fuzz';
import { Direction, L7Record, ParserOptions } from '../l7-parser';
import { Http1Parser, http1Module } from './http1-parser';

const REQ =
  'GET /api/v1/users/42?x=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8.0\r\nCookie: secret\r\n' +
  'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Request-ID: rid-1\r\n\r\n';
const RESP = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';

function make(options: ParserOptions = {}): Http1Parser {
  return http1Module.create(options) as Http1Parser;
}

type Step = [Direction, string, number];

function run(steps: Step[], options: ParserOptions = {}): { p: Http1Parser; records: L7Record[] } {
  const p = make(options);
  const records: L7Record[] = [];
  for (const [d, s, ts] of steps) {
    p.feed(d, Buffer.from(s, 'latin1'), ts);
    records.push(...p.take());
  }
  return { p, records };
}

test('request/response pair: fields, lengths, trace, allow-list, timing', () => {
  const { records } = run([
    [0, REQ, 1000],
    [1, RESP, 5000],
  ]);
  assert.equal(records.length, 1);
  const r = records[0];
  assert.deepEqual(r, {
    protocol: 'http1',
    version: '1.1',
    requestType: 'GET',
    requestDomain: 'shop.example',
    requestResource: '/api/v1/users/42',
    endpoint: '/api/v1',
    status: 'ok',
    responseCode: 200,
    requestTimeUs: 1000,
    responseTimeUs: 5000,
    requestLength: REQ.length,
    responseLength: RESP.length,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    xRequestId: 'rid-1',
    attributes: { 'user-agent': 'curl/8.0', 'content-type': 'application/json' },
    countsAsRequest: true,
  });
  const custom = run([[0, REQ, 1], [1, RESP, 2]], { httpHeaderAllowList: ['Cookie'], endpointPathSegments: 4 }).records[0];
  assert.deepEqual(custom.attributes, { cookie: 'secret' });
  assert.equal(custom.endpoint, '/api/v1/users/{id}');
});

test('trace headers: a valid traceparent comes first, an invalid one gives way to the next', () => {
  const tp = 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n';
  const b3 = 'b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90\r\n';
  const ids = (head: string): (string | undefined)[] => {
    const r = run([
      [0, `GET / HTTP/1.1\r\nHost: h\r\n${head}\r\n`, 1],
      [1, 'HTTP/1.1 204 No Content\r\n\r\n', 2],
    ]).records[0];
    return [r.traceId, r.spanId, r.parentSpanId];
  };
  assert.deepEqual(ids(b3 + tp), ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', undefined]);
  assert.deepEqual(ids(b3 + 'traceparent: 00-zz\r\n'), ['80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1', '05e3ac9a4f6e3b90']);
  assert.deepEqual(ids(`traceparent: 00-${'a'.repeat(600)}\r\n`), [undefined, undefined, undefined]);
});

test('split at every byte boundary gives the same record', () => {
  const whole = run([[0, REQ, 10], [1, RESP, 20]]).records[0];
  for (const [dir, msg] of [[0, REQ], [1, RESP]] as [Direction, string][]) {
    for (let cut = 1; cut < msg.length; cut++) {
      const p = make();
      if (dir === 0) {
        feedInTwo(p, 0, Buffer.from(msg), cut, 5, 10);
        p.feed(1, Buffer.from(RESP), 20);
      } else {
        p.feed(0, Buffer.from(REQ), 10);
        feedInTwo(p, 1, Buffer.from(msg), cut, 15, 20);
      }
      assert.deepEqual(p.take(), [whole], `cut ${dir}/${cut}`);
    }
  }
  // Byte by byte.
  const p = make();
  for (let i = 0; i < REQ.length; i++) p.feed(0, Buffer.from(REQ.slice(i, i + 1)), 10);
  for (let i = 0; i < RESP.length; i++) p.feed(1, Buffer.from(RESP.slice(i, i + 1)), 20);
  assert.deepEqual(p.take(), [whole]);
});

test('pipelining: several requests in one feed, responses paired in order', () => {
  const reqs = ['/a', '/b', '/c'].map((u) => `GET ${u} HTTP/1.1\r\nHost: h\r\n\r\n`).join('');
  const resps = [200, 404, 503].map((c) => `HTTP/1.1 ${c} X\r\nContent-Length: 2\r\n\r\nok`).join('');
  const { records } = run([
    [0, reqs, 100],
    [1, resps, 300],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestResource, r.responseCode, r.status]),
    [
      ['/a', 200, 'ok'],
      ['/b', 404, 'client_error'],
      ['/c', 503, 'server_error'],
    ],
  );
});

test('chunked bodies with trailers, HEAD, 204 and 304 without bodies, POST body', () => {
  const post = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello';
  const chunkedReq = 'PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  const head = 'HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n';
  const g204 = 'DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n';
  const g304 = 'GET /e HTTP/1.1\r\nHost: h\r\n\r\n';
  const chunkedResp = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: 1\r\n\r\n';
  const okResp = 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n';
  const headResp = 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n';
  const r204 = 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n';
  const r304 = 'HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n';
  const { records } = run([
    [0, post + chunkedReq + head + g204 + g304, 1],
    [1, chunkedResp + okResp + headResp + r204 + r304, 2],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.responseCode, r.requestLength, r.responseLength]),
    [
      ['POST', 200, post.length, chunkedResp.length],
      ['PUT', 201, chunkedReq.length, okResp.length],
      ['HEAD', 200, head.length, headResp.length],
      ['DELETE', 204, g204.length, r204.length],
      ['GET', 304, g304.length, r304.length],
    ],
  );
});

test("a body read until close completes at the server's FIN, as the client sees it", () => {
  const p = make();
  p.feed(0, Buffer.from('GET /old HTTP/1.0\r\nHost: h\r\n\r\n'), 10);
  p.feed(1, Buffer.from('HTTP/1.0 401 No\r\n\r\nbody'), 20);
  p.end(0, 25); // the client's FIN ends nothing of the response
  assert.deepEqual(p.take(), []);
  p.end(1, 40);
  const [r] = p.take();
  assert.deepEqual([r.responseCode, r.responseTimeUs, r.status], [401, 40, 'client_error']);
});

test('response without length ends at close; pending requests time out', () => {
  const p = make();
  p.feed(0, Buffer.from('GET /old HTTP/1.0\r\nHost: h\r\n\r\n'), 10);
  p.feed(1, Buffer.from('HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody...'), 20);
  p.feed(1, Buffer.from('more body'), 30);
  assert.deepEqual(p.take(), []);
  p.close(99);
  const [r] = p.take();
  assert.equal(r.version, '1.0');
  assert.equal(r.responseTimeUs, 30, 'the last byte of the body');
  assert.equal(r.responseLength, 'HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody...more body'.length);

  const q = make();
  q.feed(0, Buffer.from('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n'), 10);
  q.expire(15, 10);
  assert.deepEqual(q.take(), []);
  q.feed(0, Buffer.from('GET /3 HTTP/1.1\r\nHost: h\r\n\r\n'), 20);
  q.expire(25, 10);
  const expired = q.take();
  assert.deepEqual(expired.map((r) => [r.requestResource, r.status, r.responseTimeUs]), [
    ['/1', 'timeout', undefined],
    ['/2', 'timeout', undefined],
  ]);
  q.close(40);
  assert.deepEqual(q.take().map((r) => [r.requestResource, r.status]), [['/3', 'timeout']]);
});

test('interim 100 Continue is not a final response; 101 Upgrade stops parsing', () => {
  const { p, records } = run([
    [0, 'POST /form HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n', 10],
    [1, 'HTTP/1.1 100 Continue\r\n\r\n', 20],
    [0, 'data', 30],
    [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 40],
  ]);
  assert.deepEqual(records.map((r) => [r.responseCode, r.requestTimeUs, r.responseTimeUs]), [[200, 30, 40]]);
  assert.equal(p.http1Stats.interimResponses, 1);
  assert.deepEqual(Object.fromEntries(p.http1Stats.interimStatusCounts), { 100: 1 });

  const u = run([
    [0, 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 10],
    [1, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello', 20],
    [0, '\x81\x85abcdHTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1\r\n\r\n', 30],
    [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 40],
  ]);
  assert.deepEqual(u.records.map((r) => [r.responseCode, r.status]), [[101, 'ok']]);
  u.p.close(50);
  assert.deepEqual(u.p.take(), []);
  assert.equal(u.p.http1Stats.upgrades, 1);
});

test('capture starting mid-stream: body garbage skipped, response without request counted', () => {
  const { p, records } = run([
    [1, 'rest of an old body\r\n<html>\r\nHTTP/1.1 304 Not Modified\r\n\r\n', 5],
    [0, 'tail of a form=1&b=2\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n', 10],
    [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 20],
  ]);
  // The 304 answers a request before the capture: logged as a response without request.
  assert.deepEqual(records.map((r) => [r.requestResource, r.responseCode, r.requestTimeUs]), [['', 304, undefined], ['/next', 200, 10]]);
  assert.equal(p.http1Stats.responsesWithoutRequest, 1);
  assert.ok(p.stats.bytesSkipped > 0);
});

test('gaps: inside a body stays in step; a lost response head drops its request', () => {
  const p = make();
  p.feed(0, Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n'), 10);
  p.feed(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'), 20);
  p.gap(1, 50);
  p.feed(1, Buffer.from('x'.repeat(40)), 30);
  p.feed(1, Buffer.from('HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n'), 40);
  assert.deepEqual(p.take().map((r) => [r.requestResource, r.responseCode, r.responseTimeUs]), [
    ['/a', 200, 30],
    ['/b', 404, 40],
  ]);
  const q = make();
  q.feed(0, Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n'), 10);
  q.gap(1, 200); // the head of /a's response was lost
  q.feed(1, Buffer.from('tail of body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 20);
  assert.deepEqual(q.take().map((r) => [r.requestResource, r.status, r.responseCode]), [
    ['/a', 'unknown', undefined],
    ['/b', 'ok', 200],
  ]);
  // A gap in a chunked body ends that message; the parser resyncs on the next status line.
  const c = make();
  c.feed(0, Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n'), 10);
  c.feed(1, Buffer.from('HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123'), 20);
  c.gap(1, 30);
  c.feed(1, Buffer.from('\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 30);
  assert.deepEqual(c.take().map((r) => [r.requestResource, r.status]), [
    ['/a', 'server_error'],
    ['/b', 'ok'],
  ]);
});

test('malformed request lines servers still answer; SSDP is one-way; CONNECT tunnels stop parsing', () => {
  const { records } = run([
    [0, 'GET / HTTP/1.\r\nHost: h\r\n\r\n', 1],
    [1, 'HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n', 2],
  ]);
  assert.deepEqual(records.map((r) => [r.requestType, r.version, r.status]), [['GET', '', 'client_error']]);
  const ssdp = run([[0, 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n', 5]]);
  assert.deepEqual(ssdp.records.map((r) => [r.requestType, r.requestResource, r.countsAsRequest]), [['M-SEARCH', '*', false]]);
  ssdp.p.close(10);
  assert.deepEqual(ssdp.p.take(), []);
  const tunnel = run([
    [0, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 1],
    [1, 'HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x10', 2],
    [0, '\x16\x03\x01\x00\xc4\x01\x00', 3],
  ]);
  assert.deepEqual(tunnel.records.map((r) => [r.requestType, r.requestResource, r.requestDomain, r.endpoint]), [
    ['CONNECT', 'example.com:443', 'example.com:443', 'example.com:443'],
  ]);
  tunnel.p.close(4);
  assert.deepEqual(tunnel.p.take(), []);
});

test('buffering is bounded: an endless head is dropped and counted', () => {
  const p = make({ maxBufferBytes: 1024 });
  p.feed(0, Buffer.from('GET / HTTP/1.1\r\n'), 1);
  for (let i = 0; i < 100; i++) {
    p.feed(0, Buffer.from(`X-Filler-${i}: ${'v'.repeat(50)}\r\n`), 2);
    assert.ok(p.bufferedBytes(0) <= 1024 + 100);
  }
  assert.ok(p.stats.parseErrors >= 1);
  p.feed(0, Buffer.from('\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n'), 3);
  p.feed(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 4);
  assert.deepEqual(p.take().map((r) => r.requestResource), ['/ok']);
});

test('fuzz: 100,000 mutated messages never throw, hang or over-buffer', () => {
  const random = new Random(0x12345678);
  // The 'length' mutation: the first number (a Content-Length, chunk size, status or version) made random.
  const numbers = (m: Buffer, r: Random): Buffer => Buffer.from(m.toString('latin1').replace(/\d+/, String(r.int(1 << 30))), 'latin1');
  const seeds = [
    REQ,
    RESP,
    'POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfff\r\nabc\r\n0\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching\r\n\r\n',
    'HTTP/1.0 200 OK\r\n\r\nbody until close',
    'GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n',
  ].map((s) => Buffer.from(s, 'latin1'));
  const max = 4096;
  let p = make({ maxBufferBytes: max });
  const started = Date.now();
  for (let i = 0; i < 100_000; i++) {
    if (i % 500 === 0) {
      p.close(i);
      p.take();
      p = make({ maxBufferBytes: max });
    }
    const m = mutate(random.pick(seeds), random, { kinds: ['flip', 'truncate', 'random', 'length', 'none'], length: numbers, randomMax: 300 });
    const dir = random.int(2) as Direction;
    const op = random.int(50);
    if (op === 0) p.gap(dir, random.int(5000));
    else if (op === 1) p.expire(i, random.int(100));
    else p.feed(dir, m, i);
    p.take();
    assert.ok(p.bufferedBytes(0) <= max + 512 && p.bufferedBytes(1) <= max + 512);
  }
  assert.ok(Date.now() - started < 60_000);
});
