import { test } from 'node:test';
import assert from 'node:assert/strict';
import { feedInTwo, LengthField, mutate, Random } from '../../testing/fuzz';
import { Direction, L7Record } from '../l7-parser';
import { KafkaParser, kafkaModule } from './kafka-parser';
import {
  apiVersionsV3Request,
  apiVersionsV3Response,
  fetchV12Request,
  fetchV12Response,
  frame,
  heartbeatV4Request,
  heartbeatV4Response,
  listOffsetsV0Request,
  metadataV1AllRequest,
  metadataV1Response,
  produceV2Request,
  produceV2Response,
} from './fixtures';
import { KafkaReader } from './primitives';

function run(steps: [Direction, Buffer, number][], parser = new KafkaParser()): L7Record[] {
  for (const [d, b, t] of steps) parser.feed(d, b, t);
  return parser.take();
}

test('Produce v2 request/response pair', () => {
  const recs = run([
    [0, produceV2Request(), 1_000],
    [1, produceV2Response(), 1_500],
  ]);
  assert.equal(recs.length, 1);
  const r = recs[0];
  assert.equal(r.protocol, 'kafka');
  assert.equal(r.requestType, 'Produce');
  assert.equal(r.version, '2');
  assert.equal(r.requestDomain, 'orders');
  assert.equal(r.requestResource, 'orders-3');
  assert.equal(r.endpoint, 'orders');
  assert.equal(r.requestId, 7);
  assert.equal(r.status, 'ok');
  assert.equal(r.responseCode, 0);
  assert.equal(r.requestTimeUs, 1_000);
  assert.equal(r.responseTimeUs, 1_500);
  assert.equal(r.requestLength, 50);
  assert.equal(r.responseLength, 50);
  assert.equal(r.countsAsRequest, true);
  assert.deepEqual(r.attributes, { api_version: '2', client_id: 'client' });
});

test('split at every byte boundary: same record, times of the completing feeds', () => {
  const pairs: [Buffer, Buffer][] = [
    [produceV2Request(), produceV2Response()],
    [fetchV12Request(), fetchV12Response(9, 1)],
    [heartbeatV4Request(), heartbeatV4Response()],
  ];
  for (const [req, resp] of pairs) {
    const whole = run([
      [0, req, 10],
      [1, resp, 30],
    ])[0];
    for (let i = 1; i < req.length; i++) {
      for (const j of [1, 4, 5, 8, resp.length - 1]) {
        const recs = run([
          [0, req.subarray(0, i), 5],
          [0, req.subarray(i), 10],
          [1, resp.subarray(0, j), 20],
          [1, resp.subarray(j), 30],
        ]);
        assert.deepEqual(recs, [whole], `split request at ${i}, response at ${j}`);
      }
    }
    for (let j = 1; j < resp.length; j++) {
      const p = new KafkaParser();
      p.feed(0, req, 10);
      p.feed(1, resp.subarray(0, j), 20);
      assert.equal(p.take().length, 0);
      p.feed(1, resp.subarray(j), 30);
      assert.deepEqual(p.take(), [whole]);
    }
  }
});

test('several messages per feed, responses out of order, paired by correlation id', () => {
  const reqs = Buffer.concat([produceV2Request(21), heartbeatV4Request(22), fetchV12Request(23)]);
  const resps = Buffer.concat([fetchV12Response(23), produceV2Response(21, 3), heartbeatV4Response(22)]);
  const p = new KafkaParser();
  const recs = run(
    [
      [0, reqs, 100],
      [1, resps.subarray(0, 10), 200],
      [1, resps.subarray(10), 300],
    ],
    p,
  );
  assert.deepEqual(
    recs.map((r) => [r.requestType, r.requestId, r.status, r.responseCode, r.responseTimeUs]),
    [
      ['Fetch', 23, 'ok', 0, 300],
      ['Produce', 21, 'server_error', 3, 300],
      ['Heartbeat', 22, 'ok', 0, 300],
    ],
  );
  assert.equal(p.pendingCount, 0);
  assert.equal(p.stats.messages, 6);
});

