/**
 * Bounds-checked reader for the Kafka wire primitives (big-endian ints, unsigned varints, classic
 * and compact strings/arrays, tagged fields). It never throws: the first read past the end sets
 * `ok` to false and every later read returns a neutral value, so a schema walk can simply check
 * `ok` at the points where it wants to stop.
 */

/** Longest string we decode into text (topic names are at most 249 characters). */
const MAX_TEXT = 512;

export class KafkaReader {
  ok = true;
  pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = Math.min(end, buf.length);
    if (start > this.end) this.ok = false;
  }

  get remaining(): number {
    return this.ok ? this.end - this.pos : 0;
  }

  private need(n: number): boolean {
    if (!this.ok) return false;
    if (n < 0 || this.pos + n > this.end) {
      this.ok = false;
      return false;
    }
    return true;
  }

  skip(n: number): void {
    if (this.need(n)) this.pos += n;
  }

  int8(): number {
    if (!this.need(1)) return 0;
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    if (!this.need(2)) return 0;
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    if (!this.need(4)) return 0;
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned LEB128 varint of at most 5 bytes (32 bits); longer ones fail the reader. */
  uvarint(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (!this.need(1)) return 0;
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    this.ok = false;
    return 0;
  }

  /** Zig-zag signed varint. */
  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  private text(len: number): string {
    if (!this.need(len)) return '';
    const s = this.buf.toString('latin1', this.pos, this.pos + Math.min(len, MAX_TEXT));
    this.pos += len;
    return s;
  }

  /** STRING / NULLABLE_STRING (int16 length, -1 = null → ''). */
  string(): string {
    const len = this.int16();
    if (len < 0) return len === -1 ? '' : this.fail();
    return this.text(len);
  }

  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (uvarint length + 1, 0 = null → ''). */
  compactString(): string {
    const n = this.uvarint();
    return n === 0 ? '' : this.text(n - 1);
  }

  /** Either string flavour. */
  str(flexible: boolean): string {
    return flexible ? this.compactString() : this.string();
  }

  /** BYTES / NULLABLE_BYTES or their compact forms, skipped. */
  skipBytes(flexible: boolean): void {
    if (flexible) {
      const n = this.uvarint();
      if (n > 0) this.skip(n - 1);
    } else {
      const n = this.int32();
      if (n > 0) this.skip(n);
      else if (n < -1) this.ok = false;
    }
  }

  /**
   * Element count of an ARRAY (int32) or COMPACT_ARRAY (uvarint + 1); null arrays count 0. A
   * count that cannot fit in the remaining bytes (each element is at least `minElement` bytes)
   * fails the reader, so loops over it stay bounded by the message size.
   */
  arrayLength(flexible: boolean, minElement = 1): number {
    let n: number;
    if (flexible) {
      n = this.uvarint() - 1;
    } else {
      n = this.int32();
      if (n < -1) return this.fail(0);
    }
    if (n <= 0 || !this.ok) return 0;
    if (n * Math.max(1, minElement) > this.remaining) return this.fail(0);
    return n;
  }

  /** TAG_BUFFER: a count of (tag, size, bytes) entries, skipped. Only read when `flexible`. */
  taggedFields(flexible: boolean): void {
    if (!flexible) return;
    const count = this.uvarint();
    if (count > this.remaining) {
      this.ok = false;
      return;
    }
    for (let i = 0; i < count && this.ok; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }

  private fail<T>(value: T = '' as T): T {
    this.ok = false;
    return value;
  }
}

/** Printable ASCII check on at most `limit` bytes (client ids, topic names). */
export function isPrintable(buf: Buffer, start: number, len: number, limit = 128): boolean {
  const end = start + Math.min(len, limit);
  if (end > buf.length) return false;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
