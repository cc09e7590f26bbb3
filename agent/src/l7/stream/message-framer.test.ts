import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParserStats } from '../l7-parser';
import { DROP, Framing, MessageFramer, NEED_MORE } from './message-framer';

/**
 * A toy protocol: magic 0xaa, a 2-byte big-endian body length, the body. A body starting with
 * '!' is unreadable (dropped whole); one starting with '?' is taken for a false boundary.
 */
const MAGIC = 0xaa;
const HEADER = 3;

function msg(body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const h = Buffer.alloc(HEADER);
  h[0] = MAGIC;
  h.writeUInt16BE(b.length, 1);
  return Buffer.concat([h, b]);
}

interface Emitted {
  text: string;
  complete: boolean;
  startTs: number;
  endTs: number;
}

/** The toy framing: garbage is passed over up to the next magic byte. */
function toyFrame(buf: Buffer, at: number): Framing<number> {
  if (buf[at] !== MAGIC) {
    const next = buf.indexOf(MAGIC, at + 1);
    return { kind: 'skip', bytes: (next < 0 ? buf.length : next) - at };
  }
  if (buf.length - at < HEADER) return NEED_MORE;
  const bodyLength = buf.readUInt16BE(at + 1);
  return { kind: 'message', header: bodyLength, headerLength: HEADER, length: HEADER + bodyLength };
}

function harness(maxBuffer = 64, frame = toyFrame): { framer: MessageFramer<number, Emitted>; out: Emitted[]; stats: ParserStats; desyncs: () => number } {
  const out: Emitted[] = [];
  const stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  let desyncs = 0;
  const framer = new MessageFramer<number, Emitted>(
    {
      headerRoom: HEADER,
      frame,
      decode: (bodyLength, body, complete) => {
        assert.equal(complete, body.length === bodyLength);
        if (body[0] === 0x21) return DROP;
        if (body[0] === 0x3f) return { kind: 'skip', bytes: 1 };
        return { kind: 'message', message: { text: body.toString(), complete, startTs: 0, endTs: 0 } };
      },
      emit: (m, startTs, endTs) => {
        stats.messages++;
        out.push({ ...m, startTs, endTs });
      },
      desync: () => {
        desyncs++;
      },
    },
    maxBuffer,
    stats,
  );
  return { framer, out, stats, desyncs: () => desyncs };
}

const texts = (out: Emitted[]): string[] => out.map((m) => m.text);

