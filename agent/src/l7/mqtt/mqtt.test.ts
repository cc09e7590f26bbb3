import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Direction, L7Record } from '../l7-parser';
import { detectMqtt, MqttParser, mqttModule } from './mqtt-parser';
import { corpusDir } from '../../testing/corpus';
import { parseCapture } from '../../testing/l7-corpus';
import { feedInTwo, fuzzParser, MutateOptions, mutate, Random } from '../../testing/fuzz';

/** Packets written out by hand from the MQTT 3.1.1 / 5.0 specifications. */
const H = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const P = {
  // CONNECT "MQTT" level 4, clean session, keep-alive 60, client id "c1"
  connect311: H('10 0e 0004 4d515454 04 02 003c 0002 6331'),
  // CONNECT "MQIsdp" level 3 (3.1), client id "c1"
  connect31: H('10 10 0006 4d5149736470 03 02 003c 0002 6331'),
  // CONNECT "MQTT" level 5, empty properties, client id "c1"
  connect5: H('10 0f 0004 4d515454 05 02 003c 00 0002 6331'),
  connackOk: H('20 02 00 00'),
  connackRefused: (code: number) => H(`20 02 00 ${code.toString(16).padStart(2, '0')}`),
  // v5 CONNACK reason 0x86 with reason string "bad"
  connack5Bad: H('20 09 00 86 06 1f 0003 626164'),
  // v5 CONNACK reason 0x88 (server unavailable), no properties
  connack5Unavailable: H('20 03 00 88 00'),
  // PUBLISH QoS 1 "a/b" id 10 payload "hi"
  pub1: (id = 10) => H(`32 09 0003 612f62 ${id.toString(16).padStart(4, '0')} 6869`),
  puback: (id = 10) => H(`40 02 ${id.toString(16).padStart(4, '0')}`),
  // PUBLISH QoS 2 "a/b" id 11, empty payload
  pub2: H('34 07 0003 612f62 000b'),
  pubrec: H('50 02 000b'),
  pubrel: H('62 02 000b'),
  pubcomp: H('70 02 000b'),
  // PUBLISH QoS 0 "a/b" payload "x"
  pub0: H('30 06 0003 612f62 78'),
  // SUBSCRIBE id 1 "a/#" QoS 1
  subscribe: H('82 08 0001 0003 612f23 01'),
  suback: H('90 03 0001 01'),
  subackFail: H('90 03 0001 80'),
  // UNSUBSCRIBE id 2 "a/#"
  unsubscribe: H('a2 07 0002 0003 612f23'),
  unsuback: H('b0 02 0002'),
  pingreq: H('c0 00'),
  pingresp: H('d0 00'),
  disconnect: H('e0 00'),
  // v5 PUBACK id 10 reason 0x87 (not authorized), properties: reason string "no"
  puback5Denied: H('40 09 000a 87 05 1f 0002 6e6f'),
};

type Feed = [Direction, Buffer, number];

function run(feeds: Feed[], close = true, p = new MqttParser()): L7Record[] {
  for (const [d, b, t] of feeds) p.feed(d, b, t);
  if (close) p.close(1e12);
  return p.take();
}

const requests = (rs: L7Record[]) => rs.filter((r) => r.countsAsRequest);

test('CONNECT/CONNACK 3.1.1: version, client id, times', () => {
  const rs = run([
    [0, P.connect311, 1000],
    [1, P.connackOk, 1500],
  ]);
  assert.equal(rs.length, 1);
  const r = rs[0];
  assert.equal(r.requestType, 'CONNECT');
  assert.equal(r.version, '3.1.1');
  assert.equal(r.requestDomain, 'c1');
  assert.equal(r.status, 'ok');
  assert.equal(r.responseCode, 0);
  assert.equal(r.requestTimeUs, 1000);
  assert.equal(r.responseTimeUs, 1500);
  assert.equal(r.requestLength, 16);
  assert.equal(r.responseLength, 4);
  assert.equal(r.countsAsRequest, true);
});

test('CONNECT 3.1 (MQIsdp) and 5.0 versions', () => {
  assert.equal(run([[0, P.connect31, 1], [1, P.connackOk, 2]])[0].version, '3.1');
  assert.equal(run([[0, P.connect5, 1], [1, H('20 03 00 00 00'), 2]])[0].version, '5.0');
});

test('CONNACK 3.x refusals: 1, 2, 4, 5 client, 3 server', () => {
  const expect: Record<number, string> = { 1: 'client_error', 2: 'client_error', 3: 'server_error', 4: 'client_error', 5: 'client_error' };
  for (const [code, status] of Object.entries(expect)) {
    const rs = run([[0, P.connect311, 1], [1, P.connackRefused(Number(code)), 2]]);
    assert.equal(rs[0].status, status, `code ${code}`);
    assert.equal(rs[0].responseCode, Number(code));
  }
});

