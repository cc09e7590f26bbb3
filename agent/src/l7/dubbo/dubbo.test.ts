import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Direction, L7Record } from '../l7-parser';
import { detectDubbo, DubboParser, dubboModule, readHessianString, readKryoString } from './dubbo-parser';
import { H, msg, HESSIAN_BODY, req, resp } from './fixtures';
import { corpusDir } from '../../testing/corpus';
import { parseCapture } from '../../testing/l7-corpus';
import { feedInTwo, fuzzParser, MutateOptions, mutate, Random } from '../../testing/fuzz';

type Feed = [Direction, Buffer, number];
function run(feeds: Feed[], p = new DubboParser()): L7Record[] {
  for (const [d, b, t] of feeds) p.feed(d, b, t);
  p.close(1e12);
  return p.take();
}

test('hessian2 request/response pair: fields, times, lengths', () => {
  assert.equal(HESSIAN_BODY.length, 72);
  const rs = run([
    [0, req(7), 1000],
    [1, resp(7), 1800],
  ]);
  assert.equal(rs.length, 1);
  const r = rs[0];
  assert.equal(r.protocol, 'dubbo');
  assert.equal(r.version, '2.0.2');
  assert.equal(r.requestType, 'hello');
  assert.equal(r.requestResource, 'com.demo.Svc');
  assert.equal(r.endpoint, 'com.demo.Svc/hello');
  assert.equal(r.requestDomain, '');
  assert.equal(r.requestId, 7);
  assert.equal(r.status, 'ok');
  assert.equal(r.responseCode, 20);
  assert.equal(r.requestTimeUs, 1000);
  assert.equal(r.responseTimeUs, 1800);
  assert.equal(r.requestLength, 88);
  assert.equal(r.responseLength, 16 + 7);
  assert.equal(r.countsAsRequest, true);
  assert.equal(r.attributes?.service_version, '1.0.0');
  assert.equal(r.attributes?.serialization, 'hessian2');
});

test('Hessian2 strings: medium, chunked, non-ASCII, null', () => {
  const long = 'com.example.' + 'a'.repeat(40); // 52 chars: medium form 0x30 0x34
  assert.deepEqual(readHessianString(Buffer.concat([H('30 34'), Buffer.from(long)]), 0), { value: long, next: 54 });
  // 'R' non-final chunk "com" then 'S' final chunk ".demo.Svc"
  assert.equal(readHessianString(H('52 0003 636f6d 53 0009 2e64656d6f2e537663'), 0)?.value, 'com.demo.Svc');
  // "héllo": 5 chars, é on two bytes
  assert.deepEqual(readHessianString(H('05 68c3a96c6c6f'), 0), { value: 'héllo', next: 7 });
  assert.deepEqual(readHessianString(H('4e'), 0), { value: '', next: 1 });
  assert.equal(readHessianString(H('05 6869'), 0), null); // truncated
  assert.equal(readHessianString(H('91'), 0), null); // an int, not a string
  // a whole request with a medium service name and a chunked method name
  const body = Buffer.concat([H('05 322e302e32 3034'), Buffer.from(long), H('05 312e302e30 52 0002 6865 53 0003 6c6c6f 00 5a')]);
  const rs = run([[0, req(1, body), 1], [1, resp(1), 2]]);
  assert.equal(rs[0].endpoint, `${long}/hello`);
});

