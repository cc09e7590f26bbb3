/**
 * JSONEachRow text appended straight into a growable byte buffer. Hand-written rather than
 * `JSON.stringify` + `Buffer.from` because every flow and every second produces a row: building
 * a string per row, then flattening and encoding it, cost more than the flow analysis itself.
 * Callers pass pre-escaped JSON fragments (`,"name":`) and numbers; nothing is allocated per row.
 */
export class JsonRowBuffer {
  data: Buffer;
  size = 0;
  rows = 0;

  constructor(initialBytes = 1 << 20) {
    this.data = Buffer.allocUnsafe(initialBytes);
  }

  /** Text known to be ASCII and already valid JSON (member names, cached tag fragments). */
  ascii(text: string): this {
    const n = text.length;
    if (this.size + n > this.data.length) this.grow(n);
    const data = this.data;
    let at = this.size;
    for (let i = 0; i < n; i++) data[at++] = text.charCodeAt(i);
    this.size = at;
    return this;
  }

  /** Any string as a JSON string value (quoted, escaped, UTF-8). */
  string(value: string): this {
    return this.utf8(JSON.stringify(value));
  }

  /**
   * A string value, written byte by byte when it is printable ASCII without quotes or
   * backslashes (paths, methods, addresses: nearly all of them), else escaped by JSON.stringify.
   */
  text(value: string): this {
    const n = value.length;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return this.utf8(JSON.stringify(value));
    }
    if (this.size + n + 2 > this.data.length) this.grow(n + 2);
    const data = this.data;
    let at = this.size;
    data[at++] = 0x22;
    for (let i = 0; i < n; i++) data[at++] = value.charCodeAt(i);
    data[at++] = 0x22;
    this.size = at;
    return this;
  }

  /** An integer that may be negative (lengths of -1 mean unknown). */
  signed(value: number): this {
    if (value < 0) {
      this.ascii('-');
      return this.int(-value);
    }
    return this.int(value);
  }

  /** Raw UTF-8 text (an already serialised JSON value). */
  utf8(text: string): this {
    const max = text.length * 3;
    if (this.size + max > this.data.length) this.grow(max);
    this.size += this.data.write(text, this.size);
    return this;
  }

  /** A non-negative integer below 2^53 (negative values and fractions are rounded to 0 / integers). */
  int(value: number): this {
    if (this.size + 17 > this.data.length) this.grow(17);
    const data = this.data;
    let v = value > 0 ? Math.round(value) : 0;
    if (v < 10) {
      data[this.size++] = 48 + v;
      return this;
    }
    let digits = 1;
    for (let p = 10; p <= v; p *= 10) digits++;
    let at = this.size + digits;
    this.size = at;
    while (v > 0) {
      const q = Math.floor(v / 10);
      data[--at] = 48 + (v - q * 10);
      v = q;
    }
    return this;
  }

  /** A whole row from an object (rare rows: statistics, bookkeeping). */
  jsonRow(row: object): void {
    this.utf8(JSON.stringify(row));
    if (this.size + 1 > this.data.length) this.grow(1);
    this.data[this.size++] = 10;
    this.rows++;
  }

  /** Closes the row: `}` and a newline. */
  endRow(): void {
    if (this.size + 2 > this.data.length) this.grow(2);
    this.data[this.size++] = 125;
    this.data[this.size++] = 10;
    this.rows++;
  }

  bytes(): Buffer {
    return this.data.subarray(0, this.size);
  }

  /** The rows as parsed objects (tests and tools). */
  parse<T = Record<string, unknown>>(): T[] {
    return this.bytes()
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as T);
  }

  private grow(extra: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.size + extra + 1024));
    this.data.copy(bigger, 0, 0, this.size);
    this.data = bigger;
  }
}