test('CONNACK 5.0 reason codes: reason string, 0x88 server, 0x86 client', () => {
  const a = run([[0, P.connect5, 1], [1, P.connack5Bad, 2]])[0];
  assert.equal(a.status, 'client_error');
  assert.equal(a.responseCode, 0x86);
  assert.equal(a.responseException, 'bad');
  const b = run([[0, P.connect5, 1], [1, P.connack5Unavailable, 2]])[0];
  assert.equal(b.status, 'server_error');
  assert.equal(b.responseCode, 0x88);
});

test('PUBLISH QoS 0 is one-way, QoS 1 → PUBACK, QoS 2 → PUBREC, PUBREL → PUBCOMP', () => {
  const rs = run([
    [0, P.connect311, 1],
    [1, P.connackOk, 2],
    [0, P.pub0, 3],
    [0, P.pub1(), 4],
    [1, P.puback(), 5],
    [0, P.pub2, 6],
    [1, P.pubrec, 7],
    [0, P.pubrel, 8],
    [1, P.pubcomp, 9],
    [0, P.disconnect, 10],
  ]);
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.countsAsRequest, r.endpoint, r.requestId, r.status, r.attributes?.response]),
    [
      ['CONNECT', true, '', undefined, 'ok', 'CONNACK'],
      ['PUBLISH', false, 'a/b', undefined, 'ok', undefined],
      ['PUBLISH', true, 'a/b', 10, 'ok', 'PUBACK'],
      ['PUBLISH', true, 'a/b', 11, 'ok', 'PUBREC'],
      ['PUBREL', true, '', 11, 'ok', 'PUBCOMP'],
      ['DISCONNECT', false, '', undefined, 'ok', undefined],
    ],
  );
  assert.equal(requests(rs).length, 4);
  assert.ok(rs.every((r) => r.requestDomain === 'c1'));
  assert.equal(rs[2].responseTimeUs! - rs[2].requestTimeUs!, 1);
});

test('SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP; SUBACK 0x80 is an error', () => {
  const rs = run([
    [0, P.connect311, 1],
    [1, P.connackOk, 2],
    [0, P.subscribe, 3],
    [1, P.subackFail, 4],
    [0, P.unsubscribe, 5],
    [1, P.unsuback, 6],
    [0, P.pingreq, 7],
    [1, P.pingresp, 8],
  ]);
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.requestResource, r.requestId, r.status, r.responseCode]),
    [
      ['CONNECT', '', undefined, 'ok', 0],
      ['SUBSCRIBE', 'a/#', 1, 'server_error', 0x80],
      ['UNSUBSCRIBE', 'a/#', 2, 'ok', undefined],
      ['PINGREQ', '', undefined, 'ok', undefined],
    ],
  );
});

test('v5 PUBACK reason code and reason string', () => {
  const rs = run([[0, P.connect5, 1], [1, H('20 03 00 00 00'), 2], [0, P.pub1(), 3], [1, P.puback5Denied, 4]]);
  assert.equal(rs[1].status, 'client_error');
  assert.equal(rs[1].responseCode, 0x87);
  assert.equal(rs[1].responseException, 'no');
});

test('server-initiated QoS 1 PUBLISH is a request of the server side', () => {
  const rs = run([[1, P.pub1(7), 1], [0, P.puback(7), 3]]);
  assert.equal(rs.length, 1);
  assert.equal(rs[0].countsAsRequest, true);
  assert.equal(rs[0].attributes?.initiator, 'server');
  assert.equal(rs[0].responseTimeUs! - rs[0].requestTimeUs!, 2);
});

test('split at every byte boundary gives the same records', () => {
  const req = Buffer.concat([P.connect311, P.subscribe, P.pub1()]);
  const resp = Buffer.concat([P.connackOk, P.suback, P.puback()]);
  for (let i = 1; i < req.length; i++) {
    for (const j of [1, 3, 5, resp.length - 1]) {
      const p = new MqttParser();
      feedInTwo(p, 0, req, i, 10, 20);
      feedInTwo(p, 1, resp, j, 30, 40);
      const rs = run([], true, p);
      assert.deepEqual(
        rs.map((r) => [r.requestType, r.status]),
        [
          ['CONNECT', 'ok'],
          ['SUBSCRIBE', 'ok'],
          ['PUBLISH', 'ok'],
        ],
        `split ${i}/${j}`,
      );
      // request time = the feed that completed the request; response time = its first byte
      assert.equal(rs[0].requestTimeUs, P.connect311.length <= i ? 10 : 20);
      assert.equal(rs[0].responseTimeUs, 30);
    }
  }
});