test('kryo and fastjson request bodies; unknown serialization keeps header fields', () => {
  // kryo: ASCII strings end with the high bit set on their last byte
  const kryo = H('322e382eb4 636f6d2e64656d6f2e5376e3 312e302eb0 68e9');
  assert.deepEqual(readKryoString(kryo, 0), { value: '2.8.4', next: 5 });
  // kryo UTF-8 form: 0x80 | (chars + 1), then UTF-8
  assert.deepEqual(readKryoString(H('86 68c3a96c6c6f'), 0), { value: 'héllo', next: 7 });
  let rs = run([[0, msg(0xc8, 0, 3, kryo), 1], [1, msg(0x08, 20, 3, H('0102')), 2]]);
  assert.deepEqual([rs[0].version, rs[0].endpoint, rs[0].status], ['2.8.4', 'com.demo.Svc/hi', 'ok']);
  const json = Buffer.from('"2.0.2"\n"com.demo.Svc"\n"1.0.0"\n"hello"\n"[]"\n');
  rs = run([[0, msg(0xc6, 0, 4, json), 1], [1, msg(0x06, 20, 4, Buffer.from('1\n')), 2]]);
  assert.equal(rs[0].endpoint, 'com.demo.Svc/hello');
  // protobuf (22): nothing readable, header fields kept
  rs = run([[0, msg(0xd6, 0, 5, H('0a0b0c')), 1], [1, msg(0x16, 20, 5, H('00')), 2]]);
  assert.deepEqual([rs[0].endpoint, rs[0].requestResource, rs[0].requestId, rs[0].status, rs[0].countsAsRequest], ['', '', 5, 'ok', true]);
});

test('status rules: 30, 40, 90 client; 31, 50, 60, 70, 80, 100 server', () => {
  const expect: Record<number, string> = { 20: 'ok', 30: 'client_error', 40: 'client_error', 90: 'client_error', 31: 'server_error', 50: 'server_error', 60: 'server_error', 70: 'server_error', 80: 'server_error', 100: 'server_error' };
  for (const [code, status] of Object.entries(expect)) {
    const rs = run([[0, req(9), 1], [1, resp(9, Number(code)), 2]]);
    assert.equal(rs[0].status, status, `status ${code}`);
    assert.equal(rs[0].responseCode, Number(code));
    if (code !== '20') assert.equal(rs[0].responseException, 'boom');
  }
});

test('split at every byte boundary', () => {
  const a = Buffer.concat([req(1), req(2)]);
  const b = Buffer.concat([resp(2), resp(1, 70)]);
  for (let i = 1; i < a.length; i++) {
    for (const j of [1, 15, 16, 17, resp(2).length, b.length - 1]) {
      const p = new DubboParser();
      feedInTwo(p, 0, a, i, 10, 20);
      feedInTwo(p, 1, b, j, 30, 40);
      const rs = run([], p);
      assert.deepEqual(
        rs.map((r) => [r.requestId, r.endpoint, r.status]),
        [
          [2, 'com.demo.Svc/hello', 'ok'],
          [1, 'com.demo.Svc/hello', 'server_error'],
        ],
        `split ${i}/${j}`,
      );
      assert.equal(rs[1].requestTimeUs, i >= 88 ? 10 : 20);
    }
  }
});

test('several messages per feed, out-of-order responses by id', () => {
  const rs = run([
    [0, Buffer.concat([req(1), req(2), req(3)]), 100],
    [1, Buffer.concat([resp(3), resp(1)]), 200],
    [1, resp(2, 60), 300],
  ]);
  assert.deepEqual(
    rs.map((r) => [r.requestId, r.status, r.responseTimeUs]),
    [
      [3, 'ok', 200],
      [1, 'ok', 200],
      [2, 'server_error', 300],
    ],
  );
});

test('heartbeats are not logged; one-way requests are logged, not counted', () => {
  const p = new DubboParser();
  const rs = run(
    [
      [0, msg(0xe2, 0, 50, H('4e')), 1], // heartbeat request (event, two-way)
      [1, msg(0x22, 20, 50, H('4e')), 2], // heartbeat response
      [0, msg(0x82, 0, 51, HESSIAN_BODY), 3], // one-way request
    ],
    p,
  );
  assert.equal(p.stats.messages, 3);
  assert.deepEqual(rs.map((r) => [r.requestId, r.countsAsRequest, r.status, r.endpoint]), [[51, false, 'ok', 'com.demo.Svc/hello']]);
});

