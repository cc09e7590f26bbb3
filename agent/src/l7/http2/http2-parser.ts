/**
 * HTTP/2 cleartext (h2c) parser: prior knowledge (client preface), h2c Upgrade from HTTP/1.1,
 * and captures that start mid-connection (frame boundaries found by plausibility). gRPC streams
 * (content-type application/grpc*) are reported as protocol 'grpc'.
 *
 * One record per stream, paired by stream id, emitted when the response ends (END_STREAM), at
 * RST_STREAM, at GOAWAY (streams above its last-stream-id), or as a timeout at expire()/close().
 * Response time follows the corpus oracle's rt_rule: the frame completing the first HEADERS with
 * :method (or the HTTP/1.1 Upgrade request) to the frame completing the first final HEADERS with
 * :status.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, ResponseStatus, Verdict } from '../l7-parser';
import { ACK_FLAG, DEFAULT_MAX_FRAME, Flag, FRAME_HEADER_BYTES, FrameType, PREFACE, Setting, errorName, framePayload, plausibleHeader, readFrameHeader } from './frames';
import { http1Module } from '../http1/http1-parser';
import { HeaderField, HpackDecoder } from './hpack';
import { TraceIds, traceFromHeaders } from './trace';

export const DEFAULT_HEADER_ALLOW_LIST: readonly string[] = ['user-agent', 'content-type', 'referer'];
const DEFAULT_MAX_BUFFER = 64 * 1024;
/** Streams kept open per connection; beyond it the oldest is reported as a timeout. */
const MAX_STREAMS = 1024;
/** Bytes of an h2c Upgrade exchange kept to hand a refused upgrade to the HTTP/1 parser. */
const MAX_UPGRADE_LOG = 64 * 1024;
/** Largest frame we accept in a synchronised direction (SETTINGS_MAX_FRAME_SIZE upper bound). */
const MAX_FRAME_LIMIT = (1 << 24) - 1;

const enum Mode {
  Start,
  Preface,
  Frames,
  Sync,
  Http1,
  Dead,
}

interface HeaderBlock {
  streamId: number;
  type: number;
  promisedId: number;
  endStream: boolean;
  chunks: Buffer[];
  bytes: number;
  frameBytes: number;
  /** Capture time of the HEADERS frame itself (tshark shows the fields there, not at END_HEADERS). */
  tsUs: number;
}

interface Side {
  mode: Mode;
  buf: Buffer;
  pos: number;
  /** Payload bytes of the current DATA (or oversized) frame still to pass over. */
  skip: number;
  hpack: HpackDecoder;
  /** Frame size limit announced by the receiver of this direction. */
  maxFrame: number;
  block: HeaderBlock | undefined;
  /** HTTP/1.1 body bytes still to pass over (h2c Upgrade). */
  http1Body: number;
}

interface Stream {
  id: number;
  reqDir: Direction | undefined;
  hasRequest: boolean;
  method: string;
  path: string;
  authority: string;
  grpc: boolean;
  requestTimeUs?: number;
  responseTimeUs?: number;
  status?: number;
  grpcStatus?: number;
  grpcMessage?: string;
  /** The requester reset the stream before any response: a response already in flight may follow. */
  resetByRequester?: string;
  reqLen: number;
  respLen: number;
  trace: TraceIds;
  attributes: Record<string, string>;
}

const other = (d: Direction): Direction => (d === 0 ? 1 : 0);

const HTTP1_METHOD = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;

function isGrpcContentType(v: string | undefined): boolean {
  return v !== undefined && v.toLowerCase().startsWith('application/grpc');
}