test('pipelined requests and out-of-order acks pair by packet id', () => {
  const rs = run([
    [0, Buffer.concat([P.pub1(1), P.pub1(2), P.pub1(3), P.pingreq, P.pingreq]), 100],
    [1, Buffer.concat([P.puback(3), P.puback(1), P.pingresp]), 200],
    [1, Buffer.concat([P.puback(2), P.pingresp]), 300],
  ]);
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.requestId, r.responseTimeUs]),
    [
      ['PUBLISH', 3, 200],
      ['PUBLISH', 1, 200],
      ['PINGREQ', undefined, 200],
      ['PUBLISH', 2, 300],
      ['PINGREQ', undefined, 300],
    ],
  );
});

test('capture starting mid-packet resyncs at the next packet', () => {
  const stream = Buffer.concat([P.pub1(5).subarray(4), P.pub1(6)]);
  const rs = run([
    [0, stream, 1],
    [1, P.puback(6), 2],
  ]);
  assert.equal(requests(rs).length, 1);
  assert.equal(rs[0].requestId, 6);
  assert.equal(rs[0].status, 'ok');
});

test('response without request is logged as a response, not a request', () => {
  const rs = run([[1, P.puback(9), 5]]);
  assert.equal(rs.length, 1);
  assert.equal(rs[0].countsAsRequest, true);
  assert.equal(rs[0].requestTimeUs, undefined);
  assert.equal(rs[0].responseTimeUs, 5);
  assert.equal(rs[0].requestType, 'PUBLISH');
  assert.equal(rs[0].requestId, 9);
});

test('gap drops partial state and resyncs', () => {
  const p = new MqttParser();
  p.feed(0, P.pub1(1).subarray(0, 5), 1);
  p.gap(0, 100);
  p.feed(0, P.pub1(2), 2);
  p.feed(1, Buffer.concat([P.puback(1), P.puback(2)]), 3);
  p.close(10);
  const rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestId, r.requestTimeUs !== undefined, r.status]),
    [
      [1, false, 'ok'],
      [2, true, 'ok'],
    ],
  );
});

test('expire() and close() turn pending requests into timeouts', () => {
  const p = new MqttParser();
  p.feed(0, P.connect311, 1000);
  p.feed(0, P.pub1(4), 5000);
  p.expire(6000, 3000);
  let rs = p.take();
  assert.deepEqual(rs.map((r) => [r.requestType, r.status]), [['CONNECT', 'timeout']]);
  p.close(7000);
  rs = p.take();
  assert.deepEqual(rs.map((r) => [r.requestType, r.status, r.requestId]), [['PUBLISH', 'timeout', 4]]);
});

test('a PUBLISH larger than the buffer is read from its first bytes and passed over', () => {
  const payload = Buffer.alloc(200_000, 0x41);
  const rem = 2 + 3 + 2 + payload.length;
  const varint: number[] = [];
  for (let x = rem; ; ) {
    const b = x % 128;
    x = Math.floor(x / 128);
    varint.push(x > 0 ? b | 0x80 : b);
    if (x === 0) break;
  }
  const pkt = Buffer.concat([Buffer.from([0x32, ...varint]), H('0003 612f62 0021'), payload]);
  const p = new MqttParser({ maxBufferBytes: 4096 });
  for (let off = 0, t = 1; off < pkt.length; off += 1460, t++) {
    p.feed(0, pkt.subarray(off, off + 1460), t);
    assert.ok(p.bufferedBytes(0) <= 4096);
  }
  p.feed(1, P.puback(0x21), 9999);
  const rs = p.take();
  assert.equal(rs.length, 1);
  assert.equal(rs[0].endpoint, 'a/b');
  assert.equal(rs[0].requestLength, pkt.length);
  assert.equal(rs[0].requestTimeUs, Math.ceil(pkt.length / 1460));
  assert.equal(p.stats.bytesSkipped, 0);
});

test('detect(): CONNECT yes, other MQTT maybe, other protocols no', () => {
  assert.equal(detectMqtt(0, P.connect311, 1883), 'yes');
  assert.equal(detectMqtt(0, P.connect31, 1883), 'yes');
  assert.equal(detectMqtt(0, P.connect5, 1883), 'yes');
  assert.equal(detectMqtt(0, P.pingreq, 1883), 'maybe');
  assert.equal(detectMqtt(1, Buffer.concat([P.puback(1), P.puback(2)]), 1883), 'maybe');
  const others: Record<string, Buffer> = {
    http: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    tls: H('16 0301 00c8 01 0000c4 0303' + '00'.repeat(32)),
    mysqlGreeting: H('4a0000 00 0a 352e372e3238 00 08000000'),
    redisInline: Buffer.from('PING\r\n'),
    redisResp: Buffer.from('*1\r\n$4\r\nPING\r\n'),
    kafka: H('00000023 0012 0003 00000001 0007 636c69656e74 00'),
    dubbo: H('dabbc2000000000000000001000000100000'),
    connectOtherName: H('10 0e 0004 4d515458 04 02 003c 0002 6331'),
  };
  for (const [name, b] of Object.entries(others)) assert.notEqual(detectMqtt(0, b, 1883), 'yes', name);
  for (const name of ['http', 'tls', 'redisInline', 'redisResp', 'dubbo']) assert.equal(detectMqtt(0, others[name], 80), 'no', name);
  let yes = 0;
  const random = new Random(12345);
  for (let i = 0; i < 20000; i++) if (detectMqtt(0, random.bytes(1 + random.int(64)), 0) === 'yes') yes++;
  assert.equal(yes, 0);
});

