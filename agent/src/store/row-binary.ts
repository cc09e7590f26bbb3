import { micros } from '../util/time-format';
import { Column, mergeFunction, TableDef } from './tables';

/**
 * ClickHouse RowBinary rows (every column of the table, in its order, little-endian) appended
 * into a growable byte buffer that is kept zero beyond `size`.
 *
 * Hand-written for the tables written per flow, per request and per second (the map rows, the
 * flow and request logs): ClickHouse parses RowBinary about twice as fast as JSONEachRow, and the
 * agent writes it without formatting a digit or a member name. Because the buffer is zero where
 * nothing was written yet, a column holding its default (0, '', an empty map) costs no write at
 * all: the writer only moves past it. Strings are length-prefixed bytes, so tabs, newlines,
 * quotes, NUL or any byte need no escaping.
 *
 * A writer asks for room for its largest row with `reserve`, writes at offsets from the one it got
 * back with the `put*` functions, and ends the row with `commit`.
 */
export class RowBinaryBuffer {
  data: Buffer;
  size = 0;
  rows = 0;

  /** `initial`: a size, or a buffer to use that is all zero. */
  constructor(
    readonly table: TableDef,
    initial: number | Buffer = 1 << 20,
  ) {
    this.data = typeof initial === 'number' ? Buffer.alloc(initial) : initial;
  }

  /** Makes room for `bytes` more bytes; returns the offset the next row starts at. */
  reserve(bytes: number): number {
    if (this.size + bytes > this.data.length) this.grow(bytes);
    return this.size;
  }

  /** Ends the row written up to `end`. */
  commit(end: number): void {
    this.size = end;
    this.rows++;
  }

  bytes(): Buffer {
    return this.data.subarray(0, this.size);
  }

  /** Forgets the rows, keeping the memory (zeroed again). */
  reset(): void {
    this.data.fill(0, 0, this.size);
    this.size = 0;
    this.rows = 0;
  }

  /** The rows as objects, as `JsonRowBuffer.parse` gives them (tests and tools). */
  parse<T = Record<string, unknown>>(): T[] {
    return decodeRowBinary(this.table, this.bytes()) as T[];
  }

  private grow(extra: number): void {
    this.data = grownZeroed(this.data, this.size, this.size + extra + 1024);
  }
}

/** A zeroed buffer twice `b`'s size, or `needed` bytes if more, holding `b`'s first `keep` bytes. */
export function grownZeroed(b: Buffer, keep: number, needed: number): Buffer {
  const bigger = Buffer.alloc(Math.max(b.length * 2, needed));
  b.copy(bigger, 0, 0, keep);
  return bigger;
}

// ---------------------------------------------------------------- writers (return the next offset)

export function putU8(d: Uint8Array, at: number, v: number): number {
  d[at] = v;
  return at + 1;
}

export function putU16(d: Uint8Array, at: number, v: number): number {
  d[at] = v;
  d[at + 1] = v >>> 8;
  return at + 2;
}

export function putU32(d: Uint8Array, at: number, v: number): number {
  d[at] = v;
  d[at + 1] = v >>> 8;
  d[at + 2] = v >>> 16;
  d[at + 3] = v >>> 24;
  return at + 4;
}

/**
 * An unsigned 64-bit integer from a number below 2^53; like the JSON rows did, a fraction is
 * rounded and a negative value is 0 (nothing to write: the buffer is zero already).
 */
export function putU64(d: Uint8Array, at: number, value: number): number {
  if (value > 0) {
    const v = Math.round(value);
    if (v <= 0xffffffff) {
      // The high half stays zero.
      d[at] = v;
      d[at + 1] = v >>> 8;
      d[at + 2] = v >>> 16;
      d[at + 3] = v >>> 24;
      return at + 8;
    }
    const lo = v >>> 0;
    const hi = (v - lo) / 4294967296;
    d[at] = lo;
    d[at + 1] = lo >>> 8;
    d[at + 2] = lo >>> 16;
    d[at + 3] = lo >>> 24;
    d[at + 4] = hi;
    d[at + 5] = hi >>> 8;
    d[at + 6] = hi >>> 16;
    d[at + 7] = hi >>> 24;
  }
  return at + 8;
}

/** A signed 64-bit integer (DateTime64 ticks) from a number of magnitude below 2^53. */
export function putI64(d: Uint8Array, at: number, value: number): number {
  const v = Math.round(value);
  const lo = v >>> 0;
  // Two's complement: floor division keeps the high word right for negative values.
  const hi = Math.floor((v - lo) / 4294967296) >>> 0;
  putU32(d, at, lo);
  return putU32(d, at + 4, hi);
}

/** Pre-encoded bytes (a string with its length prefix, from `encodeString`). */
export function putBytes(d: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n; i++) d[at + i] = bytes[i];
  return at + n;
}

/** Copies `d[from, from + n)` to `at` (a string written earlier in the same row). */
export function putCopy(d: Uint8Array, at: number, from: number, n: number): number {
  for (let i = 0; i < n; i++) d[at + i] = d[from + i];
  return at + n;
}