test('flexible versions: header v2 requests, response header v1 and ApiVersions v0 exception', () => {
  const recs = run([
    [0, apiVersionsV3Request(), 1],
    [1, apiVersionsV3Response(11, 35), 2],
    [0, fetchV12Request(), 3],
    [1, fetchV12Response(9, 1), 4],
    [0, heartbeatV4Request(), 5],
    [1, heartbeatV4Response(12, 27), 6],
  ]);
  assert.deepEqual(
    recs.map((r) => [r.requestType, r.version, r.endpoint, r.requestResource, r.status, r.responseCode, r.responseException]),
    [
      ['ApiVersions', '3', 'ApiVersions', '', 'server_error', 35, 'UNSUPPORTED_VERSION'],
      ['Fetch', '12', 'orders', 'orders-1', 'server_error', 1, 'OFFSET_OUT_OF_RANGE'],
      ['Heartbeat', '4', 'Heartbeat', '', 'server_error', 27, 'REBALANCE_IN_PROGRESS'],
    ],
  );
  assert.equal(recs[2].attributes?.group_id, 'g1');
});

test('error codes: per partition, per topic; first non-zero wins; zero is ok', () => {
  const meta = run([
    [0, metadataV1AllRequest(), 1],
    [1, metadataV1Response(13, 0, 5), 2],
    [0, metadataV1AllRequest(14), 3],
    [1, metadataV1Response(14, 3, 5), 4],
    [0, metadataV1AllRequest(15), 5],
    [1, metadataV1Response(15), 6],
  ]);
  assert.deepEqual(
    meta.map((r) => [r.status, r.responseCode]),
    [
      ['server_error', 5],
      ['server_error', 3],
      ['ok', 0],
    ],
  );
  // Metadata for all topics: the response's first topic is not taken as the request's topic.
  assert.equal(meta[0].endpoint, 'Metadata');
});

test('Produce acks=0 is logged one-way, not counted as a request', () => {
  const p = new KafkaParser();
  const recs = run([[0, produceV2Request(5, 0), 1]], p);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].countsAsRequest, false);
  assert.equal(p.pendingCount, 0);
});

test('responses without a known request are counted and skipped', () => {
  const p = new KafkaParser();
  const recs = run(
    [
      [1, produceV2Response(99), 1],
      [0, heartbeatV4Request(), 2],
      [1, heartbeatV4Response(), 3],
    ],
    p,
  );
  assert.equal(recs.length, 1);
  assert.equal(p.orphanResponses, 1);
  assert.equal(recs[0].requestType, 'Heartbeat');
});

test('capture starting mid-message: resync on the next plausible request', () => {
  const req = produceV2Request();
  const p = new KafkaParser();
  const recs = run(
    [
      [0, Buffer.concat([req.subarray(17), heartbeatV4Request()]), 1],
      [1, heartbeatV4Response(), 2],
    ],
    p,
  );
  assert.deepEqual(
    recs.map((r) => r.requestType),
    ['Heartbeat'],
  );
  assert.equal(p.stats.bytesSkipped, req.length - 17);
  // The response side starting mid-frame resyncs on a correlation id we wait for.
  const q = new KafkaParser();
  q.feed(0, fetchV12Request(), 1);
  q.feed(1, Buffer.concat([produceV2Response().subarray(9), fetchV12Response()]), 2);
  assert.deepEqual(
    q.take().map((r) => [r.requestType, r.status]),
    [['Fetch', 'ok']],
  );
  assert.equal(q.stats.bytesSkipped, produceV2Response().length - 9);
});