/** The path without query, cut to its first `segments` segments. */
export function endpointOf(path: string, segments: number): string {
  const clean = path.split(/[?#]/, 1)[0];
  if (!clean.startsWith('/')) return clean;
  const parts = clean.split('/').filter((s) => s.length > 0);
  return '/' + parts.slice(0, Math.max(0, segments)).join('/');
}

/** gRPC messages are percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(v: string): string {
  return v.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

class Http2Parser implements L7Parser {
  readonly protocol = 'http2' as const;
  /**
   * Frames are read in place; what outlives a feed is copied at its end: an unfinished frame, a
   * header block waiting for its CONTINUATION, the bytes of an h2c upgrade that may be refused.
   */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly sides: [Side, Side];
  private readonly streams = new Map<number, Stream>();
  private out: L7Record[] = [];
  private readonly maxBuffer: number;
  private readonly allowList: string[];
  private readonly segments: number;
  private ts = 0;
  /**
   * What was fed while the connection may still be HTTP/1.1 (before a 101 or the preface): a
   * server that refuses the h2c Upgrade keeps talking HTTP/1.1, and the HTTP/1 parser replays it.
   */
  private upgradeLog: { direction: Direction; data: Buffer; tsUs: number }[] | undefined = [];
  private upgradeLogBytes = 0;
  private upgradeRefused = false;
  /** Set once an h2c Upgrade was refused: the rest of the connection is HTTP/1.1. */
  private http1: L7Parser | undefined;

  constructor(private readonly options: ParserOptions = {}) {
    this.maxBuffer = Math.max(1024, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
    this.allowList = (options.httpHeaderAllowList ?? DEFAULT_HEADER_ALLOW_LIST).map((h) => h.toLowerCase());
    this.segments = options.endpointPathSegments ?? 2;
    const side = (): Side => ({
      mode: Mode.Start,
      buf: Buffer.alloc(0),
      pos: 0,
      skip: 0,
      hpack: new HpackDecoder(),
      maxFrame: DEFAULT_MAX_FRAME,
      block: undefined,
      http1Body: 0,
    });
    this.sides = [side(), side()];
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    if (data.length === 0) return;
    if (this.http1) return this.http1.feed(direction, data, tsUs);
    const s = this.sides[direction];
    if (s.mode === Mode.Dead) return;
    this.ts = tsUs;
    if (this.upgradeLog) {
      this.upgradeLog.push({ direction, data: Buffer.from(data), tsUs });
      this.upgradeLogBytes += data.length;
      if (this.upgradeLogBytes > MAX_UPGRADE_LOG) this.upgradeLog = undefined;
    }
    const rest = s.buf.length - s.pos;
    s.buf = rest === 0 ? data : Buffer.concat([s.buf.subarray(s.pos), data]);
    s.pos = 0;
    this.run(direction);
    if (this.upgradeRefused && this.upgradeLog) return this.becomeHttp1(this.upgradeLog);
    if (this.upgradeLog && (s.mode === Mode.Frames || s.mode === Mode.Sync)) this.upgradeLog = undefined;
    if (s.pos >= s.buf.length) {
      s.buf = Buffer.alloc(0);
      s.pos = 0;
    } else if (s.buf.length - s.pos > this.maxBuffer) {
      // a message we cannot hold: give it up and look for the next frame
      const n = s.buf.length - s.pos;
      this.stats.bytesSkipped += n;
      this.stats.parseErrors++;
      this.lose(s);
      s.buf = Buffer.alloc(0);
      s.pos = 0;
    } else if (s.buf === data) {
      // The caller owns `data`: the unfinished frame is kept as a copy.
      s.buf = Buffer.from(data.subarray(s.pos));
      s.pos = 0;
    }
    // A header block waiting for CONTINUATION may point into `data`: one copy of its chunks.
    if (s.block) s.block.chunks = [Buffer.concat(s.block.chunks)];
  }

  /** Replays the refused upgrade exchange into an HTTP/1 parser that takes the connection over. */
  private becomeHttp1(log: { direction: Direction; data: Buffer; tsUs: number }[]): void {
    this.upgradeLog = undefined;
    const parser = http1Module.create(this.options);
    for (const f of log) parser.feed(f.direction, f.data, f.tsUs);
    this.http1 = parser;
  }

  gap(direction: Direction, bytes: number): void {
    if (this.http1) return this.http1.gap(direction, bytes);
    this.upgradeLog = undefined;
    const s = this.sides[direction];
    if (s.mode === Mode.Dead) return;
    s.buf = Buffer.alloc(0);
    s.pos = 0;
    if (s.mode === Mode.Frames && s.skip > 0 && bytes < s.skip && !s.block) {
      // the gap fell inside a DATA payload: still in step
      s.skip -= bytes;
      return;
    }
    s.skip = 0;
    s.http1Body = 0;
    this.lose(s);
  }

  /** State of a direction is unknown: drop the header block in progress and the HPACK table. */
  private lose(s: Side): void {
    s.block = undefined;
    s.skip = 0;
    s.hpack.reset();
    if (s.mode !== Mode.Dead) s.mode = Mode.Sync;
  }

  expire(nowUs: number, timeoutUs: number): void {
    if (this.http1) return this.http1.expire(nowUs, timeoutUs);
    for (const st of [...this.streams.values()]) {
      const since = st.requestTimeUs ?? st.responseTimeUs;
      if (since !== undefined && nowUs - since > timeoutUs && st.status === undefined) this.finish(st, this.pendingStatus(st), st.resetByRequester);
    }
  }

  end(direction: Direction, tsUs: number): void {
    this.http1?.end?.(direction, tsUs);
  }

  close(nowUs: number): void {
    if (this.http1) return this.http1.close(nowUs);
    for (const st of [...this.streams.values()]) this.finish(st, this.pendingStatus(st), st.resetByRequester);
  }

  /** Status of a stream that ends without a final response. */
  private pendingStatus(st: Stream): ResponseStatus | undefined {
    if (st.status !== undefined) return undefined;
    return st.resetByRequester !== undefined ? 'unknown' : 'timeout';
  }

  take(): L7Record[] {
    if (this.http1) {
      const handed = this.http1.take();
      if (this.out.length === 0) return handed;
      const before = this.out;
      this.out = [];
      return [...before, ...handed];
    }
    const r = this.out;
    this.out = [];
    return r;
  }

  // ---- byte-level state machine ----

  private run(d: Direction): void {
    const s = this.sides[d];
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (s.skip > 0) {
        const n = Math.min(s.skip, s.buf.length - s.pos);
        s.pos += n;
        s.skip -= n;
        if (s.skip > 0) return;
      }
      if (s.http1Body > 0) {
        const n = Math.min(s.http1Body, s.buf.length - s.pos);
        s.pos += n;
        s.http1Body -= n;
        if (s.http1Body > 0) return;
      }
      const avail = s.buf.length - s.pos;
      if (avail <= 0) return;
      let progressed: boolean;
      switch (s.mode) {
        case Mode.Start:
          progressed = this.start(d, s);
          break;
        case Mode.Preface:
          progressed = this.preface(d, s);
          break;
        case Mode.Http1:
          progressed = d === 0 ? this.http1Request(s) : this.http1Response(s);
          break;
        case Mode.Sync:
          progressed = this.sync(s);
          break;
        case Mode.Frames:
          progressed = this.frame(d, s);
          break;
        default:
          s.pos = s.buf.length;
          return;
      }
      if (!progressed) return;
    }
  }

  private startsWithPrefix(s: Side, literal: Buffer): 'yes' | 'partial' | 'no' {
    const avail = s.buf.length - s.pos;
    const n = Math.min(avail, literal.length);
    if (s.buf.compare(literal, 0, n, s.pos, s.pos + n) !== 0) return 'no';
    return n === literal.length ? 'yes' : 'partial';
  }

  private start(d: Direction, s: Side): boolean {
    if (d === 0) {
      const p = this.startsWithPrefix(s, PREFACE);
      if (p === 'partial') return false;
      if (p === 'yes') {
        s.pos += PREFACE.length;
        s.mode = Mode.Frames;
        if (this.sides[1].mode === Mode.Start) this.sides[1].mode = Mode.Frames;
        return true;
      }
      const head = s.buf.toString('latin1', s.pos, Math.min(s.buf.length, s.pos + 24));
      if (/^[A-Z]{3,10} /.test(head) || (/^[A-Z]{1,10}$/.test(head) && head.length < 11)) {
        if (/^[A-Z]{1,10}$/.test(head)) return false; // wait for more of the request line
        s.mode = Mode.Http1;
        return true;
      }
    } else {
      const p = this.startsWithPrefix(s, Buffer.from('HTTP/1.', 'latin1'));
      if (p === 'partial') return false;
      if (p === 'yes') {
        s.mode = Mode.Http1;
        return true;
      }
    }
    s.mode = Mode.Sync;
    return true;
  }

  private preface(d: Direction, s: Side): boolean {
    const p = this.startsWithPrefix(s, PREFACE);
    if (p === 'partial') return false;
    if (p === 'yes') {
      s.pos += PREFACE.length;
      s.mode = Mode.Frames;
      return true;
    }
    s.mode = HTTP1_METHOD.test(s.buf.toString('latin1', s.pos, Math.min(s.buf.length, s.pos + 64))) && d === 0 ? Mode.Http1 : Mode.Sync;
    return true;
  }

  /** Finds the end of an HTTP/1 head; undefined while incomplete. */
  private http1Head(s: Side): { lines: string[]; length: number } | undefined {
    const end = s.buf.indexOf('\r\n\r\n', s.pos, 'latin1');
    if (end < 0) {
      if (s.buf.length - s.pos > Math.min(this.maxBuffer, 16384)) {
        this.stats.parseErrors++;
        this.stats.bytesSkipped += s.buf.length - s.pos;
        s.pos = s.buf.length;
        s.mode = Mode.Dead;
      }
      return undefined;
    }
    const text = s.buf.toString('latin1', s.pos, end);
    const length = end + 4 - s.pos;
    s.pos = end + 4;
    return { lines: text.split('\r\n'), length };
  }

  private static headerMap(lines: string[]): Map<string, string> {
    const m = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].indexOf(':');
      if (c <= 0) continue;
      const name = lines[i].slice(0, c).trim().toLowerCase();
      if (!m.has(name)) m.set(name, lines[i].slice(c + 1).trim());
    }
    return m;
  }

  private http1Request(s: Side): boolean {
    const head = this.http1Head(s);
    if (!head) return false;
    const m = /^([A-Z]{1,10}) (\S+) HTTP\/1\.[01]$/.exec(head.lines[0]);
    if (!m) {
      this.stats.parseErrors++;
      this.lose(s);
      return true;
    }
    const h = Http2Parser.headerMap(head.lines);
    const cl = Number(h.get('content-length') ?? '0');
    s.http1Body = Number.isSafeInteger(cl) && cl > 0 ? cl : 0;
    const upgrade = (h.get('upgrade') ?? '').toLowerCase();
    if (upgrade.split(',').some((t) => t.trim() === 'h2c')) {
      // stream 1 of the upgraded connection answers this request (RFC 7540 §3.2)
      this.stats.messages++;
      const st = this.newStream(1);
      st.reqDir = 0;
      st.hasRequest = true;
      st.method = m[1];
      st.path = m[2];
      st.authority = h.get('host') ?? '';
      st.grpc = isGrpcContentType(h.get('content-type'));
      st.requestTimeUs = this.ts;
      st.reqLen = head.length + s.http1Body;
      st.trace = traceFromHeaders((n) => h.get(n));
      for (const name of this.allowList) {
        const v = h.get(name);
        if (v !== undefined) st.attributes[name] = v;
      }
      s.mode = Mode.Preface;
    }
    return true;
  }

  private http1Response(s: Side): boolean {
    const head = this.http1Head(s);
    if (!head) return false;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.lines[0]);
    const code = m ? Number(m[1]) : 0;
    if (code === 101) {
      s.mode = Mode.Frames;
      return true;
    }
    if (code >= 100 && code < 200) return true; // 100 Continue before the 101
    // the upgrade was refused (or this is plain HTTP/1.1): nothing of ours on this connection
    const st = this.streams.get(1);
    if (st && st.requestTimeUs !== undefined && st.responseTimeUs === undefined) this.streams.delete(1);
    this.upgradeRefused = true;
    this.sides[0].mode = Mode.Dead;
    s.mode = Mode.Dead;
    s.pos = s.buf.length;
    return true;
  }

  /** Looks for a frame header followed by another plausible one (or by the end of the bytes). */
  private sync(s: Side): boolean {
    const buf = s.buf;
    while (s.pos + FRAME_HEADER_BYTES <= buf.length) {
      if (plausibleHeader(buf, s.pos, DEFAULT_MAX_FRAME, true)) {
        const end = s.pos + FRAME_HEADER_BYTES + readFrameHeader(buf, s.pos).length;
        if (end === buf.length || (end + FRAME_HEADER_BYTES <= buf.length && plausibleHeader(buf, end, DEFAULT_MAX_FRAME, true))) {
          s.mode = Mode.Frames;
          return true;
        }
        if (end + FRAME_HEADER_BYTES > buf.length) return false; // wait to see what follows
      }
      s.pos++;
      this.stats.bytesSkipped++;
    }
    return false;
  }

  private frame(d: Direction, s: Side): boolean {
    const buf = s.buf;
    if (buf.length - s.pos < FRAME_HEADER_BYTES) return false;
    const h = readFrameHeader(buf, s.pos);
    if (h.length > s.maxFrame || (h.type <= FrameType.CONTINUATION && !plausibleHeader(buf, s.pos, s.maxFrame, false))) {
      this.stats.parseErrors++;
      this.lose(s);
      return true;
    }
    if (s.block && h.type !== FrameType.CONTINUATION) {
      // a header block interrupted: its fields are lost, and so is HPACK synchrony
      this.stats.parseErrors++;
      s.block = undefined;
      s.hpack.reset();
    }
    const frameBytes = FRAME_HEADER_BYTES + h.length;
    if (h.type === FrameType.DATA) {
      // the payload is never needed: account for it and pass over it as it comes
      s.pos += FRAME_HEADER_BYTES;
      s.skip = h.length;
      const st = this.streams.get(h.streamId);
      if (st) {
        this.count(st, d, frameBytes);
        if (h.flags & Flag.END_STREAM) this.endStream(st, d);
      }
      return true;
    }
    if (h.length > this.maxBuffer - FRAME_HEADER_BYTES || h.type > FrameType.CONTINUATION) {
      // unknown type (ignored by the spec) or too big to hold
      if (h.type <= FrameType.CONTINUATION) {
        this.stats.parseErrors++;
        if (h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE || h.type === FrameType.CONTINUATION) {
          s.block = undefined;
          s.hpack.reset();
        }
      }
      s.pos += FRAME_HEADER_BYTES;
      s.skip = h.length;
      return true;
    }
    if (buf.length - s.pos < frameBytes) return false;
    const at = s.pos;
    s.pos += frameBytes;
    this.handleFrame(d, s, buf, at, h.type, h.flags, h.streamId, h.length);
    return true;
  }

  private handleFrame(d: Direction, s: Side, buf: Buffer, at: number, type: number, flags: number, streamId: number, length: number): void {
    const p = at + FRAME_HEADER_BYTES;
    switch (type) {
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE: {
        const pl = framePayload(buf, at, { length, type, flags, streamId });
        if (!pl) {
          this.stats.parseErrors++;
          s.hpack.reset();
          return;
        }
        const block: HeaderBlock = {
          streamId,
          type,
          promisedId: pl.promisedId,
          endStream: type === FrameType.HEADERS && (flags & Flag.END_STREAM) !== 0,
          chunks: [buf.subarray(pl.start, pl.end)],
          bytes: pl.end - pl.start,
          frameBytes: FRAME_HEADER_BYTES + length,
          tsUs: this.ts,
        };
        if (flags & Flag.END_HEADERS) this.headerBlock(d, s, block);
        else s.block = block;
        return;
      }
      case FrameType.CONTINUATION: {
        const b = s.block;
        if (!b) return; // mid-stream: the HEADERS it continues was not captured
        if (b.streamId !== streamId || b.bytes + length > this.maxBuffer) {
          this.stats.parseErrors++;
          s.block = undefined;
          s.hpack.reset();
          return;
        }
        b.chunks.push(buf.subarray(p, p + length));
        b.bytes += length;
        b.frameBytes += FRAME_HEADER_BYTES + length;
        if (flags & Flag.END_HEADERS) {
          s.block = undefined;
          this.headerBlock(d, s, b);
        }
        return;
      }
      case FrameType.RST_STREAM: {
        const st = this.streams.get(streamId);
        if (!st) return;
        const code = buf.readUInt32BE(p);
        if (st.reqDir === d && st.status === undefined) {
          // the requester gave up (CANCEL…): the response may still be on its way, keep the stream
          st.resetByRequester = `RST_STREAM ${errorName(code)}`;
          return;
        }
        this.finish(st, undefined, `RST_STREAM ${errorName(code)}`, d, code);
        return;
      }
      case FrameType.SETTINGS: {
        if (flags & ACK_FLAG) return;
        const peer = this.sides[other(d)];
        for (let i = p; i + 6 <= p + length; i += 6) {
          const id = buf.readUInt16BE(i);
          const value = buf.readUInt32BE(i + 2);
          if (id === Setting.HEADER_TABLE_SIZE) peer.hpack.setLimit(value);
          else if (id === Setting.MAX_FRAME_SIZE && value >= DEFAULT_MAX_FRAME && value <= MAX_FRAME_LIMIT) peer.maxFrame = value;
        }
        return;
      }
      case FrameType.GOAWAY: {
        const last = buf.readUInt32BE(p) & 0x7fffffff;
        const code = buf.readUInt32BE(p + 4);
        // streams the receiver of the GOAWAY opened above `last` were not processed
        const parity = d === 1 ? 1 : 0;
        for (const st of [...this.streams.values()]) {
          if (st.id > last && st.id % 2 === parity && st.status === undefined) this.finish(st, undefined, `GOAWAY ${errorName(code)}`, d, code);
        }
        return;
      }
      default:
        return; // PRIORITY, PING, WINDOW_UPDATE: nothing for the log
    }
  }

  private headerBlock(d: Direction, s: Side, b: HeaderBlock): void {
    const block = b.chunks.length === 1 ? b.chunks[0] : Buffer.concat(b.chunks);
    const r = s.hpack.decode(block);
    if (!r.ok) {
      this.stats.parseErrors++;
      s.hpack.reset();
    }
    this.stats.messages++;
    const get = (name: string): string | undefined => r.headers.find((f: HeaderField) => f.name === name)?.value;
    if (b.type === FrameType.PUSH_PROMISE) {
      const parent = this.streams.get(b.streamId);
      if (parent) this.count(parent, d, b.frameBytes);
      if (b.promisedId !== 0 && get(':method') !== undefined) this.request(this.newStream(b.promisedId), other(d), r.headers, get, 0, b.tsUs);
      return;
    }
    const method = get(':method');
    const status = get(':status');
    let st = this.streams.get(b.streamId);
    if (!st) {
      if (method === undefined && status === undefined && get('grpc-status') === undefined) return;
      st = this.newStream(b.streamId);
    }
    if (method !== undefined && (st.reqDir === undefined || st.reqDir === d) && !st.hasRequest) {
      this.request(st, d, r.headers, get, b.frameBytes, b.tsUs);
    } else if (st.reqDir === d) {
      st.reqLen += b.frameBytes; // request trailers
    } else {
      if (st.reqDir === undefined) st.reqDir = other(d);
      st.respLen += b.frameBytes;
      if (status !== undefined) {
        const code = Number(status);
        if (Number.isInteger(code) && (code < 100 || code >= 200) && st.status === undefined) {
          st.status = code;
          st.responseTimeUs = b.tsUs;
        }
      }
      if (isGrpcContentType(get('content-type'))) st.grpc = true;
      const gs = get('grpc-status');
      if (gs !== undefined && /^\d+$/.test(gs)) st.grpcStatus = Number(gs);
      const gm = get('grpc-message');
      if (gm !== undefined) st.grpcMessage = decodeGrpcMessage(gm).slice(0, 256);
    }
    if (b.endStream || (st.resetByRequester !== undefined && st.status !== undefined)) this.endStream(st, d);
  }

  private request(st: Stream, d: Direction, headers: HeaderField[], get: (n: string) => string | undefined, frameBytes: number, tsUs: number): void {
    st.reqDir = d;
    st.hasRequest = true;
    st.method = get(':method') ?? '';
    st.path = get(':path') ?? '';
    st.authority = get(':authority') ?? get('host') ?? '';
    st.grpc = isGrpcContentType(get('content-type'));
    st.requestTimeUs = tsUs;
    st.reqLen += frameBytes;
    st.trace = traceFromHeaders(get);
    for (const f of headers) {
      if (this.allowList.includes(f.name) && st.attributes[f.name] === undefined) st.attributes[f.name] = f.value.slice(0, 256);
    }
  }

  private newStream(id: number): Stream {
    const old = this.streams.get(id);
    if (old) this.finish(old, this.pendingStatus(old), old.resetByRequester);
    if (this.streams.size >= MAX_STREAMS) {
      const oldest = this.streams.values().next().value as Stream;
      this.finish(oldest, this.pendingStatus(oldest), oldest.resetByRequester);
    }
    const st: Stream = {
      id,
      reqDir: undefined,
      hasRequest: false,
      method: '',
      path: '',
      authority: '',
      grpc: false,
      reqLen: 0,
      respLen: 0,
      trace: {},
      attributes: {},
    };
    this.streams.set(id, st);
    return st;
  }

  private count(st: Stream, d: Direction, bytes: number): void {
    if (st.reqDir === undefined || st.reqDir === d) st.reqLen += bytes;
    else st.respLen += bytes;
  }

  private endStream(st: Stream, d: Direction): void {
    if (st.reqDir !== undefined && st.reqDir !== d) this.finish(st);
  }

  /** Emits the stream's record and forgets it. */
  private finish(st: Stream, forced?: ResponseStatus, exception?: string, from?: Direction, code?: number): void {
    if (this.streams.get(st.id) !== st) return;
    this.streams.delete(st.id);
    let status: ResponseStatus;
    let responseCode: number | undefined;
    let responseException: string | undefined;
    if (st.grpc && st.grpcStatus !== undefined) {
      status = st.grpcStatus === 0 ? 'ok' : 'server_error';
      responseCode = st.grpcStatus;
      responseException = st.grpcMessage;
    } else if (st.status !== undefined) {
      status = st.status >= 500 ? 'server_error' : st.status >= 400 ? 'client_error' : 'ok';
      responseCode = st.status;
    } else if (forced) {
      status = forced;
      responseException = exception;
    } else {
      // reset or refused before any response: the server's errors are server errors
      const serverSide = from !== undefined && st.reqDir !== undefined && from !== st.reqDir;
      status = serverSide && code !== undefined && code !== 0 && code !== 8 ? 'server_error' : 'unknown';
      responseException = exception;
    }
    if (status !== 'ok' && responseException === undefined && exception !== undefined && st.status === undefined) responseException = exception;
    const attributes = { ...st.attributes };
    if (st.grpc && st.status !== undefined) attributes['http.status_code'] = String(st.status);
    const grpc = st.grpc;
    const slash = st.path.indexOf('/', 1);
    const rec: L7Record = {
      protocol: grpc ? 'grpc' : 'http2',
      version: '2',
      requestType: st.method,
      requestDomain: st.authority,
      requestResource: grpc ? (st.path.startsWith('/') && slash > 0 ? st.path.slice(1, slash) : st.path.replace(/^\//, '')) : st.path,
      endpoint: grpc ? st.path.split('?', 1)[0] : endpointOf(st.path, this.segments),
      requestId: st.id,
      status,
      requestLength: st.hasRequest ? st.reqLen : -1,
      responseLength: st.status !== undefined || st.respLen > 0 ? st.respLen : -1,
      countsAsRequest: st.hasRequest || st.status !== undefined,
    };
    if (responseCode !== undefined) rec.responseCode = responseCode;
    if (responseException !== undefined) rec.responseException = responseException;
    if (st.requestTimeUs !== undefined) rec.requestTimeUs = st.requestTimeUs;
    if (st.responseTimeUs !== undefined) rec.responseTimeUs = st.responseTimeUs;
    if (st.trace.traceId !== undefined) rec.traceId = st.trace.traceId;
    if (st.trace.spanId !== undefined) rec.spanId = st.trace.spanId;
    if (st.trace.parentSpanId !== undefined) rec.parentSpanId = st.trace.parentSpanId;
    if (st.trace.xRequestId !== undefined) rec.xRequestId = st.trace.xRequestId;
    if (Object.keys(attributes).length > 0) rec.attributes = attributes;
    this.out.push(rec);
  }
}

/** Plausible frames from `pos`: how many complete ones follow each other (up to 4). */
function frameRun(payload: Buffer, pos: number): { frames: number; partial: boolean; exact: boolean } {
  let frames = 0;
  let p = pos;
  while (frames < 4 && p + FRAME_HEADER_BYTES <= payload.length) {
    if (!plausibleHeader(payload, p, DEFAULT_MAX_FRAME, true)) return { frames, partial: false, exact: false };
    const end = p + FRAME_HEADER_BYTES + readFrameHeader(payload, p).length;
    if (end > payload.length) return { frames, partial: true, exact: false };
    frames++;
    p = end;
  }
  return { frames, partial: false, exact: p === payload.length };
}

function detect(direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length === 0) return 'no';
  const n = Math.min(payload.length, PREFACE.length);
  if (payload.compare(PREFACE, 0, n, 0, n) === 0) return n === PREFACE.length ? 'yes' : 'maybe';
  const head = payload.toString('latin1', 0, Math.min(payload.length, 4096));
  if (direction === 0 && HTTP1_METHOD.test(head)) {
    // An h2c Upgrade request (RFC 7540 §3.2) is ours: this parser reads the HTTP/1.1 upgrade
    // exchange itself and pairs stream 1 with it. Any other HTTP/1 is not ours.
    return /\r\nupgrade:[^\r]*\bh2c\b/i.test(head) && /\r\nhttp2-settings:/i.test(head) ? 'yes' : 'no';
  }
  if (head.startsWith('HTTP/1.')) return /^HTTP\/1\.1 101/.test(head) && /\r\nupgrade:\s*h2c/i.test(head) ? 'yes' : 'no';
  const run = frameRun(payload, 0);
  if (run.frames >= 2 && (run.exact || run.partial || run.frames >= 4)) return 'yes';
  if (run.frames === 1 && run.exact) return 'maybe';
  if (run.frames === 0 && run.partial && payload[3] === FrameType.DATA) return 'maybe';
  return 'no';
}

export const http2Module: L7ProtocolModule = {
  name: 'http2',
  defaultPorts: [50051],
  detect,
  create: (options?: ParserOptions) => new Http2Parser(options),
};
