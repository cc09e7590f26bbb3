/**
 * HPACK (RFC 7541) decoder: static table, dynamic table with size updates and evictions, prefix
 * integers and string literals with the Huffman code of Appendix B.
 *
 * Built for passive decoding: it never throws, and a header block that references dynamic
 * entries sent before the capture started still yields every field it can decode (the unknown
 * references are counted in `unknownRefs`).
 */

export interface HeaderField {
  name: string;
  value: string;
}

export interface HpackResult {
  /** Fields decoded, in order (names lower case as sent). */
  headers: HeaderField[];
  /** References to dynamic entries this decoder never saw (capture started mid-connection). */
  unknownRefs: number;
  /** False when the block is malformed (the fields decoded before the error are kept). */
  ok: boolean;
}

/** RFC 7541 Appendix A: the static table, index 1..61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * RFC 7541 Appendix B: the code length in bits of every symbol 0..255 and EOS (256), written as
 * runs `[length, count]` in symbol order. The code is canonical (codes of the same length are
 * consecutive in symbol order, shorter codes first), so the bit patterns of the appendix follow
 * from the lengths alone: see `huffmanCodes()`, checked against the appendix in the tests.
 */
const HUFFMAN_LENGTH_RUNS: readonly (readonly [number, number])[] = [
  [13, 1], // 0
  [23, 1], // 1
  [28, 7], // 2-8
  [24, 1], // 9
  [30, 1], // 10
  [28, 2], // 11-12
  [30, 1], // 13
  [28, 8], // 14-21
  [30, 1], // 22
  [28, 9], // 23-31
  [6, 1], // ' '
  [10, 2], // '!' '"'
  [12, 1], // '#'
  [13, 1], // '$'
  [6, 1], // '%'
  [8, 1], // '&'
  [11, 1], // "'"
  [10, 2], // '(' ')'
  [8, 1], // '*'
  [11, 1], // '+'
  [8, 1], // ','
  [6, 3], // '-' '.' '/'
  [5, 3], // '0' '1' '2'
  [6, 7], // '3'-'9'
  [7, 1], // ':'
  [8, 1], // ';'
  [15, 1], // '<'
  [6, 1], // '='
  [12, 1], // '>'
  [10, 1], // '?'
  [13, 1], // '@'
  [6, 1], // 'A'
  [7, 22], // 'B'-'W'
  [8, 1], // 'X'
  [7, 1], // 'Y'
  [8, 1], // 'Z'
  [13, 1], // '['
  [19, 1], // '\'
  [13, 1], // ']'
  [14, 1], // '^'
  [6, 1], // '_'
  [15, 1], // '`'
  [5, 1], // 'a'
  [6, 1], // 'b'
  [5, 1], // 'c'
  [6, 1], // 'd'
  [5, 1], // 'e'
  [6, 3], // 'f' 'g' 'h'
  [5, 1], // 'i'
  [7, 2], // 'j' 'k'
  [6, 3], // 'l' 'm' 'n'
  [5, 1], // 'o'
  [6, 1], // 'p'
  [7, 1], // 'q'
  [6, 1], // 'r'
  [5, 2], // 's' 't'
  [6, 1], // 'u'
  [7, 5], // 'v'-'z'
  [15, 1], // '{'
  [11, 1], // '|'
  [14, 1], // '}'
  [13, 1], // '~'
  [28, 1], // 127
  [20, 1], // 128
  [22, 1], // 129
  [20, 2], // 130-131
  [22, 3], // 132-134
  [23, 1], // 135
  [22, 1], // 136
  [23, 5], // 137-141
  [24, 1], // 142
  [23, 1], // 143
  [24, 2], // 144-145
  [22, 1], // 146
  [23, 1], // 147
  [24, 1], // 148
  [23, 4], // 149-152
  [21, 1], // 153
  [22, 1], // 154
  [23, 1], // 155
  [22, 1], // 156
  [23, 2], // 157-158
  [24, 1], // 159
  [22, 1], // 160
  [21, 1], // 161
  [20, 1], // 162
  [22, 2], // 163-164
  [23, 2], // 165-166
  [21, 1], // 167
  [23, 1], // 168
  [22, 2], // 169-170
  [24, 1], // 171
  [21, 1], // 172
  [22, 1], // 173
  [23, 2], // 174-175
  [21, 2], // 176-177
  [22, 1], // 178
  [21, 1], // 179
  [23, 1], // 180
  [22, 1], // 181
  [23, 2], // 182-183
  [20, 1], // 184
  [22, 3], // 185-187
  [23, 1], // 188
  [22, 2], // 189-190
  [23, 1], // 191
  [26, 2], // 192-193
  [20, 1], // 194
  [19, 1], // 195
  [22, 1], // 196
  [23, 1], // 197
  [22, 1], // 198
  [25, 1], // 199
  [26, 3], // 200-202
  [27, 2], // 203-204
  [26, 1], // 205
  [24, 1], // 206
  [25, 1], // 207
  [19, 1], // 208
  [21, 1], // 209
  [26, 1], // 210
  [27, 2], // 211-212
  [26, 1], // 213
  [27, 1], // 214
  [24, 1], // 215
  [21, 2], // 216-217
  [26, 2], // 218-219
  [28, 1], // 220
  [27, 3], // 221-223
  [20, 1], // 224
  [24, 1], // 225
  [20, 1], // 226
  [21, 1], // 227
  [22, 1], // 228
  [21, 2], // 229-230
  [23, 1], // 231
  [22, 2], // 232-233
  [25, 2], // 234-235
  [24, 2], // 236-237
  [26, 1], // 238
  [23, 1], // 239
  [26, 1], // 240
  [27, 1], // 241
  [26, 2], // 242-243
  [27, 5], // 244-248
  [28, 1], // 249
  [27, 5], // 250-254
  [26, 1], // 255
  [30, 1], // EOS
];