test('mid-stream start, garbage and gaps resync at the next magic', () => {
  const p = new DubboParser();
  const rs = run(
    [
      [0, Buffer.concat([req(1).subarray(30), Buffer.from('garbage'), req(2)]), 1],
      [0, req(3).subarray(0, 40), 2],
    ],
    p,
  );
  assert.ok(p.stats.bytesSkipped >= 58 + 7);
  assert.deepEqual(rs.map((r) => [r.requestId, r.status]), [[2, 'timeout']]);
  const q = new DubboParser();
  q.feed(0, req(4).subarray(0, 50), 1);
  q.gap(0, 38);
  q.feed(0, req(5), 2);
  q.feed(1, Buffer.concat([resp(4), resp(5)]), 3);
  const out = q.take();
  // The response to the lost request 4 is logged without it (a response, not a request).
  assert.deepEqual(out.map((r) => [r.requestId, r.requestTimeUs !== undefined, r.endpoint]), [[4, false, ''], [5, true, 'com.demo.Svc/hello']]);
});

test('expire() and close() make timeouts', () => {
  const p = new DubboParser();
  p.feed(0, req(1), 1000);
  p.feed(0, req(2), 9000);
  p.expire(10_000, 5000);
  assert.deepEqual(p.take().map((r) => [r.requestId, r.status, r.endpoint]), [[1, 'timeout', 'com.demo.Svc/hello']]);
  p.close(20_000);
  assert.deepEqual(p.take().map((r) => [r.requestId, r.status]), [[2, 'timeout']]);
});

test('a body larger than the buffer is read from its first bytes and passed over', () => {
  const big = Buffer.concat([HESSIAN_BODY, Buffer.alloc(300_000, 0x41)]);
  const m = req(77, big);
  const p = new DubboParser({ maxBufferBytes: 4096 });
  let t = 0;
  for (let off = 0; off < m.length; off += 1448) {
    p.feed(0, m.subarray(off, off + 1448), ++t);
    assert.ok(p.bufferedBytes(0) <= 4096);
  }
  p.feed(1, resp(77), 1e6);
  const rs = p.take();
  assert.equal(rs.length, 1);
  assert.equal(rs[0].endpoint, 'com.demo.Svc/hello');
  assert.equal(rs[0].requestTimeUs, t);
  assert.equal(rs[0].requestLength, m.length);
  // an absurd body length is garbage, not a 4 GiB wait
  const q = new DubboParser();
  q.feed(0, H('dabbc200 0000000000000001 7fffffff 00'), 1);
  assert.ok(q.stats.bytesSkipped > 0);
});

test('detect(): sane Dubbo header yes; other protocols no', () => {
  assert.equal(detectDubbo(0, req(1), 20880), 'yes');
  assert.equal(detectDubbo(1, resp(1), 20880), 'yes');
  assert.equal(detectDubbo(0, H('dabb'), 20880), 'maybe');
  assert.equal(detectDubbo(1, msg(0x02, 0x33, 1, H('00')), 20880), 'no'); // unknown status
  assert.equal(detectDubbo(0, msg(0xc0, 0, 1, H('00')), 20880), 'no'); // serialization 0
  const others: Record<string, Buffer> = {
    http: Buffer.from('POST /com.demo.Svc HTTP/1.1\r\nHost: x\r\n\r\n'),
    tls: H('16 0301 00c8 01 0000c4 0303' + '00'.repeat(32)),
    mysqlGreeting: H('4a0000 00 0a 352e372e3238 00 08000000'),
    redisInline: Buffer.from('PING\r\n'),
    kafka: H('00000023 0012 0003 00000001 0007 636c69656e74 00'),
    mqtt: H('10 0e 0004 4d515454 04 02 003c 0002 6331'),
  };
  for (const [name, b] of Object.entries(others)) assert.equal(detectDubbo(0, b, 20880), 'no', name);
  const random = new Random(7);
  let yes = 0;
  for (let i = 0; i < 20000; i++) if (detectDubbo(0, random.bytes(1 + random.int(64)), 0) === 'yes') yes++;
  assert.equal(yes, 0);
});