/** A String value: LEB128 length, then the UTF-8 bytes. */
export function encodeString(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(varintLength(utf8.length) + utf8.length);
  let at = 0;
  let n = utf8.length;
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  utf8.copy(out, at);
  return out;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n >>>= 7;
    len++;
  }
  return len;
}

/** A LEB128 length (a String's bytes, a Map's entries) below 2^32. */
export function putVarint(d: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    d[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  d[at] = n;
  return at + 1;
}

/**
 * Most bytes `putString` writes for `text`: a UTF-16 unit is at most 3 UTF-8 bytes (a surrogate
 * pair, two units, is 4), and the length prefix at most 5.
 */
export function stringBound(text: string): number {
  return 3 * text.length + 5;
}

/** Longest text `putString` copies unit by unit; longer text goes to Node's encoder. */
const SHORT_TEXT = 32;

/**
 * A String value from JS text; returns the next offset. Short ASCII text (nearly every tag,
 * method and path) is copied unit by unit: a call of `Buffer.write` costs about 45 ns, the loop
 * about 1.2 ns a unit. Longer text (user agents, trace ids) and anything not ASCII take the UTF-8
 * encoder. Writes only inside the value's bytes, so the buffer stays zero beyond it.
 */
export function putString(d: Buffer, at: number, text: string): number {
  const n = text.length;
  // Where the bytes start if every unit is ASCII (bytes = units).
  const from = n < 0x80 ? at + 1 : at + varintLength(n);
  if (n > SHORT_TEXT) {
    // As many bytes as units only when every unit is ASCII.
    if (d.write(text, from, 'utf8') === n) {
      putVarint(d, at, n);
      return from + n;
    }
  } else {
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      d[from + i++] = c;
    }
    if (i === n) {
      putVarint(d, at, n);
      return from + n;
    }
  }
  // Not ASCII: at least as many bytes as units, so this overwrites all the ASCII copy touched.
  const bytes = Buffer.byteLength(text, 'utf8');
  const start = putVarint(d, at, bytes);
  return start + d.write(text, start, 'utf8');
}

/** A DateTime (whole seconds) from microseconds; times before 1970 are 1970. */
export function putSecondsOfMicros(d: Uint8Array, at: number, us: number): number {
  const t = Math.floor(us / 1_000_000);
  return putU32(d, at, t > 0 ? t : 0);
}

/** Fails at load when a table's column is not of the type a RowBinary writer writes for it. */
export function expectColumnType(table: TableDef, column: Column, wanted: string): void {
  if (column.type !== wanted) throw new Error(`${table.name}.${column.name} is ${column.type}; the RowBinary writer writes ${wanted}`);
}

/**
 * What a RowBinary writer does with a column: the op `known` gives its name, checked against the
 * type the writer writes, or `skip` (the column left at its default) for a name it does not know;
 * `width` is the bytes of that default.
 */
export function columnOp<Op extends number>(
  table: TableDef,
  column: Column,
  known: Readonly<Record<string, readonly [Op, string]>>,
  skip: NoInfer<Op>,
): { op: Op; type: string; width: number } {
  const [op, type] = known[column.name] ?? [skip, column.type];
  expectColumnType(table, column, type);
  return { op, type, width: defaultWidth(type) };
}

/** Bytes a column holding its default takes in RowBinary (all of them zero). */
export function defaultWidth(type: string): number {
  const width = fixedWidth(type);
  if (width > 0) return width;
  // String, LowCardinality(String) (length 0) and Map (0 entries): one byte.
  if (type === 'String' || type.startsWith('LowCardinality(') || type.startsWith('Map(')) return 1;
  throw new Error(`no RowBinary default for column type ${type}`);
}

/** Bytes of a fixed-width value of `type`, 0 for the variable-width types. */
export function fixedWidth(type: string): number {
  switch (type) {
    case 'UInt8':
      return 1;
    case 'UInt16':
      return 2;
    case 'UInt32':
    case 'Int32':
    case 'DateTime':
      return 4;
    case 'UInt64':
    case 'Int64':
    case 'DateTime64(6)':
      return 8;
    default:
      return 0;
  }
}

const DIGITS = 48;
const HEX = '0123456789abcdef';

/** The decimal text of a non-negative integer (an octet, a port); returns the end. */
export function putDecimalText(d: Uint8Array, at: number, v: number): number {
  if (v >= 100000) {
    // Ports and octets never get here; kept general for any 32-bit value.
    const s = String(v);
    for (let i = 0; i < s.length; i++) d[at++] = s.charCodeAt(i);
    return at;
  }
  if (v >= 10000) d[at++] = DIGITS + Math.floor(v / 10000);
  if (v >= 1000) d[at++] = DIGITS + (Math.floor(v / 1000) % 10);
  if (v >= 100) d[at++] = DIGITS + (Math.floor(v / 100) % 10);
  if (v >= 10) d[at++] = DIGITS + (Math.floor(v / 10) % 10);
  d[at++] = DIGITS + (v % 10);
  return at;
}