test('gap: partial state dropped, parsing resumes at the next message', () => {
  const p = new KafkaParser();
  const req = produceV2Request();
  p.feed(0, req.subarray(0, 20), 1);
  p.gap(0, 30);
  p.feed(0, heartbeatV4Request(), 2);
  p.feed(1, heartbeatV4Response(), 3);
  const recs = p.take();
  assert.deepEqual(
    recs.map((r) => r.requestType),
    ['Heartbeat'],
  );
  assert.equal(p.stats.bytesSkipped, 20);
  // A gap in the response direction: the request times out on close.
  p.feed(0, produceV2Request(40), 4);
  p.feed(1, produceV2Response(40).subarray(0, 10), 5);
  p.gap(1, 40);
  p.close(100);
  assert.deepEqual(
    p.take().map((r) => [r.requestId, r.status]),
    [[40, 'timeout']],
  );
});

test('expire() and close() turn pending requests into timeouts', () => {
  const p = new KafkaParser();
  p.feed(0, listOffsetsV0Request(1), 1_000);
  p.feed(0, listOffsetsV0Request(2), 5_000);
  p.expire(6_000, 2_000);
  let recs = p.take();
  assert.deepEqual(
    recs.map((r) => [r.requestId, r.status, r.requestDomain, r.requestResource, r.responseLength]),
    [[1, 'timeout', 'orders', 'orders-0', -1]],
  );
  p.close(7_000);
  recs = p.take();
  assert.deepEqual(
    recs.map((r) => [r.requestId, r.status]),
    [[2, 'timeout']],
  );
  assert.equal(p.pendingCount, 0);
});

test('a body that does not parse keeps the header fields', () => {
  // Produce v2 whose topic array claims 1000 topics in 10 bytes.
  const bad = frame('0000 0002 00000031 0006 636c69656e74 0001 00001388 000003e8 0006 6f72');
  const p = new KafkaParser();
  p.feed(0, bad, 1);
  p.feed(1, frame('00000031 00000001 ffff'), 2);
  const recs = p.take();
  assert.equal(recs.length, 1);
  assert.equal(recs[0].requestType, 'Produce');
  assert.equal(recs[0].requestId, 0x31);
  assert.equal(recs[0].endpoint, 'Produce');
  assert.equal(recs[0].status, 'ok');
  assert.equal(p.stats.parseErrors, 2);
});

test('oversized frames: bounded prefix kept, rest skipped, next frame parsed', () => {
  const records = Buffer.alloc(5_000, 0x41);
  const big = frame(
    `0000 0002 00000005 0006 636c69656e74 0001 00001388 00000001 0006 6f7264657273 00000001 00000002 ${records.length.toString(16).padStart(8, '0')} ${records.toString('hex')}`,
  );
  const p = new KafkaParser({ maxBufferBytes: 1024 });
  for (let o = 0; o < big.length; o += 700) {
    p.feed(0, big.subarray(o, o + 700), o);
    assert.ok(p.bufferedBytes(0) <= 1024 + 700);
  }
  p.feed(0, heartbeatV4Request(), 9_000);
  p.feed(1, Buffer.concat([heartbeatV4Response(), produceV2Response(5)]), 9_500);
  const recs = p.take();
  assert.deepEqual(
    recs.map((r) => [r.requestType, r.requestResource, r.requestLength, r.requestTimeUs]),
    [
      ['Heartbeat', '', heartbeatV4Request().length, 9_000],
      ['Produce', 'orders-2', big.length, 4_900],
    ],
  );
  assert.equal(p.stats.parseErrors, 0);
});

