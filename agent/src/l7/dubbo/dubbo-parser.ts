/**
 * Dubbo 2 parser (SPEC §4).
 *
 * Framing: a 16-byte header (magic 0xdabb, flag byte: request 0x80, two-way 0x40, event 0x20,
 * serialization id in the low 5 bits; status byte; 8-byte request id; 4-byte body length) then
 * the body. The request body starts with four strings: dubbo version, service path (interface),
 * service version, method name. They are read for Hessian2 (the default), Kryo and the JSON
 * serializations (fastjson, gson); other serializations keep the header fields only.
 *
 * Pairing by request id (per sender direction). Events (heartbeats, read-only notices…) are
 * counted in `stats.messages` but not logged. One-way requests (two-way bit clear) are logged
 * with `countsAsRequest` false. Bodies larger than the buffer are read from their first bytes
 * and passed over without buffering.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, ResponseStatus, Verdict } from '../l7-parser';
import { Framing, MessageFormat, MessageFramer, NEED_MORE, SKIP_ONE } from '../stream/message-framer';

export const MAGIC_HI = 0xda;
export const MAGIC_LO = 0xbb;
export const HEADER_LENGTH = 16;
/** Dubbo's default payload limit is 8 MiB; larger bodies are taken for garbage. */
export const MAX_BODY = 8 * 1024 * 1024;
const DEFAULT_MAX_BUFFER = 64 * 1024;
const MAX_PENDING = 4096;
const MAX_TEXT = 1024;

export const FLAG_REQUEST = 0x80;
export const FLAG_TWO_WAY = 0x40;
export const FLAG_EVENT = 0x20;

export const SERIALIZATIONS: Record<number, string> = {
  2: 'hessian2',
  3: 'java',
  4: 'compactedjava',
  6: 'fastjson',
  7: 'nativejava',
  8: 'kryo',
  9: 'fst',
  10: 'native-hessian',
  11: 'avro',
  12: 'protostuff',
  16: 'gson',
  21: 'protobuf-json',
  22: 'protobuf',
  23: 'fastjson2',
  25: 'kryo2',
};

export const STATUS_TEXT: Record<number, string> = {
  20: 'OK',
  30: 'CLIENT_TIMEOUT',
  31: 'SERVER_TIMEOUT',
  40: 'BAD_REQUEST',
  50: 'BAD_RESPONSE',
  60: 'SERVICE_NOT_FOUND',
  70: 'SERVICE_ERROR',
  80: 'SERVER_ERROR',
  90: 'CLIENT_ERROR',
  100: 'SERVER_THREADPOOL_EXHAUSTED_ERROR',
};

/** SPEC §4: 20 ok; 30, 40, 90 client; 31, 50, 60, 70, 80, 100 server. */
export function statusOf(code: number): ResponseStatus {
  if (code === 20) return 'ok';
  if (code === 30 || code === 40 || code === 90) return 'client_error';
  if (code === 31 || code === 50 || code === 60 || code === 70 || code === 80 || code === 100) return 'server_error';
  return 'unknown';
}

export interface DubboHeader {
  request: boolean;
  twoWay: boolean;
  event: boolean;
  serialization: number;
  status: number;
  id: bigint;
  bodyLength: number;
}

/**
 * Reads a 16-byte header at `off`: the header, null when fewer than 16 bytes are there, 'bad'
 * when the bytes are not a sane Dubbo header.
 */
export function readHeader(b: Buffer, off: number): DubboHeader | null | 'bad' {
  if (off + 2 <= b.length && (b[off] !== MAGIC_HI || b[off + 1] !== MAGIC_LO)) return 'bad';
  if (off + HEADER_LENGTH > b.length) return null;
  const flag = b[off + 2];
  const status = b[off + 3];
  const serialization = flag & 0x1f;
  const request = (flag & FLAG_REQUEST) !== 0;
  const twoWay = (flag & FLAG_TWO_WAY) !== 0;
  const bodyLength = b.readUInt32BE(off + 12);
  if (serialization === 0 || bodyLength > MAX_BODY) return 'bad';
  if (request && status !== 0) return 'bad';
  if (!request && (twoWay || STATUS_TEXT[status] === undefined)) return 'bad';
  return { request, twoWay, event: (flag & FLAG_EVENT) !== 0, serialization, status, id: b.readBigUInt64BE(off + 4), bodyLength };
}

