/**
 * MySQL packet framing and the decoding of the few packet bodies the parser needs.
 *
 * Wire format: 3-byte little-endian payload length, 1-byte sequence id, payload. A payload of
 * exactly 0xffffff bytes is continued by the next packet (sequence + 1); the logical message is
 * the concatenation. The reader keeps only the first `cap` bytes of each logical message (enough
 * to classify it and to read a statement prefix) and skips the rest, so buffering is bounded.
 */
import { ParserStats } from '../l7-parser';

export const MAX_PACKET = 0xffffff;

/** Bytes an unsynced reader may collect before it judges whether they start a packet. */
export const PROBE_BYTES = 512;

/** Capability flags (protocol 4.1). */
export const Cap = {
  CONNECT_WITH_DB: 0x00000008,
  PROTOCOL_41: 0x00000200,
  SSL: 0x00000800,
  SECURE_CONNECTION: 0x00008000,
  PLUGIN_AUTH: 0x00080000,
  PLUGIN_AUTH_LENENC_DATA: 0x00200000,
  DEPRECATE_EOF: 0x01000000,
  QUERY_ATTRIBUTES: 0x08000000,
} as const;

/** SERVER_MORE_RESULTS_EXISTS in the status flags of OK/EOF. */
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;

export interface MysqlMessage {
  /** Sequence id of the first / last packet of the message. */
  seq: number;
  lastSeq: number;
  /** Payload bytes of the whole message (all continuation packets). */
  length: number;
  /** Bytes on the wire, headers included. */
  wireBytes: number;
  /** The first bytes of the payload (at most the reader's cap). */
  head: Buffer;
  /** Capture time of the feed that carried the first header byte / completed the message. */
  firstTs: number;
  lastTs: number;
}

/** Reads framed messages from one direction of a flow. */
export class PacketReader {
  /** False at the start and after a gap or a framing error: the next feed must look like a packet boundary. */
  synced = false;
  // From the shared pool: a buffer of its own per reader costs an ArrayBuffer per connection.
  private readonly hdr = Buffer.allocUnsafe(4);
  private hdrLen = 0;
  private inPayload = false;
  private remaining = 0;
  private pktLen = 0;
  private chunks: Buffer[] = [];
  /**
   * The kept head of a message that began and ended in the current feed: a view of the fed bytes,
   * read by the handler before feed returns, so not copied (every row of a result set is a
   * message, and copying each was most of the parser's garbage).
   */
  private view: Buffer | undefined;
  private headLen = 0;
  private cur: { seq: number; lastSeq: number; length: number; wireBytes: number; firstTs: number } | null = null;

  constructor(
    private readonly cap: number,
    private readonly stats: ParserStats,
    private readonly plausible: (data: Buffer) => boolean,
    private readonly onMessage: (m: MysqlMessage) => void,
  ) {}

  /** Unsynced bytes held until there are enough to judge a packet boundary (< PROBE_BYTES). */
  private probe: [Buffer, number][] = [];
  private probeLen = 0;

  /** Bytes currently held for a partial message (bounded by `cap` + 4 + PROBE_BYTES). */
  get buffered(): number {
    return this.headLen + this.hdrLen + this.probeLen;
  }

  desync(): void {
    this.synced = false;
    this.hdrLen = 0;
    this.inPayload = false;
    this.remaining = 0;
    this.chunks = [];
    this.view = undefined;
    this.headLen = 0;
    this.cur = null;
    this.probe = [];
    this.probeLen = 0;
  }

