import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamOutput, TcpReassembler } from './tcp-reassembler';

/** What a reassembler of direction 1 hands on; a call for another direction fails the test. */
function collect(): { out: StreamOutput; text: () => string; gaps: number[]; times: number[]; ends: number[]; waiting: boolean[] } {
  const parts: string[] = [];
  const gaps: number[] = [];
  const times: number[] = [];
  const ends: number[] = [];
  const waiting: boolean[] = [];
  return {
    out: {
      streamData: (direction, b, ts) => {
        assert.equal(direction, 1);
        parts.push(b.toString());
        times.push(ts);
      },
      streamGap: (direction, n) => {
        assert.equal(direction, 1);
        gaps.push(n);
        parts.push(`<${n}>`);
      },
      streamEnd: (direction, ts) => {
        assert.equal(direction, 1);
        ends.push(ts);
      },
      streamWaiting: (direction, w) => {
        assert.equal(direction, 1);
        waiting.push(w);
      },
    },
    text: () => parts.join(''),
    gaps,
    times,
    ends,
    waiting,
  };
}

test('in-order bytes pass straight through; retransmissions are delivered once', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1);
  r.syn(999);
  r.segment(1000, Buffer.from('hello '), 1);
  r.segment(1000, Buffer.from('hello '), 2); // full retransmission
  r.segment(1003, Buffer.from('lo world'), 3); // overlaps the first segment
  assert.equal(c.text(), 'hello world');
  assert.equal(r.stats.bytesRetransmitted, 6 + 3);
});

test('early segments wait for the hole and are delivered in order', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1);
  r.syn(0);
  r.segment(7, Buffer.from('three'), 3);
  r.segment(4, Buffer.from('two'), 2);
  assert.equal(c.text(), '');
  assert.ok(r.hasHole);
  r.segment(1, Buffer.from('one'), 1);
  assert.equal(c.text(), 'onetwothree');
  assert.deepEqual(c.times, [1, 2, 3]);
  assert.equal(r.hasHole, false, 'the queue is gone once drained');
  assert.deepEqual(c.waiting, [true, false], 'the owner heard when waiting began and ended');
});

test('a hole that never fills becomes a gap of the right size', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1);
  r.syn(0);
  r.segment(1, Buffer.from('abc'), 1);
  r.segment(10, Buffer.from('xyz'), 2);
  assert.ok(r.hasHole);
  r.skipHole();
  assert.equal(c.text(), 'abc<6>xyz');
  assert.deepEqual([r.stats.gaps, r.stats.bytesLost], [1, 6]);
});

test('too much waiting data skips the hole by itself (bounded memory)', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1, 10, 64);
  r.syn(0);
  r.segment(100, Buffer.from('0123456789'), 1);
  r.segment(110, Buffer.from('abcdef'), 2);
  assert.equal(c.text(), '<99>0123456789abcdef');
});

test('sequence numbers wrap around 2^32', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1);
  r.syn(0xfffffffd);
  r.segment(0xfffffffe, Buffer.from('ab'), 1);
  r.segment(0, Buffer.from('cd'), 2);
  r.segment(0xffffffff, Buffer.from('bcd'), 3);
  assert.equal(c.text(), 'abcd');
});

test('a capture that starts mid-stream begins at the first data seen', () => {
  const c = collect();
  const r = new TcpReassembler(c.out, 1);
  r.segment(5000, Buffer.from('mid'), 1);
  r.segment(5003, Buffer.from('dle'), 2);
  assert.equal(c.text(), 'middle');
});

test('the FIN ends the direction after every byte before it, even when it arrives early', () => {
  const c = collect();
  const ends = c.ends;
  const r = new TcpReassembler(c.out, 1);
  r.syn(99);
  r.segment(100, Buffer.from('abc'), 1);
  r.segment(106, Buffer.from('ghi'), 3); // early: 103..105 missing
  r.fin(109, 4);
  assert.deepEqual(ends, [], 'bytes before the FIN are still missing');
  r.segment(103, Buffer.from('def'), 5);
  assert.equal(c.text(), 'abcdefghi');
  assert.deepEqual(ends, [4]);
  r.fin(109, 6); // a retransmitted FIN ends nothing twice
  assert.deepEqual(ends, [4]);
});

test('a FIN behind a hole that never fills ends the direction when the hole is given up', () => {
  const c = collect();
  const ends = c.ends;
  const r = new TcpReassembler(c.out, 1);
  r.syn(0);
  r.segment(1, Buffer.from('a'), 1);
  r.segment(5, Buffer.from('e'), 2);
  r.fin(6, 3);
  r.skipHole();
  assert.equal(c.text(), 'a<3>e');
  assert.deepEqual(ends, [3]);
});
