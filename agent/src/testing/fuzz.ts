/**
 * Helpers for the parser fuzz and split tests: a seeded random generator, a message mutator,
 * feeding a message cut in two and a fuzz loop over a parser's whole interface. The tests keep what is protocol specific (the messages they
 * mutate, where their length fields are, what they assert).
 */
import assert from 'node:assert/strict';
import { Direction } from '../l7/l7-parser';

/** A small seeded generator (mulberry32): the same seed gives the same sequence on every run. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next value, an unsigned 32-bit integer. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n) (0 when n ≤ 0); n may be up to 2^32. */
  int(n: number): number {
    return n > 0 ? Math.floor((this.next() / 0x100000000) * n) : 0;
  }

  /** One item of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** An integer field that the 'length' mutation overwrites with a random value. */
export interface LengthField {
  /** Width in bytes (1 to 6). */
  bytes: number;
  /** Offsets the field may stand at, one picked at random; by default any offset from `from` on where it fits. */
  at?: readonly number[];
  /** With no `at`: the first offset it may stand at (default 0). */
  from?: number;
  littleEndian?: boolean;
  /** Half of the values written are below this (plausible lengths), the others anything of the width. */
  small?: number;
  /** Up to this many zero bytes are appended first, so that what the field announces may be there. */
  pad?: number;
}

/**
 * - flip: 1 to 4 bits flipped
 * - truncate: cut at a random length (possibly none, possibly all)
 * - length: a random value in a length field (`MutateOptions.length`)
 * - random: replaced by random bytes
 * - overwrite: 1 to 4 bytes set to random values
 * - none: unchanged
 */
export type Mutation = 'flip' | 'truncate' | 'length' | 'random' | 'overwrite' | 'none';

export interface MutateOptions {
  /** The kinds drawn from, each equally likely (list one twice to weight it). */
  kinds?: readonly Mutation[];
  /** The length fields of the protocol, one picked at random; or a function doing the 'length' mutation itself (text protocols). */
  length?: LengthField | readonly LengthField[] | ((m: Buffer, random: Random) => Buffer);
  /** 'random' makes a buffer of 0 to randomMax - 1 bytes (default 64). */
  randomMax?: number;
}

const DEFAULT_KINDS: readonly Mutation[] = ['flip', 'truncate', 'length', 'random'];

function writeLength(m: Buffer, field: LengthField, random: Random): Buffer {
  const out = field.pad ? Buffer.concat([m, Buffer.alloc(random.int(field.pad))]) : m;
  let at: number;
  if (field.at) at = random.pick(field.at);
  else {
    const from = field.from ?? 0;
    at = from + random.int(out.length - field.bytes - from + 1);
  }
  if (at < 0 || at + field.bytes > out.length) return out;
  const span = 2 ** (8 * field.bytes);
  const value = field.small !== undefined && random.int(2) === 0 ? random.int(field.small) : random.int(span);
  if (field.littleEndian) out.writeUIntLE(value, at, field.bytes);
  else out.writeUIntBE(value, at, field.bytes);
  return out;
}

/** A mutated copy of `message` (the original is left alone). */
export function mutate(message: Buffer, random: Random, options: MutateOptions = {}): Buffer {
  const m = Buffer.from(message);
  switch (random.pick(options.kinds ?? DEFAULT_KINDS)) {
    case 'flip':
      for (let k = random.int(4) + 1; k > 0; k--) if (m.length > 0) m[random.int(m.length)] ^= 1 << random.int(8);
      return m;
    case 'truncate':
      return m.subarray(0, random.int(m.length + 1));
    case 'length': {
      const length = options.length;
      if (length === undefined) return m;
      if (typeof length === 'function') return length(m, random);
      return writeLength(m, Array.isArray(length) ? random.pick(length as readonly LengthField[]) : (length as LengthField), random);
    }
    case 'random':
      return random.bytes(random.int(options.randomMax ?? 64));
    case 'overwrite':
      for (let k = random.int(4) + 1; k > 0; k--) if (m.length > 0) m[random.int(m.length)] = random.int(256);
      return m;
    case 'none':
      return m;
  }
}

/** What `feedInTwo` feeds: a parser, or anything else with its `feed`. */
export interface Feedable {
  feed(direction: Direction, data: Buffer, tsUs: number): void;
}

/** Feeds `data` cut at `cut`: the head at time `headUs`, the rest at `tailUs`. */
export function feedInTwo(p: Feedable, direction: Direction, data: Buffer, cut: number, headUs: number, tailUs: number): void {
  p.feed(direction, data.subarray(0, cut), headUs);
  p.feed(direction, data.subarray(cut), tailUs);
}

/** What `fuzzParser` drives: a parser with the sizes of its buffers. */
export interface FuzzedParser extends Feedable {
  gap(direction: Direction, bytes: number): void;
  expire(nowUs: number, timeoutUs: number): void;
  close(nowUs: number): void;
  take(): unknown;
  bufferedBytes(direction: Direction): number;
}

export interface FuzzParserOptions {
  /** How many messages are fed. */
  messages: number;
  /** The message fed at step `i`. */
  message: (i: number) => Buffer;
  /** A new parser: one to start with, then a fresh one (the last one closed at time i) every `renewEvery` messages. */
  create: () => FuzzedParser;
  /** What neither side may ever buffer beyond. */
  maxBuffered: number;
  /** Default 500. */
  renewEvery?: number;
  /** Every `gapEvery` messages (default 97), a gap of up to `gapMax` - 1 bytes (default 100) on the side just fed. */
  gapEvery?: number;
  gapMax?: number;
  /** Every `expireEvery` messages (default 113), expire(i, expireUs) (default 50). */
  expireEvery?: number;
  expireUs?: number;
}

/**
 * Feeds `messages` messages, each on a random side at time i, taking the records after each, and
 * asserts that neither side buffers more than `maxBuffered`.
 */
export function fuzzParser(random: Random, o: FuzzParserOptions): void {
  const { renewEvery = 500, gapEvery = 97, gapMax = 100, expireEvery = 113, expireUs = 50 } = o;
  let p = o.create();
  for (let i = 0; i < o.messages; i++) {
    if (i % renewEvery === 0) {
      p.close(i);
      p.take();
      p = o.create();
    }
    const data = o.message(i);
    const d = random.int(2) as Direction;
    p.feed(d, data, i);
    if (i % gapEvery === 0) p.gap(d, random.int(gapMax));
    if (i % expireEvery === 0) p.expire(i, expireUs);
    p.take();
    assert.ok(p.bufferedBytes(0) <= o.maxBuffered && p.bufferedBytes(1) <= o.maxBuffered, `message ${i}`);
  }
}