  feed(data: Buffer, ts: number): void {
    if (!this.synced) {
      // Collect enough bytes to judge the first packet (a small packet whole); when the bytes do
      // not start a packet, drop the oldest chunk and judge again from the next chunk start.
      this.probe.push([Buffer.from(data), ts]);
      this.probeLen += data.length;
      while (this.probe.length > 0) {
        const all = this.probe.length === 1 ? this.probe[0][0] : Buffer.concat(this.probe.map((c) => c[0]));
        if (all.length < 5) return;
        const len0 = all.readUIntLE(0, 3);
        if (len0 <= PROBE_BYTES && all.length < 4 + len0) return;
        if (this.plausible(all)) {
          const chunks = this.probe;
          this.probe = [];
          this.probeLen = 0;
          this.desync();
          this.synced = true;
          for (const [chunk, t] of chunks) {
            if (!this.synced) break;
            this.consume(chunk, t);
          }
          return;
        }
        const dropped = this.probe.shift() as [Buffer, number];
        this.probeLen -= dropped[0].length;
        this.stats.bytesSkipped += dropped[0].length;
      }
      return;
    }
    this.consume(data, ts);
  }

  private consume(data: Buffer, ts: number): void {
    let pos = 0;
    while (pos < data.length || (this.inPayload && this.remaining === 0)) {
      if (!this.inPayload) {
        // The header's bytes one by one: a Buffer.copy of a range costs about 40 ns on Node 20 (it
        // makes a view of the range), a header per packet, several packets per query.
        while (this.hdrLen < 4 && pos < data.length) this.hdr[this.hdrLen++] = data[pos++];
        if (this.hdrLen < 4) break;
        this.hdrLen = 0;
        const hdr = this.hdr;
        const len = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16);
        const seq = hdr[3];
        if (!this.cur) {
          this.cur = { seq, lastSeq: seq, length: 0, wireBytes: 0, firstTs: ts };
          if (this.chunks.length > 0) this.chunks = [];
          this.headLen = 0;
        } else if (seq !== ((this.cur.lastSeq + 1) & 0xff)) {
          // A continuation packet must follow in sequence: we lost the framing.
          this.stats.parseErrors++;
          this.stats.bytesSkipped += data.length - pos;
          this.desync();
          return;
        } else {
          this.cur.lastSeq = seq;
        }
        this.cur.wireBytes += 4;
        this.pktLen = len;
        this.remaining = len;
        this.inPayload = true;
      }
      const cur = this.cur;
      if (!cur) break;
      const take = Math.min(this.remaining, data.length - pos);
      const keep = Math.min(take, this.cap - this.headLen);
      if (keep > 0) {
        const whole = take === this.remaining && this.pktLen !== MAX_PACKET && this.chunks.length === 0;
        if (whole) this.view = data.subarray(pos, pos + keep);
        else this.chunks.push(Buffer.from(data.subarray(pos, pos + keep)));
        this.headLen += keep;
      }
      pos += take;
      this.remaining -= take;
      cur.length += take;
      cur.wireBytes += take;
      if (this.remaining > 0) break;
      this.inPayload = false;
      if (this.pktLen === MAX_PACKET) continue;
      const head = this.view ?? (this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
      this.view = undefined;
      if (this.chunks.length > 0) this.chunks = [];
      this.headLen = 0;
      this.cur = null;
      this.onMessage({ seq: cur.seq, lastSeq: cur.lastSeq, length: cur.length, wireBytes: cur.wireBytes, head, firstTs: cur.firstTs, lastTs: ts });
      if (!this.synced) return; // the handler stopped the stream
    }
  }
}

/**
 * Does `data` start on a packet boundary? Walks the headers in the buffer: every length must be
 * non-zero (except after a 0xffffff packet) and every sequence id must follow the previous one
 * or restart at `restartSeq` (a new command / a new response). `first` checks the first payload.
 */
export function plausibleChain(data: Buffer, restartSeq: number, first: (seq: number, len: number, body: Buffer) => boolean): boolean {
  if (data.length < 5) return false;
  const len0 = data.readUIntLE(0, 3);
  if (len0 === 0 || !first(data[3], len0, data.subarray(4, 4 + len0))) return false;
  let pos = 0;
  let prevSeq = -1;
  let prevLen = 1;
  let packets = 0;
  while (pos + 4 <= data.length && packets < 64) {
    const len = data.readUIntLE(pos, 3);
    const seq = data[pos + 3];
    if (prevSeq >= 0) {
      if (len === 0 && prevLen !== MAX_PACKET) return false;
      if (seq !== ((prevSeq + 1) & 0xff) && seq !== restartSeq) return false;
    }
    prevSeq = seq;
    prevLen = len;
    pos += 4 + len;
    packets++;
  }
  return true;
}