test('fuzz: 100,000 mutated packets never throw, never hang, stay bounded', () => {
  const pool = Object.values(P).map((v) => (typeof v === 'function' ? v(3) : v));
  const random = new Random(42);
  const max = 2048;
  const start = Date.now();
  // Mutations: bit flips, truncation, a random first remaining-length byte, random bytes, none.
  const options: MutateOptions = { kinds: ['flip', 'truncate', 'length', 'random', 'none'], length: { bytes: 1, at: [1] }, randomMax: 40 };
  fuzzParser(random, {
    messages: 100_000,
    message: () => mutate(random.pick(pool), random, options),
    create: () => new MqttParser({ maxBufferBytes: max }),
    gapMax: 10,
    maxBuffered: max,
  });
  assert.ok(Date.now() - start < 60_000);
});

// ---- corpus ----

interface MqttOracle {
  requests: number;
  responses: number;
  errors: number;
  status_counts: Record<string, number>;
  msgtype_counts: Record<string, number>;
  transactions: { endpoint: string; rt_s: number }[];
}

test('corpus: every MQTT capture against its tshark oracle', (t) => {
  const dir = corpusDir();
  if (!dir || !existsSync(join(dir, 'mqtt'))) {
    t.skip('corpus not found');
    return;
  }
  const files = readdirSync(join(dir, 'mqtt')).filter((f) => /\.pcapn?g?$/.test(f));
  assert.equal(files.length, 16);
  for (const f of files) {
    const path = join(dir, 'mqtt', f);
    const oracle = JSON.parse(readFileSync(path + '.oracle.json', 'utf8')).l7.mqtt as MqttOracle;
    const flows = parseCapture(path, mqttModule);
    const rs = flows.flatMap((fl) => fl.records);
    const reqs = rs.filter((r) => r.countsAsRequest);
    const resps = rs.filter((r) => r.responseTimeUs !== undefined);
    const errs = resps.filter((r) => r.status === 'client_error' || r.status === 'server_error');
    assert.equal(reqs.length, oracle.requests, `${f} requests`);
    assert.equal(resps.length, oracle.responses, `${f} responses`);
    assert.equal(errs.length, oracle.errors, `${f} errors`);
    const status: Record<string, number> = {};
    for (const r of resps) {
      const k = `${r.attributes?.response} ${r.status === 'ok' ? 'ok' : 'error'}`;
      status[k] = (status[k] ?? 0) + 1;
    }
    assert.deepEqual(status, oracle.status_counts, `${f} status`);
    const ours = resps
      .filter((r) => r.requestTimeUs !== undefined)
      .map((r) => ({ endpoint: `${r.requestType} ${r.endpoint}`.trim(), rt: r.responseTimeUs! - r.requestTimeUs! }))
      .sort((a, b) => a.endpoint.localeCompare(b.endpoint) || a.rt - b.rt);
    const theirs = oracle.transactions
      .map((x) => ({ endpoint: x.endpoint, rt: Math.round(x.rt_s * 1e6) }))
      .sort((a, b) => a.endpoint.localeCompare(b.endpoint) || a.rt - b.rt);
    assert.equal(ours.length, theirs.length, `${f} transactions`);
    for (let i = 0; i < ours.length; i++) {
      assert.equal(ours[i].endpoint, theirs[i].endpoint, `${f} endpoint ${i}`);
      assert.ok(Math.abs(ours[i].rt - theirs[i].rt) <= 1, `${f} rt ${ours[i].endpoint}: ${ours[i].rt} vs ${theirs[i].rt}`);
    }
    for (const fl of flows) assert.equal(fl.parser.stats.parseErrors, 0, `${f} parse errors`);
    // every MQTT packet tshark saw was parsed (stats.messages counts them all, one-way ones included)
    const packets = Object.values(oracle.msgtype_counts).reduce((a, b) => a + b, 0);
    assert.equal(
      flows.reduce((a, fl) => a + fl.parser.stats.messages, 0),
      packets,
      `${f} packets`,
    );
  }
});