/** A decoded string and the offset after it. */
export interface Decoded {
  value: string;
  next: number;
}

/** Bytes of `chars` UTF-16 units of (Hessian's) UTF-8 at `off`, or -1 when invalid / truncated. */
function utf8Span(b: Buffer, off: number, chars: number): number {
  let p = off;
  let n = 0;
  while (n < chars) {
    if (p >= b.length) return -1;
    const c = b[p];
    if (c < 0x80) {
      p += 1;
      n += 1;
    } else if (c >= 0xc0 && c < 0xe0) {
      p += 2;
      n += 1;
    } else if (c >= 0xe0 && c < 0xf0) {
      p += 3;
      n += 1;
    } else if (c >= 0xf0 && c < 0xf8) {
      p += 4;
      n += 2; // a surrogate pair
    } else return -1;
  }
  return p > b.length ? -1 : p - off;
}

function cut(s: string): string {
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

/**
 * A Hessian2 string at `off`: short (0x00–0x1f), medium (0x30–0x33), 'S' final chunk, 'R'
 * non-final chunks, or 'N' (null, read as ''). Null when it is not a string or is truncated.
 */
export function readHessianString(b: Buffer, off: number): Decoded | null {
  let p = off;
  let out = '';
  for (let chunks = 0; chunks < 4096; chunks++) {
    if (p >= b.length) return null;
    const tag = b[p];
    let len: number;
    let final = true;
    if (tag <= 0x1f) {
      len = tag;
      p += 1;
    } else if (tag >= 0x30 && tag <= 0x33) {
      if (p + 2 > b.length) return null;
      len = ((tag - 0x30) << 8) | b[p + 1];
      p += 2;
    } else if (tag === 0x53 || tag === 0x52) {
      if (p + 3 > b.length) return null;
      len = b.readUInt16BE(p + 1);
      final = tag === 0x53;
      p += 3;
    } else if (tag === 0x4e && chunks === 0) {
      return { value: '', next: p + 1 };
    } else return null;
    const span = utf8Span(b, p, len);
    if (span < 0) return null;
    if (out.length < MAX_TEXT) out += b.toString('utf8', p, p + span);
    p += span;
    if (final) return { value: cut(out), next: p };
  }
  return null;
}

/**
 * A Kryo string at `off`: ASCII with the high bit set on the last byte, or a varint char count + 1
 * (flagged by bit 0x80 of the first byte) followed by UTF-8.
 */
export function readKryoString(b: Buffer, off: number): Decoded | null {
  if (off >= b.length) return null;
  const first = b[off];
  if ((first & 0x80) === 0) {
    let p = off;
    while (p < b.length && (b[p] & 0x80) === 0) p++;
    if (p >= b.length) return null;
    const bytes = Buffer.from(b.subarray(off, p + 1));
    bytes[bytes.length - 1] &= 0x7f;
    return { value: cut(bytes.toString('latin1')), next: p + 1 };
  }
  let count = first & 0x3f;
  let p = off + 1;
  if (first & 0x40) {
    let shift = 6;
    for (let i = 0; i < 4; i++) {
      if (p >= b.length) return null;
      const x = b[p++];
      count |= (x & 0x7f) << shift;
      shift += 7;
      if ((x & 0x80) === 0) break;
      if (i === 3) return null;
    }
  }
  if (count <= 1) return { value: '', next: p };
  const span = utf8Span(b, p, count - 1);
  if (span < 0) return null;
  return { value: cut(b.toString('utf8', p, p + span)), next: p + span };
}

/** A JSON string on its own line (fastjson / gson `writeUTF`): `"text"\n`. */
export function readJsonLine(b: Buffer, off: number): Decoded | null {
  if (off >= b.length || b[off] !== 0x22) return null;
  let p = off + 1;
  while (p < b.length && b[p] !== 0x22) p += b[p] === 0x5c ? 2 : 1;
  if (p >= b.length) return null;
  const raw = b.toString('utf8', off + 1, p);
  p++;
  if (p < b.length && b[p] === 0x0d) p++;
  if (p < b.length && b[p] === 0x0a) p++;
  return { value: cut(raw.replace(/\\(.)/g, '$1')), next: p };
}

export interface RequestInfo {
  dubboVersion: string;
  service: string;
  serviceVersion: string;
  method: string;
}

/** The first four strings of a request body, or null when they cannot be read. */
export function readRequestBody(serialization: number, body: Buffer): RequestInfo | null {
  const reader = serialization === 2 ? readHessianString : serialization === 8 || serialization === 25 ? readKryoString : serialization === 6 || serialization === 16 ? readJsonLine : null;
  if (!reader) return null;
  const values: string[] = [];
  let off = 0;
  for (let i = 0; i < 4; i++) {
    const d = reader(body, off);
    if (!d) return null;
    values.push(d.value);
    off = d.next;
  }
  const [dubboVersion, service, serviceVersion, method] = values;
  // A dubbo version looks like "2.0.2"; anything else means this was not the request layout.
  if (!/^\d+(\.\d+)*/.test(dubboVersion)) return null;
  return { dubboVersion, service, serviceVersion, method };
}

/** The error text of a failed response (status ≠ 20): a string in the body. */
function readErrorText(serialization: number, body: Buffer): string | undefined {
  const d = serialization === 2 ? readHessianString(body, 0) : serialization === 8 || serialization === 25 ? readKryoString(body, 0) : serialization === 6 || serialization === 16 ? readJsonLine(body, 0) : null;
  return d && d.value ? (d.value.length > 256 ? d.value.slice(0, 256) : d.value) : undefined;
}

interface Message {
  header: DubboHeader;
  info: RequestInfo | null;
  errorText?: string;
  length: number;
}

interface Pending {
  dir: Direction;
  id: bigint;
  info: RequestInfo | null;
  serialization: number;
  requestTimeUs: number;
  length: number;
}

/** The message at `pos` of a direction's bytes; garbage is passed over up to the next magic. */
function frameAt(buf: Buffer, pos: number): Framing<DubboHeader> {
  const h = readHeader(buf, pos);
  if (h === 'bad') {
    // Resync: scan for the next magic.
    let next = buf.indexOf(MAGIC_HI, pos + 1);
    while (next >= 0 && next + 1 < buf.length && buf[next + 1] !== MAGIC_LO) next = buf.indexOf(MAGIC_HI, next + 1);
    const to = next < 0 ? buf.length : next;
    return { kind: 'skip', bytes: to - pos };
  }
  // A lone trailing byte that cannot start the magic is garbage.
  if (h === null) return buf.length - pos === 1 && buf[pos] !== MAGIC_HI ? SKIP_ONE : NEED_MORE;
  return { kind: 'message', header: h, headerLength: HEADER_LENGTH, length: HEADER_LENGTH + h.bodyLength };
}

function idNumber(id: bigint): number {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : -1;
}

export class DubboParser implements L7Parser {
  readonly protocol = 'dubbo' as const;
  /** The framer copies an unfinished message; messages keep text and numbers. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly maxBuffer: number;
  private readonly sides: [MessageFramer<DubboHeader, Message>, MessageFramer<DubboHeader, Message>];
  private readonly pending = new Map<string, Pending>();
  private records: L7Record[] = [];

  constructor(options: ParserOptions = {}) {
    this.maxBuffer = Math.max(256, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
    this.sides = [this.framer(0), this.framer(1)];
  }

  private framer(dir: Direction): MessageFramer<DubboHeader, Message> {
    const format: MessageFormat<DubboHeader, Message> = {
      headerRoom: HEADER_LENGTH,
      frame: frameAt,
      decode: (h, body) => ({ kind: 'message', message: this.decode(h, body, HEADER_LENGTH + h.bodyLength) }),
      emit: (msg, startTs, endTs) => this.handle(dir, msg, startTs, endTs),
    };
    return new MessageFramer(format, this.maxBuffer, this.stats);
  }

  /** Bytes buffered per direction (for tests of the bound). */
  bufferedBytes(direction: Direction): number {
    return this.sides[direction].bufferedBytes;
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    this.sides[direction].feed(data, tsUs);
  }

  private decode(h: DubboHeader, body: Buffer, length: number): Message {
    const msg: Message = { header: h, info: null, length };
    if (h.event) return msg;
    if (h.request) {
      msg.info = readRequestBody(h.serialization, body);
      if (!msg.info && (h.serialization === 2 || h.serialization === 8 || h.serialization === 6 || h.serialization === 16) && body.length >= 4) this.stats.parseErrors++;
    } else if (h.status !== 20) {
      msg.errorText = readErrorText(h.serialization, body);
    }
    return msg;
  }

  gap(direction: Direction, bytes: number): void {
    // Lost bytes inside a body being passed over leave the framing, and the message, whole.
    this.sides[direction].gap(bytes);
  }

  expire(nowUs: number, timeoutUs: number): void {
    const limit = nowUs - timeoutUs;
    for (const [k, p] of this.pending) {
      if (p.requestTimeUs < limit) {
        this.pending.delete(k);
        this.timeout(p);
      }
    }
  }

  close(_nowUs: number): void {
    for (const p of this.pending.values()) this.timeout(p);
    this.pending.clear();
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = [];
    return out;
  }

  private base(info: RequestInfo | null, id: bigint, serialization: number): L7Record {
    const rec: L7Record = {
      protocol: 'dubbo',
      version: info?.dubboVersion ?? '',
      requestType: info?.method ?? '',
      requestDomain: '',
      requestResource: info?.service ?? '',
      endpoint: info && (info.service || info.method) ? `${info.service}/${info.method}` : '',
      status: 'unknown',
      requestLength: -1,
      responseLength: -1,
      countsAsRequest: true,
      attributes: { serialization: SERIALIZATIONS[serialization] ?? String(serialization) },
    };
    const n = idNumber(id);
    if (n >= 0) rec.requestId = n;
    if (info?.serviceVersion && rec.attributes) rec.attributes.service_version = info.serviceVersion;
    return rec;
  }

  private timeout(p: Pending): void {
    const rec = this.base(p.info, p.id, p.serialization);
    rec.status = 'timeout';
    rec.requestTimeUs = p.requestTimeUs;
    rec.requestLength = p.length;
    this.records.push(rec);
  }

  private handle(dir: Direction, msg: Message, startTs: number, endTs: number): void {
    this.stats.messages++;
    const h = msg.header;
    if (h.event) return; // heartbeats and other events: not requests, not logged
    if (h.request) {
      if (!h.twoWay) {
        const rec = this.base(msg.info, h.id, h.serialization);
        rec.status = 'ok';
        rec.countsAsRequest = false;
        rec.requestTimeUs = endTs;
        rec.requestLength = msg.length;
        this.records.push(rec);
        return;
      }
      const key = `${dir}:${h.id}`;
      const old = this.pending.get(key);
      if (old) {
        this.pending.delete(key);
        this.timeout(old);
      }
      this.pending.set(key, { dir, id: h.id, info: msg.info, serialization: h.serialization, requestTimeUs: endTs, length: msg.length });
      if (this.pending.size > MAX_PENDING) {
        const [k, first] = this.pending.entries().next().value as [string, Pending];
        this.pending.delete(k);
        this.timeout(first);
      }
      return;
    }
    const key = `${dir === 0 ? 1 : 0}:${h.id}`;
    const req = this.pending.get(key);
    if (req) this.pending.delete(key);
    const rec = this.base(req?.info ?? null, h.id, req?.serialization ?? h.serialization);
    rec.status = statusOf(h.status);
    rec.responseCode = h.status;
    const text = msg.errorText ?? (h.status !== 20 ? STATUS_TEXT[h.status] : undefined);
    if (text) rec.responseException = text;
    rec.responseTimeUs = startTs;
    rec.responseLength = msg.length;
    if (req) {
      rec.requestTimeUs = req.requestTimeUs;
      rec.requestLength = req.length;
    }
    this.records.push(rec);
  }
}

/** Magic 0xdabb with a sane header (known serialization, status, bounded length) is certain. */
export function detectDubbo(_direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length < 2 || payload[0] !== MAGIC_HI || payload[1] !== MAGIC_LO) return 'no';
  const h = readHeader(payload, 0);
  if (h === null) return 'maybe';
  if (h === 'bad' || SERIALIZATIONS[h.serialization] === undefined) return 'no';
  return 'yes';
}

export const dubboModule: L7ProtocolModule = {
  name: 'dubbo',
  defaultPorts: [20880],
  detect: detectDubbo,
  create: (options?: ParserOptions) => new DubboParser(options),
};