const EOS = 256;
const MAX_CODE_BITS = 30;

/** Code length per symbol (257 entries). */
export const HUFFMAN_LENGTHS: readonly number[] = HUFFMAN_LENGTH_RUNS.flatMap(([len, n]) => Array<number>(n).fill(len));

/** Symbols sorted by (length, symbol): the canonical order. */
const SORTED_SYMBOLS: number[] = HUFFMAN_LENGTHS.map((_, s) => s).sort((a, b) => HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b);
/** Per length: number of codes, first code value, index of its first symbol in SORTED_SYMBOLS. */
const COUNT_BY_LEN = new Array<number>(MAX_CODE_BITS + 1).fill(0);
const FIRST_CODE = new Array<number>(MAX_CODE_BITS + 1).fill(0);
const FIRST_INDEX = new Array<number>(MAX_CODE_BITS + 1).fill(0);
{
  for (const len of HUFFMAN_LENGTHS) COUNT_BY_LEN[len]++;
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_CODE_BITS; len++) {
    code = (code + COUNT_BY_LEN[len - 1]) * 2;
    FIRST_CODE[len] = code;
    FIRST_INDEX[len] = index;
    index += COUNT_BY_LEN[len];
  }
}

/** The code of every symbol as [code, length] (bit pattern right-aligned), for tests and encoders. */
export function huffmanCodes(): [number, number][] {
  const out: [number, number][] = [];
  const seen = new Array<number>(MAX_CODE_BITS + 1).fill(0);
  for (let s = 0; s <= EOS; s++) {
    const len = HUFFMAN_LENGTHS[s];
    // position of s among the symbols of its length (they are in symbol order)
    out.push([FIRST_CODE[len] + seen[len]++, len]);
  }
  return out;
}

/** Decodes a Huffman-coded string (latin1); undefined when the padding or a code is invalid. */
export function huffmanDecode(data: Buffer, start: number, end: number): string | undefined {
  let out = '';
  let code = 0;
  let len = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = data[i];
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      code = code * 2 + b;
      len++;
      if (b === 0) allOnes = false;
      const offset = code - FIRST_CODE[len];
      if (offset >= 0 && offset < COUNT_BY_LEN[len]) {
        const sym = SORTED_SYMBOLS[FIRST_INDEX[len] + offset];
        if (sym === EOS) return undefined;
        out += String.fromCharCode(sym);
        code = 0;
        len = 0;
        allOnes = true;
      } else if (len >= MAX_CODE_BITS) {
        return undefined;
      }
    }
  }
  // padding: at most 7 bits, all ones (a prefix of EOS)
  if (len > 7 || !allOnes) return undefined;
  return out;
}

/** Encodes a latin1 string with the Huffman code (used by tests and fixtures). */
export function huffmanEncode(text: string): Buffer {
  const codes = huffmanCodes();
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const [code, len] = codes[text.charCodeAt(i) & 0xff];
    for (let b = len - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) & 1);
      if (++bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}

const ENTRY_OVERHEAD = 32;
/** Upper bound on the dynamic table we keep, whatever a peer announces. */
const MAX_TABLE_BYTES = 1 << 18;
/** Prefix integers above this are treated as malformed. */
const MAX_INT = 1 << 28;

/** Reader state for one header block. */
interface Cursor {
  pos: number;
}