test('fuzz: 100,000 mutated messages never throw, never hang, stay bounded', () => {
  const pool = [req(1), resp(1), resp(2, 70), msg(0xc8, 0, 3, H('322e382eb4 636f6d2e64656d6f2e5376e3 312e302eb0 68e9')), msg(0xe2, 0, 4, H('4e')), msg(0xc6, 0, 5, Buffer.from('"2.0.2"\n"a"\n"b"\n"c"\n'))];
  const random = new Random(99);
  const max = 1024;
  const start = Date.now();
  // Mutations: bit flips, truncation, a random body length (mostly plausible), bytes overwritten, none.
  const options: MutateOptions = { kinds: ['flip', 'truncate', 'length', 'overwrite', 'none'], length: { bytes: 4, at: [12], small: 5000 } };
  fuzzParser(random, {
    messages: 100_000,
    message: () => mutate(random.pick(pool), random, options),
    create: () => new DubboParser({ maxBufferBytes: max }),
    maxBuffered: max,
  });
  assert.ok(Date.now() - start < 60_000);
});

// ---- corpus ----

interface RawDubbo {
  headers_parsed: number;
  requests: number;
  two_way_requests: number;
  responses: number;
  events: number;
  response_status_byte_counts: Record<string, number>;
}

/** What each snippet carries (read from the bytes; tshark has no Dubbo dissector to say it). */
const EXPECTED: Record<string, { endpoint: string; version: string; rtUs: number[] }> = {
  'deepflow_dubbo-eys.pcap': { endpoint: 'com.vivo.it.vwork.api.common.export.ExportApi/getById', version: '2.0.2', rtUs: [] },
  'deepflow_dubbo-kryo.pcap': { endpoint: 'com.zznode.itms.api.OFOPServer/sendOfopMsg', version: '2.8.4', rtUs: [1119, 1150] },
  'deepflow_dubbo-sw8.pcap': { endpoint: 'my.demo.service.ItemService/findItem', version: '2.0.2', rtUs: [] },
  'deepflow_dubbo_hessian2.pcap': { endpoint: 'my.demo.service.UserService/login', version: '2.0.2', rtUs: [4332] },
};

test('corpus: every Dubbo capture against the raw header counts of its oracle', (t) => {
  const dir = corpusDir();
  if (!dir || !existsSync(join(dir, 'dubbo'))) {
    t.skip('corpus not found');
    return;
  }
  const files = readdirSync(join(dir, 'dubbo')).filter((f) => /\.pcapn?g?$/.test(f));
  assert.equal(files.length, 4);
  for (const f of files) {
    const path = join(dir, 'dubbo', f);
    const oracle = JSON.parse(readFileSync(path + '.oracle.json', 'utf8'));
    const raw = oracle.l7_raw_dubbo as RawDubbo;
    // Ports 6666 and 37312 are not Dubbo's default: found by content (detect 'yes').
    const flows = parseCapture(path, dubboModule);
    assert.equal(flows.length, 1, f);
    const rs = flows[0].records;
    const stats = flows[0].parser.stats;
    // Every message is whole in its segment here, so our message count equals the header count.
    assert.equal(stats.messages, raw.headers_parsed, `${f} messages`);
    assert.equal(stats.bytesSkipped, 0, `${f} skipped`);
    assert.equal(stats.parseErrors, 0, `${f} parse errors`);
    const requests = rs.filter((r) => r.requestTimeUs !== undefined);
    const responses = rs.filter((r) => r.responseTimeUs !== undefined);
    assert.equal(requests.length, raw.requests - raw.events, `${f} requests`);
    assert.equal(rs.filter((r) => r.countsAsRequest).length, raw.two_way_requests, `${f} two-way`);
    assert.equal(responses.length, raw.responses, `${f} responses`);
    const codes: Record<string, number> = {};
    for (const r of responses) codes[String(r.responseCode)] = (codes[String(r.responseCode)] ?? 0) + 1;
    assert.deepEqual(codes, raw.response_status_byte_counts, `${f} status bytes`);
    // Unanswered requests of these snippets end as timeouts when the capture closes.
    assert.equal(rs.filter((r) => r.status === 'timeout').length, raw.requests - raw.responses, `${f} timeouts`);
    const exp = EXPECTED[f];
    for (const r of requests) {
      assert.equal(r.endpoint, exp.endpoint, f);
      assert.equal(r.version, exp.version, f);
    }
    // Response times: the flow's own frame deltas (the oracle lists frames, not Dubbo pairs).
    assert.deepEqual(
      responses.map((r) => r.responseTimeUs! - r.requestTimeUs!),
      exp.rtUs,
      `${f} rt`,
    );
  }
});