test('detect(): plausible requests yes, responses maybe, other protocols no', () => {
  const d = kafkaModule.detect;
  for (const m of [produceV2Request(), fetchV12Request(), apiVersionsV3Request(), heartbeatV4Request(), listOffsetsV0Request()]) {
    assert.equal(d(0, m, 9092), 'yes');
    assert.equal(d(0, m, 1234), 'yes');
  }
  assert.equal(d(0, Buffer.concat([produceV2Request(), heartbeatV4Request()]), 9092), 'yes');
  assert.equal(d(0, fetchV12Request().subarray(0, 30), 9092), 'yes'); // split, client id complete
  assert.equal(d(0, fetchV12Request().subarray(0, 12), 9092), 'maybe');
  assert.equal(d(1, produceV2Response(), 9092), 'maybe');
  const others: Buffer[] = [
    Buffer.from('GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n'),
    Buffer.from('POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n'),
    Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    Buffer.from('160301007a010000760303' + '00'.repeat(100), 'hex'), // TLS ClientHello
    Buffer.from('4a0000000a352e372e3130000b000000' + '41'.repeat(60), 'hex'), // MySQL greeting
    Buffer.from('2100000003' + Buffer.from('select 1').toString('hex'), 'hex'), // MySQL COM_QUERY
    Buffer.from('PING\r\n'),
    Buffer.from('*1\r\n$4\r\nPING\r\n'),
    Buffer.from('+OK\r\n'),
    Buffer.from('dabbc20000000000000000010000001e' + '00'.repeat(30), 'hex'), // Dubbo
    Buffer.from('101000044d5154540402003c0000', 'hex'), // MQTT CONNECT
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  ];
  for (const o of others) {
    assert.equal(d(0, o, 9092), 'no', o.toString('latin1').slice(0, 20));
    assert.notEqual(d(1, o, 9092), 'yes');
  }
  const random = new Random(12345);
  for (let i = 0; i < 20_000; i++) {
    const b = random.bytes(1 + random.int(200));
    assert.notEqual(d(0, b, 9092), 'yes');
    assert.notEqual(d(1, b, 9092), 'yes');
  }
});

test('primitives: varints, compact strings, tagged fields, bounds', () => {
  const b = Buffer.from('ac0203414202010174ff', 'hex');
  const k = new KafkaReader(b);
  assert.equal(k.uvarint(), 300);
  assert.equal(k.compactString(), 'AB');
  k.taggedFields(true); // 2 fields: (tag 1, size 1, 0x74), then tag 0xff runs off the end
  assert.equal(k.ok, false);
  const z = new KafkaReader(Buffer.from('03', 'hex'));
  assert.equal(z.varint(), -2);
  const long = new KafkaReader(Buffer.from('ffffffffff01', 'hex'));
  long.uvarint();
  assert.equal(long.ok, false);
  const arr = new KafkaReader(Buffer.from('7fffffff', 'hex'));
  assert.equal(arr.arrayLength(false), 0);
  assert.equal(arr.ok, false);
});

test('fuzz: 100,000 mutated messages never throw, never hang, stay bounded', () => {
  const bases = [
    produceV2Request(),
    produceV2Response(),
    fetchV12Request(),
    fetchV12Response(9, 1),
    apiVersionsV3Request(),
    apiVersionsV3Response(),
    heartbeatV4Request(),
    heartbeatV4Response(),
    metadataV1AllRequest(),
    metadataV1Response(),
    listOffsetsV0Request(),
  ];
  const random = new Random(987654321);
  const lengthFields: LengthField[] = [
    { bytes: 4, at: [0], small: 1 << 20 },
    { bytes: 2, from: 4 },
  ];
  const maxBufferBytes = 4096;
  let parser = new KafkaParser({ maxBufferBytes });
  const started = Date.now();
  for (let i = 0; i < 100_000; i++) {
    if (i % 500 === 0) parser = new KafkaParser({ maxBufferBytes });
    // Random sizes (small or any, negative included) and random int16 fields (counts, lengths) after the size.
    const m = mutate(random.pick(bases), random, { kinds: ['flip', 'length', 'length', 'overwrite', 'none'], length: lengthFields });
    const piece = random.int(4) === 0 ? m.subarray(0, random.int(m.length)) : m;
    const dir = random.int(2) as Direction;
    feedInTwo(parser, dir, piece, random.int(piece.length + 1), i, i);
    if (random.int(50) === 0) parser.gap(dir, random.int(100));
    if (random.int(100) === 0) parser.expire(i, 10);
    parser.take();
    assert.ok(parser.bufferedBytes(0) <= maxBufferBytes && parser.bufferedBytes(1) <= maxBufferBytes);
  }
  parser.close(1e9);
  parser.take();
  assert.ok(Date.now() - started < 60_000);
});