function readInt(data: Buffer, c: Cursor, prefixBits: number): number | undefined {
  if (c.pos >= data.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = data[c.pos++] & max;
  if (value < max) return value;
  let shift = 0;
  while (c.pos < data.length) {
    const b = data[c.pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (value > MAX_INT) return undefined;
    if ((b & 0x80) === 0) return value;
  }
  return undefined;
}

function readString(data: Buffer, c: Cursor): string | undefined {
  if (c.pos >= data.length) return undefined;
  const huffman = (data[c.pos] & 0x80) !== 0;
  const len = readInt(data, c, 7);
  if (len === undefined || len > data.length - c.pos) return undefined;
  const start = c.pos;
  c.pos += len;
  return huffman ? huffmanDecode(data, start, start + len) : data.toString('latin1', start, start + len);
}

/** Dynamic-table entry; `name` undefined when it copied a name this decoder never saw. */
interface Entry {
  name: string | undefined;
  value: string;
  size: number;
}

/** One direction's decoding context (RFC 7541 §2.3). */
export class HpackDecoder {
  /** Newest first: entries[0] is index 62. */
  private entries: Entry[] = [];
  private tableBytes = 0;
  /** Current maximum size (changed by dynamic table size updates). */
  private maxSize = 4096;
  /** SETTINGS_HEADER_TABLE_SIZE announced by the decoding side (limit of size updates). */
  private limit = 4096;

  /** Size in octets of the dynamic table (RFC 7541 §4.1). */
  get size(): number {
    return this.tableBytes;
  }

  get maxTableSize(): number {
    return this.maxSize;
  }

  get entryCount(): number {
    return this.entries.length;
  }

  /** The decoder's peer announced SETTINGS_HEADER_TABLE_SIZE (largest value kept as the limit). */
  setLimit(bytes: number): void {
    this.limit = Math.max(this.limit, Math.min(bytes, MAX_TABLE_BYTES));
  }

  /** Dynamic entry `index` (62 = newest) as [name, value], for tests. */
  entry(index: number): [string, string] | undefined {
    const e = this.entries[index - STATIC_TABLE.length - 1];
    return e ? [e.name ?? '', e.value] : undefined;
  }

  /** Forgets the dynamic table (after a gap: later blocks decode what they can). */
  reset(): void {
    this.entries = [];
    this.tableBytes = 0;
  }

  private lookup(index: number): { name: string | undefined; value: string } | undefined {
    if (index >= 1 && index <= STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index - 1];
      return { name, value };
    }
    return this.entries[index - STATIC_TABLE.length - 1];
  }

  private evictTo(max: number): void {
    while (this.tableBytes > max && this.entries.length > 0) {
      const e = this.entries.pop() as Entry;
      this.tableBytes -= e.size;
    }
  }

  private add(name: string | undefined, value: string, nameBytes: number): void {
    const size = nameBytes + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      // an entry larger than the table empties it (RFC 7541 §4.4)
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - size);
    this.entries.unshift({ name, value, size });
    this.tableBytes += size;
  }

  /** Decodes one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION fragments). */
  decode(block: Buffer): HpackResult {
    const headers: HeaderField[] = [];
    let unknownRefs = 0;
    const c: Cursor = { pos: 0 };
    const fail = (): HpackResult => ({ headers, unknownRefs, ok: false });
    while (c.pos < block.length) {
      const first = block[c.pos];
      if (first & 0x80) {
        // indexed header field
        const index = readInt(block, c, 7);
        if (index === undefined || index === 0) return fail();
        const e = this.lookup(index);
        if (!e || e.name === undefined) {
          unknownRefs++;
          continue;
        }
        headers.push({ name: e.name, value: e.value });
        continue;
      }
      if ((first & 0xe0) === 0x20) {
        // dynamic table size update
        const size = readInt(block, c, 5);
        if (size === undefined || size > Math.max(this.limit, 4096) * 16) return fail();
        this.maxSize = Math.min(size, MAX_TABLE_BYTES);
        this.evictTo(this.maxSize);
        continue;
      }
      const incremental = (first & 0xc0) === 0x40;
      const index = readInt(block, c, incremental ? 6 : 4);
      if (index === undefined) return fail();
      let name: string | undefined;
      let nameKnown = true;
      if (index === 0) {
        name = readString(block, c);
        if (name === undefined) return fail();
      } else {
        const e = this.lookup(index);
        if (!e || e.name === undefined) {
          nameKnown = false;
          unknownRefs++;
        } else {
          name = e.name;
        }
      }
      const value = readString(block, c);
      if (value === undefined) return fail();
      if (incremental) this.add(nameKnown ? name : undefined, value, name?.length ?? 0);
      if (nameKnown && name !== undefined) headers.push({ name, value });
    }
    return { headers, unknownRefs, ok: true };
  }
}