function putHex(d: Uint8Array, at: number, g: number): number {
  if (g >= 0x1000) d[at++] = HEX.charCodeAt(g >>> 12);
  if (g >= 0x100) d[at++] = HEX.charCodeAt((g >>> 8) & 15);
  if (g >= 0x10) d[at++] = HEX.charCodeAt((g >>> 4) & 15);
  d[at++] = HEX.charCodeAt(g & 15);
  return at;
}

/**
 * The text of an address kept as 4 words (IPv4 in the last), byte for byte what `formatAddress`
 * returns (dotted quad; RFC 5952 for IPv6), written without making a string. Returns the end.
 */
export function putAddressText(d: Uint8Array, at: number, ipVersion: number, words: Uint32Array, offset: number): number {
  if (ipVersion === 4) {
    const a = words[offset + 3];
    at = putDecimalText(d, at, a >>> 24);
    d[at++] = 0x2e;
    at = putDecimalText(d, at, (a >>> 16) & 255);
    d[at++] = 0x2e;
    at = putDecimalText(d, at, (a >>> 8) & 255);
    d[at++] = 0x2e;
    return putDecimalText(d, at, a & 255);
  }
  // The longest run of two or more zero groups (the first of equal runs) becomes '::'.
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let i = 0; i <= 8; i++) {
    const g = i < 8 ? group(words, offset, i) : 1;
    if (g === 0) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart > bestLen) {
        bestStart = runStart;
        bestLen = i - runStart;
      }
      runStart = -1;
    }
  }
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      d[at++] = 0x3a;
      d[at++] = 0x3a;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) d[at++] = 0x3a;
    at = putHex(d, at, group(words, offset, i));
  }
  return at;
}

function group(words: Uint32Array, offset: number, i: number): number {
  const w = words[offset + (i >> 1)];
  return i & 1 ? w & 0xffff : w >>> 16;
}

/** Longest address text `putAddressText` writes. */
export const MAX_ADDRESS_TEXT = 39;

// ---------------------------------------------------------------- reading back (tests and tools)

/**
 * Decodes RowBinary rows of `table` into objects shaped like the JSONEachRow rows the agent wrote
 * before: numbers for integers and DateTime, `seconds.micros` text for DateTime64(6), objects for
 * maps; metric columns (sums, counts, maxima, histograms) holding 0 are left out, as those rows
 * left them out. Every other column is there, holding its default too ('', 0), where the request
 * log's JSON rows left those out as well.
 */
export function decodeRowBinary(table: TableDef, data: Uint8Array): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const r = { at: 0 };
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const metric = table.columns.map((c) => mergeFunction(c.name) !== undefined);
  while (r.at < data.length) {
    const row: Record<string, unknown> = {};
    table.columns.forEach((c, i) => {
      const v = readValue(c, c.type, b, r);
      if (!(metric[i] && isEmptyValue(v))) row[c.name] = v;
    });
    rows.push(row);
  }
  return rows;
}

function readValue(column: Column, type: string, b: Buffer, r: { at: number }): unknown {
  const width = fixedWidth(type);
  if (width > 0) {
    r.at += width;
    return readFixed(type, b, r.at - width);
  }
  if (type === 'String' || type.startsWith('LowCardinality(')) return readString(b, r);
  const map = /^Map\((.+), (.+)\)$/.exec(type);
  if (map) {
    const out: Record<string, unknown> = {};
    const n = readVarint(b, r);
    for (let i = 0; i < n; i++) {
      const k = readValue(column, map[1], b, r);
      out[String(k)] = readValue(column, map[2], b, r);
    }
    return out;
  }
  throw new Error(`cannot decode RowBinary column ${column.name} of type ${type}`);
}

/** 0 or an empty map: what a metric column holding nothing decodes to (left out of decoded rows). */
export function isEmptyValue(v: unknown): boolean {
  return v === 0 || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
}

/** A String value: its LEB128 length, then its UTF-8 bytes. */
export function readString(b: Buffer, r: { at: number }): string {
  const n = readVarint(b, r);
  const s = b.toString('utf8', r.at, r.at + n);
  r.at += n;
  return s;
}

/** A fixed-width value as `decodeRowBinary` gives it: a number, DateTime64(6) as `seconds.micros` text. */
export function readFixed(type: string, b: Buffer, at: number): number | string {
  switch (type) {
    case 'UInt8':
      return b.readUInt8(at);
    case 'UInt16':
      return b.readUInt16LE(at);
    case 'UInt32':
    case 'DateTime':
      return b.readUInt32LE(at);
    case 'Int32':
      return b.readInt32LE(at);
    case 'UInt64':
      return Number(b.readBigUInt64LE(at));
    case 'Int64':
      return Number(b.readBigInt64LE(at));
    case 'DateTime64(6)':
      return micros(Number(b.readBigInt64LE(at)));
    default:
      throw new Error(`${type} is not a fixed-width type`);
  }
}

export function readVarint(d: Uint8Array, r: { at: number }): number {
  let n = 0;
  let shift = 0;
  for (;;) {
    const byte = d[r.at++];
    n += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return n;
    shift += 7;
  }
}