test('split at every byte boundary gives the same messages', () => {
  const stream = Buffer.concat([msg('alpha'), msg(''), msg('a somewhat longer body'), msg('z')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const h = harness();
    h.framer.feed(stream.subarray(0, cut), 1);
    h.framer.feed(stream.subarray(cut), 2);
    assert.deepEqual(texts(h.out), ['alpha', '', 'a somewhat longer body', 'z'], `cut at ${cut}`);
    assert.equal(h.stats.bytesSkipped, 0);
    assert.equal(h.framer.bufferedBytes, 0);
  }
  const h = harness();
  for (let i = 0; i < stream.length; i++) h.framer.feed(stream.subarray(i, i + 1), i);
  assert.deepEqual(texts(h.out), ['alpha', '', 'a somewhat longer body', 'z']);
  // Each message spans from the capture time of its first byte to that of its last.
  assert.deepEqual(
    h.out.map((m) => [m.startTs, m.endTs]),
    [
      [0, 7],
      [8, 10],
      [11, 35],
      [36, 39],
    ],
  );
});

test('several messages per feed; a message begun earlier keeps its start time', () => {
  const a = msg('first');
  const h = harness();
  h.framer.feed(a.subarray(0, 4), 10);
  assert.equal(h.framer.bufferedBytes, 4);
  h.framer.feed(Buffer.concat([a.subarray(4), msg('second'), msg('third'), msg('fou')]), 20);
  assert.deepEqual(
    h.out.map((m) => [m.text, m.startTs, m.endTs]),
    [
      ['first', 10, 20],
      ['second', 20, 20],
      ['third', 20, 20],
      ['fou', 20, 20],
    ],
  );
  assert.equal(h.framer.bufferedBytes, 0);
  // A trailing partial message waits, timed from the feed that brought its first byte.
  h.framer.feed(Buffer.concat([msg('x'), msg('tail').subarray(0, 5)]), 30);
  assert.equal(h.framer.bufferedBytes, 5);
  h.framer.feed(msg('tail').subarray(5), 40);
  assert.deepEqual(h.out.slice(4).map((m) => [m.text, m.startTs, m.endTs]), [
    ['x', 30, 30],
    ['tail', 30, 40],
  ]);
});

test('a message larger than the buffer is read from its first bytes and passed over, bounded', () => {
  const body = Buffer.alloc(5000, 0x41);
  body.write('head', 0);
  const stream = Buffer.concat([msg('before'), msg(body), msg('after')]);
  const h = harness(64);
  let t = 0;
  for (let off = 0; off < stream.length; off += 7) {
    h.framer.feed(stream.subarray(off, off + 7), ++t);
    assert.ok(h.framer.bufferedBytes <= 64);
  }
  assert.deepEqual(texts(h.out), ['before', body.subarray(0, 64 - HEADER).toString(), 'after']);
  assert.equal(h.out[1].complete, false);
  // The large message is emitted when its last byte has passed: start of its first chunk, end of its last.
  const first = msg('before').length;
  const last = first + HEADER + body.length - 1;
  assert.deepEqual([h.out[1].startTs, h.out[1].endTs], [Math.floor(first / 7) + 1, Math.floor(last / 7) + 1]);
  assert.equal(h.stats.bytesSkipped, 0);
});

test('a gap inside a message being passed over keeps the framing; another gap resets it', () => {
  const big = msg(Buffer.alloc(1000, 0x42));
  const h = harness(64);
  h.framer.feed(big.subarray(0, 100), 1);
  h.framer.gap(500);
  h.framer.feed(Buffer.concat([big.subarray(600), msg('next')]), 2);
  assert.deepEqual(texts(h.out), ['B'.repeat(61), 'next']);
  assert.equal(h.desyncs(), 0);
  // A gap that swallows the end of the large message loses that message but not the framing.
  h.framer.feed(big.subarray(0, 100), 3);
  h.framer.gap(big.length - 100);
  h.framer.feed(msg('again'), 4);
  assert.deepEqual(texts(h.out).slice(2), ['again']);
  assert.equal(h.desyncs(), 0);
  // A gap elsewhere drops the buffered bytes.
  h.framer.feed(msg('lost').subarray(0, 4), 5);
  h.framer.gap(10);
  assert.equal(h.framer.bufferedBytes, 0);
  assert.equal(h.stats.bytesSkipped, 4);
  assert.equal(h.desyncs(), 1);
});

test('garbage and false boundaries are skipped up to the next message (resync)', () => {
  const garbage = Buffer.from('garbage');
  const falseStart = msg('?not really');
  const stream = Buffer.concat([garbage, msg('one'), Buffer.from('xx'), falseStart, msg('two')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const h = harness();
    h.framer.feed(stream.subarray(0, cut), 1);
    h.framer.feed(stream.subarray(cut), 2);
    assert.deepEqual(texts(h.out), ['one', 'two'], `cut at ${cut}`);
    assert.equal(h.stats.bytesSkipped, garbage.length + 2 + falseStart.length, `cut at ${cut}`);
  }
});

test('an unreadable message is dropped whole, not counted as skipped', () => {
  const h = harness();
  h.framer.feed(Buffer.concat([msg('!bad'), msg('good')]), 1);
  assert.deepEqual(texts(h.out), ['good']);
  assert.equal(h.stats.bytesSkipped, 0);
});

test('bytes that never frame are dropped once past the buffer bound', () => {
  const h = harness(64, () => NEED_MORE);
  for (let i = 0; i < 10; i++) {
    h.framer.feed(Buffer.alloc(10), i);
    assert.ok(h.framer.bufferedBytes <= 64);
  }
  assert.equal(h.stats.bytesSkipped, 70);
  assert.equal(h.desyncs(), 1);
  assert.equal(h.framer.bufferedBytes, 30);
  assert.deepEqual(h.out, []);
});