/** A length-encoded integer at `pos`: [value, bytes used], or null when out of bounds / invalid. */
export function readLenEnc(b: Buffer, pos: number): [number, number] | null {
  if (pos >= b.length) return null;
  const c = b[pos];
  if (c < 0xfb) return [c, 1];
  if (c === 0xfc) return pos + 3 <= b.length ? [b.readUInt16LE(pos + 1), 3] : null;
  if (c === 0xfd) return pos + 4 <= b.length ? [b.readUIntLE(pos + 1, 3), 4] : null;
  if (c === 0xfe) {
    if (pos + 9 > b.length) return null;
    const lo = b.readUInt32LE(pos + 1);
    const hi = b.readUInt32LE(pos + 5);
    return [hi * 0x100000000 + lo, 9];
  }
  return null; // 0xfb (NULL) and 0xff are not integers
}

/** Reads a NUL-terminated string (latin1/utf8 bytes) at `pos`: [text, next position] or null. */
export function readNulString(b: Buffer, pos: number, maxLen = 256): [string, number] | null {
  if (pos > b.length) return null;
  const end = b.indexOf(0, pos);
  if (end < 0 || end - pos > maxLen) return null;
  return [b.toString('utf8', pos, end), end + 1];
}

export interface ErrInfo {
  code: number;
  sqlState: string;
  message: string;
}

/** ERR packet (0xff, code, optional '#' + SQL state, message). */
export function parseErr(head: Buffer): ErrInfo | null {
  if (head.length < 3 || head[0] !== 0xff) return null;
  const code = head.readUInt16LE(1);
  let pos = 3;
  let sqlState = '';
  if (head.length >= 9 && head[3] === 0x23) {
    sqlState = head.toString('latin1', 4, 9);
    pos = 9;
  }
  return { code, sqlState, message: head.toString('utf8', pos, Math.min(head.length, pos + 512)) };
}

/** Status flags of an OK (0x00/0xfe with lengths) or EOF (0xfe, 5 bytes) packet; 0 when unreadable. */
export function statusFlags(head: Buffer, length: number): number {
  if (head.length < 1) return 0;
  if (head[0] === 0xfe && length < 7) {
    return head.length >= 5 ? head.readUInt16LE(3) : 0;
  }
  const a = readLenEnc(head, 1);
  if (!a) return 0;
  const b = readLenEnc(head, 1 + a[1]);
  if (!b) return 0;
  const pos = 1 + a[1] + b[1];
  return pos + 2 <= head.length ? head.readUInt16LE(pos) : 0;
}

export interface Greeting {
  protocolVersion: number;
  serverVersion: string;
  capabilities: number;
}

function printableVersion(s: string): boolean {
  return s.length > 0 && s.length <= 64 && /^[0-9][\x20-\x7e]*$/.test(s);
}

/** Initial handshake (protocol 10) from the server. */
export function parseGreeting(head: Buffer): Greeting | null {
  if (head.length < 2 || head[0] !== 0x0a) return null;
  const v = readNulString(head, 1, 64);
  if (!v || !printableVersion(v[0])) return null;
  let pos = v[1] + 4 + 8; // thread id, auth-plugin-data part 1
  if (pos >= head.length || head[pos] !== 0) return null; // filler
  pos += 1;
  let caps = 0;
  if (pos + 2 <= head.length) caps = head.readUInt16LE(pos);
  pos += 2 + 1 + 2; // lower caps, charset, status
  if (pos + 2 <= head.length) caps |= head.readUInt16LE(pos) << 16;
  return { protocolVersion: 10, serverVersion: v[0], capabilities: caps >>> 0 };
}

export interface HandshakeResponse {
  capabilities: number;
  /** An SSLRequest (the connection switches to TLS). */
  ssl: boolean;
  user: string;
  database: string;
}

/** HandshakeResponse41 / SSLRequest (or the old HandshakeResponse320) from the client. */
export function parseHandshakeResponse(head: Buffer, length: number): HandshakeResponse | null {
  if (head.length < 4) return null;
  const caps16 = head.readUInt16LE(0);
  if (!(caps16 & Cap.PROTOCOL_41)) {
    // 3.20: caps(2) max-packet(3) user NUL auth [NUL db]
    if (head.length < 6) return null;
    const u = readNulString(head, 5, 128);
    if (!u) return null;
    return { capabilities: caps16, ssl: (caps16 & Cap.SSL) !== 0 && length <= 5, user: u[0], database: '' };
  }
  if (head.length < 32) return null;
  const caps = head.readUInt32LE(0);
  if (length === 32) return { capabilities: caps, ssl: (caps & Cap.SSL) !== 0, user: '', database: '' };
  const u = readNulString(head, 32, 128);
  if (!u) return null;
  let pos = u[1];
  let authLen: number;
  if (caps & Cap.PLUGIN_AUTH_LENENC_DATA) {
    const l = readLenEnc(head, pos);
    if (!l) return { capabilities: caps, ssl: false, user: u[0], database: '' };
    authLen = l[0];
    pos += l[1];
  } else if (caps & Cap.SECURE_CONNECTION) {
    if (pos >= head.length) return { capabilities: caps, ssl: false, user: u[0], database: '' };
    authLen = head[pos];
    pos += 1;
  } else {
    const a = readNulString(head, pos, 256);
    authLen = a ? a[1] - pos : head.length - pos;
  }
  pos += authLen;
  let database = '';
  if (caps & Cap.CONNECT_WITH_DB) {
    const d = readNulString(head, pos, 128);
    if (d) database = d[0];
  }
  return { capabilities: caps, ssl: false, user: u[0], database };
}

/** Byte size of a binary-protocol value of MySQL type `type` at `pos`, or -1 when unreadable. */
export function binaryValueSize(b: Buffer, pos: number, type: number): number {
  switch (type) {
    case 0x06: // NULL
      return 0;
    case 0x01: // TINY
      return 1;
    case 0x02: // SHORT
    case 0x0d: // YEAR
      return 2;
    case 0x03: // LONG
    case 0x09: // INT24
    case 0x04: // FLOAT
      return 4;
    case 0x08: // LONGLONG
    case 0x05: // DOUBLE
      return 8;
    case 0x07: // TIMESTAMP
    case 0x0a: // DATE
    case 0x0c: // DATETIME
    case 0x0b: // TIME
      return pos < b.length ? 1 + b[pos] : -1;
    default: {
      const l = readLenEnc(b, pos);
      return l ? l[1] + l[0] : -1;
    }
  }
}

/**
 * Offset of the statement text in a COM_QUERY payload (after the command byte and, with
 * CLIENT_QUERY_ATTRIBUTES, the attribute block); -1 when the attribute block is unreadable.
 */
export function queryTextOffset(head: Buffer, queryAttributes: boolean): number {
  if (!queryAttributes) return 1;
  const count = readLenEnc(head, 1);
  if (!count) return -1;
  let pos = 1 + count[1];
  const sets = readLenEnc(head, pos);
  if (!sets) return -1;
  pos += sets[1];
  const n = count[0];
  if (n === 0) return pos;
  if (n > 4096) return -1;
  const bitmap = pos;
  pos += (n + 7) >> 3;
  if (pos >= head.length) return -1;
  const bind = head[pos++];
  if (bind !== 1) return -1;
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pos + 2 > head.length) return -1;
    types.push(head[pos]);
    pos += 2;
    const name = readLenEnc(head, pos);
    if (!name) return -1;
    pos += name[1] + name[0];
  }
  for (let i = 0; i < n; i++) {
    const isNull = (head[bitmap + (i >> 3)] >> (i & 7)) & 1;
    if (isNull) continue;
    const size = binaryValueSize(head, pos, types[i]);
    if (size < 0) return -1;
    pos += size;
  }
  return pos <= head.length ? pos : -1;
}
