/**
 * HTTP/1.0 and HTTP/1.1 parser (RFC 9112): one state machine per flow, requests on direction 0,
 * responses on direction 1, paired in order through a FIFO of outstanding requests (keep-alive
 * and pipelining).
 *
 * Message ends: Content-Length, chunked transfer coding (trailers included), no body for HEAD
 * responses and 1xx/204/304, a response without length ends at connection close. Interim 1xx
 * responses (not 101) are not final responses. After `101 Switching Protocols` (or a 2xx answer
 * to CONNECT) the flow is no longer HTTP/1: the record is emitted and parsing stops.
 *
 * Timing matches the corpus oracle (tshark `http.time`): `requestTimeUs` is the time of the feed
 * that completed the request (headers and body), `responseTimeUs` the time of the feed that
 * completed the response.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, NO_RECORDS, ParserOptions, ParserStats, ResponseStatus } from '../l7-parser';
import { detectHttp1 } from './detect';
import { contentLength, FieldNames, HeaderFields, headerLine, indexOfLf, isChunked, isTokenChar, MAX_METHOD, newHeaderFields, NO_FIELD, parseHeaderBlock, LenientRequestLine, parseRequestLine, parseRequestLineLenient, parseStatusLine } from './http-head';
import { endpointOfPath, pathOfTarget } from './path-normalizer';
import { extractTraceContext, TraceContext, traceparentContext } from './trace-context';

export const DEFAULT_HEADER_ALLOW_LIST: readonly string[] = ['user-agent', 'content-type', 'referer'];
/** The fields this parser reads, besides the allow-list; their slots are their indexes. */
const READ_FIELDS: readonly string[] = ['content-length', 'transfer-encoding', 'host', 'x-request-id', 'traceparent', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'uber-trace-id', 'sw8'];
/** Slots of READ_FIELDS, in its order. */
const enum Slot { ContentLength, TransferEncoding, Host, XRequestId, Traceparent, B3, XB3TraceId, XB3SpanId, XB3ParentSpanId, UberTraceId, Sw8 }

interface ReadFields {
  names: FieldNames;
  /** The allow-list, lower case. */
  allowList: readonly string[];
  /** Slot of each allow-list name. */
  allowSlots: number[];
}
/** READ_FIELDS and an allow-list, one per allow-list (not one per flow: parsers are per flow). */
const readFieldSets = new Map<string, ReadFields>();

function readFields(allowListAnyCase: readonly string[]): ReadFields {
  const key = allowListAnyCase.join(',');
  let fields = readFieldSets.get(key);
  if (!fields) {
    const allowList = allowListAnyCase.map((h) => h.toLowerCase());
    const names = new FieldNames([...READ_FIELDS, ...allowList], allowList.includes('content-length'));
    fields = { names, allowList, allowSlots: allowList.map((n) => names.slotOf(n)) };
    if (readFieldSets.size >= 64) readFieldSets.clear();
    readFieldSets.set(key, fields);
  }
  return fields;
}
/** The SSDP multicast groups (IPv4, IPv6 link- and site-local), port 1900. */
const SSDP_HOST = /^(239\.255\.255\.250|\[ff0[25]::c\])(:1900)?$/i;
const DEFAULT_MAX_BUFFER = 64 * 1024;
const NO_TRACE: TraceContext = Object.freeze({});
/** Never written: shared by every side with nothing pending. */
const EMPTY = Buffer.alloc(0);
/** Longest chunk-size or trailer line accepted. */
const MAX_CHUNK_LINE = 4096;

type Mode = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'dead';

/** Counters beyond ParserStats (HTTP-specific). */
export interface Http1Stats {
  /** Requests that expect a response on this flow. */
  requests: number;
  /** Requests logged as one-way (SSDP multicast). */
  oneWayRequests: number;
  /** Final responses (paired or not). */
  responses: number;
  /** Interim 1xx responses other than 101 (counted, never paired). */
  interimResponses: number;
  /** Final responses with no outstanding request (capture began mid-stream): skipped. */
  responsesWithoutRequest: number;
  /** Requests whose response began in a capture gap (recorded with status 'unknown'). */
  responsesLost: number;
  /** 101 Switching Protocols / CONNECT tunnels after which parsing stopped. */
  upgrades: number;
  /**
   * Interim responses per status code (a Map: numeric keys make V8 give a plain object a sparse
   * store of kilobytes). Final responses are counted by the records, which carry their codes.
   */
  interimStatusCounts: Map<number, number>;
}

/**
 * A request until its response: what its record needs, taken from the head when it was read.
 * The head's fields and start line are left behind then: with thousands of connections open,
 * what a request keeps until its response is cold memory by the time the response comes, and
 * the fewer objects it spans the fewer cache misses pairing it costs.
 */
interface PendingRequest {
  /** '1.0' / '1.1', or '' when the request line had no valid version. */
  version: string;
  /** The method as sent: the record's request type. */
  requestType: string;
  /** The method, upper case. */
  method: string;
  domain: string;
  resource: string;
  endpoint: string;
  xRequestId: string | undefined;
  trace: TraceContext;
  /** The request's values of the header allow-list, by its index; undefined when it had none. */
  allowed: (string | undefined)[] | undefined;
  length: number;
  /** Time of the feed that completed the request (the head's time while the body is incomplete). */
  timeUs: number;
  complete: boolean;
  /** Expects no response on this flow (logged with countsAsRequest false). */
  oneWay: boolean;
}

interface CurrentResponse {
  code: number;
  version: string;
  headers: HeaderFields;
  request: PendingRequest | undefined;
}

interface Side {
  mode: Mode;
  /** Unconsumed bytes of an incomplete head or chunk line (never body bytes). */
  pending: Buffer;
  /** Offset in `pending` where the search for the end of the head resumes. */
  scanFrom: number;
  /** Body or chunk bytes still expected. */
  remaining: number;
  /** Bytes of the current message so far. */
  msgBytes: number;
  lastTs: number;
}

function newSide(): Side {
  return { mode: 'head', pending: EMPTY, scanFrom: 0, remaining: 0, msgBytes: 0, lastTs: 0 };
}

function isDead(side: Side): boolean {
  return side.mode === 'dead';
}

/** Whether `s` has no ASCII lower-case letter (methods are ASCII tokens): most methods need no toUpperCase(). */
function isUpperCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return false;
  }
  return true;
}

function statusOf(code: number): ResponseStatus {
  if (code >= 400 && code < 500) return 'client_error';
  if (code >= 500 && code < 600) return 'server_error';
  return 'ok';
}

/** Whether `p` (no complete line yet) can still become a start line of this direction. */
function plausibleStart(direction: Direction, p: Buffer, start: number): boolean {
  const n = p.length - start;
  if (direction === 1) {
    const http = 'HTTP/1.';
    for (let i = 0; i < Math.min(n, http.length); i++) if (p[start + i] !== http.charCodeAt(i)) return false;
    return true;
  }
  let i = 0;
  while (i < n && i <= MAX_METHOD && isTokenChar(p[start + i])) i++;
  if (i === n) return i <= MAX_METHOD;
  return i > 0 && i <= MAX_METHOD && p[start + i] === 0x20;
}

/**
 * One per open HTTP/1 connection, and every message of the connection reaches it: its counters
 * are plain fields (not objects of their own), the two directions' states are fields rather than
 * a pair, and the lists start as the shared empty one. With thousands of connections open each
 * object on a message's way is a likely cache miss, and the ones that outlive a young-generation
 * collection are copied by it.
 */
class Http1Parser implements L7Parser {
  readonly protocol = 'http1' as const;
  /** Heads are made into strings and an incomplete one is copied into `pending`. */
  readonly copiesInput = true;
  private messages = 0;
  private bytesSkipped = 0;
  private parseErrors = 0;
  private requests = 0;
  private oneWayRequests = 0;
  private responses = 0;
  private interimResponses = 0;
  private responsesWithoutRequest = 0;
  private responsesLost = 0;
  private upgrades = 0;
  /** Interim responses per status code; made on the first (most connections see none). */
  private interimStatusCounts: Map<number, number> | undefined;
  private readonly side0: Side = newSide();
  private readonly side1: Side = newSide();
  /**
   * Requests waiting for their responses, oldest first: the first in a field (the parser is at
   * hand for every message, a list of its own would be one more object to reach), the rest, when
   * requests are pipelined, in a list made then.
   */
  private firstOutstanding: PendingRequest | undefined;
  private moreOutstanding: PendingRequest[] | undefined;
  /** The request whose body is being read (direction 0). */
  private currentRequest: PendingRequest | undefined;
  private currentResponse: CurrentResponse | undefined;
  private records: L7Record[] = NO_RECORDS;
  private readonly fields: ReadFields;
  private readonly segments: number;
  private readonly maxBuffer: number;

  constructor(options: ParserOptions) {
    this.fields = readFields(options.httpHeaderAllowList ?? DEFAULT_HEADER_ALLOW_LIST);
    this.segments = options.endpointPathSegments ?? 2;
    this.maxBuffer = Math.max(256, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
  }

  get stats(): ParserStats {
    return { messages: this.messages, bytesSkipped: this.bytesSkipped, parseErrors: this.parseErrors };
  }

  get http1Stats(): Http1Stats {
    return {
      requests: this.requests,
      oneWayRequests: this.oneWayRequests,
      responses: this.responses,
      interimResponses: this.interimResponses,
      responsesWithoutRequest: this.responsesWithoutRequest,
      responsesLost: this.responsesLost,
      upgrades: this.upgrades,
      interimStatusCounts: new Map(this.interimStatusCounts),
    };
  }

  private sideOf(direction: Direction): Side {
    return direction === 0 ? this.side0 : this.side1;
  }

  private pushOutstanding(req: PendingRequest): void {
    if (this.firstOutstanding === undefined) this.firstOutstanding = req;
    else (this.moreOutstanding ??= []).push(req);
  }

  private shiftOutstanding(): PendingRequest | undefined {
    const first = this.firstOutstanding;
    const more = this.moreOutstanding;
    this.firstOutstanding = more !== undefined && more.length > 0 ? more.shift() : undefined;
    return first;
  }

  private emit(record: L7Record): void {
    if (this.records.length === 0) this.records = [record];
    else this.records.push(record);
  }

  /** Bytes buffered per direction (for tests of the bound). */
  bufferedBytes(direction: Direction): number {
    return this.sideOf(direction).pending.length;
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    const side = this.sideOf(direction);
    if (side.mode === 'dead' || data.length === 0) return;
    side.lastTs = tsUs;
    let buf = data;
    if (side.pending.length > 0) {
      buf = Buffer.concat([side.pending, data]);
      side.pending = EMPTY;
    }
    let off = 0;
    loop: while (off < buf.length && !isDead(side)) {
      switch (side.mode) {
        case 'head': {
          const next = this.readHead(direction, side, buf, off, tsUs);
          if (next < 0) break loop;
          off = next;
          break;
        }
        case 'body': {
          const n = Math.min(side.remaining, buf.length - off);
          side.remaining -= n;
          side.msgBytes += n;
          off += n;
          if (side.remaining === 0) this.finishMessage(direction, tsUs);
          break;
        }
        case 'until-close':
          side.msgBytes += buf.length - off;
          off = buf.length;
          break;
        case 'chunk-data': {
          const n = Math.min(side.remaining, buf.length - off);
          side.remaining -= n;
          side.msgBytes += n;
          off += n;
          if (side.remaining === 0) side.mode = 'chunk-crlf';
          break;
        }
        case 'chunk-size':
        case 'chunk-crlf':
        case 'trailers': {
          const next = this.readChunkLine(direction, side, buf, off, tsUs);
          if (next < 0) break loop;
          off = next;
          break;
        }
      }
    }
    // Keep an incomplete head or chunk line (a copy: the caller owns `data`).
    if (off < buf.length && !isDead(side)) side.pending = Buffer.from(buf.subarray(off));
  }

  /** Head mode: returns the new offset, or -1 when the head is incomplete (kept in `pending`). */
  private readHead(direction: Direction, side: Side, buf: Buffer, off: number, tsUs: number): number {
    if (side.scanFrom === 0) {
      // Empty lines between messages are tolerated.
      if (buf[off] === 0x0a) return off + 1;
      if (buf[off] === 0x0d) {
        if (off + 1 >= buf.length) return -1;
        if (buf[off + 1] === 0x0a) return off + 2;
      }
    }
    const lf = indexOfLf(buf, off);
    if (lf < 0) {
      if (!plausibleStart(direction, buf, off) || buf.length - off > this.maxBuffer) return this.skip(side, buf, buf.length, off);
      return -1;
    }
    const lineEnd = lf > off && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    const request = direction === 0 ? (parseRequestLine(buf, off, lineEnd) ?? parseRequestLineLenient(buf.subarray(off, lineEnd))) : undefined;
    const status = direction === 1 ? parseStatusLine(buf, off, lineEnd) : undefined;
    if (!request && !status) return this.skip(side, buf, lf + 1, off);
    // Find the empty line that ends the head, resuming where the last search stopped. Unless it
    // resumes (a head in pieces), fields are read on the way: one pass over the lines, not two.
    let lineStart = Math.max(lf + 1, off + side.scanFrom);
    const names = this.fields.names;
    const fields = lineStart === lf + 1 ? newHeaderFields(names) : undefined;
    let last = NO_FIELD;
    for (;;) {
      const next = indexOfLf(buf, lineStart);
      if (next < 0) break;
      if (next === lineStart || (next === lineStart + 1 && buf[lineStart] === 0x0d)) {
        const headEnd = next + 1;
        side.scanFrom = 0;
        this.onHead(direction, side, fields ?? parseHeaderBlock(buf, lf + 1, lineStart, names), headEnd - off, request, status, tsUs);
        return headEnd;
      }
      if (fields) last = headerLine(buf, lineStart, buf[next - 1] === 0x0d ? next - 1 : next, fields, names, last);
      lineStart = next + 1;
    }
    if (buf.length - off > this.maxBuffer) {
      // A head larger than the buffer: give it up and resynchronise on a later start line.
      this.parseErrors++;
      return this.skip(side, buf, buf.length, off);
    }
    side.scanFrom = lineStart - off;
    return -1;
  }

  private skip(side: Side, buf: Buffer, to: number, from: number): number {
    this.bytesSkipped += to - from;
    side.scanFrom = 0;
    return to;
  }

  /** A complete head, its fields read. */
  private onHead(
    direction: Direction,
    side: Side,
    headers: HeaderFields,
    headBytes: number,
    request: LenientRequestLine | undefined,
    status: ReturnType<typeof parseStatusLine>,
    tsUs: number,
  ): void {
    this.messages++;
    side.msgBytes = headBytes;
    const chunked = isChunked(headers.values[Slot.TransferEncoding]);
    const length = contentLength(headers, Slot.ContentLength);
    if (direction === 0 && request) {
      const req = this.makeRequest(request, headers, tsUs);
      if (req.oneWay) this.oneWayRequests++;
      else {
        this.requests++;
        this.pushOutstanding(req);
      }
      this.currentRequest = req;
      if (chunked) this.startChunked(side);
      else if (length > 0) this.startBody(side, length);
      else this.finishMessage(0, tsUs);
      return;
    }
    if (direction !== 1 || !status) return;
    const code = status.code;
    if (code < 200 && code !== 101) {
      const counts = (this.interimStatusCounts ??= new Map());
      counts.set(code, (counts.get(code) ?? 0) + 1);
      this.interimResponses++;
      side.msgBytes = 0;
      return;
    }
    this.responses++;
    const req = this.shiftOutstanding();
    if (!req) this.responsesWithoutRequest++;
    else if (req === this.currentRequest) {
      // Answered before its body ended (e.g. an early error): its time is the last seen.
      req.complete = true;
    }
    this.currentResponse = { code, version: status.version, headers, request: req };
    const method = req?.method;
    if (code === 101 || (method === 'CONNECT' && code >= 200 && code < 300)) {
      // The connection leaves HTTP/1: emit, then stop parsing both directions.
      this.upgrades++;
      this.finishMessage(1, tsUs);
      this.side0.mode = 'dead';
      this.side1.mode = 'dead';
      this.side0.pending = EMPTY;
      this.side1.pending = EMPTY;
      return;
    }
    if (method === 'HEAD' || code === 204 || code === 304) this.finishMessage(1, tsUs);
    else if (chunked) this.startChunked(side);
    else if (length >= 0) {
      if (length === 0) this.finishMessage(1, tsUs);
      else this.startBody(side, length);
    } else side.mode = 'until-close';
  }

  private startBody(side: Side, length: number): void {
    side.mode = 'body';
    side.remaining = length;
  }

  private startChunked(side: Side): void {
    side.mode = 'chunk-size';
    side.remaining = 0;
  }

  /** Chunk-size line, the CR LF after chunk data, or a trailer line. */
  private readChunkLine(direction: Direction, side: Side, buf: Buffer, off: number, tsUs: number): number {
    const lf = buf.indexOf(0x0a, off);
    if (lf < 0) {
      if (buf.length - off > MAX_CHUNK_LINE) return this.chunkError(direction, side, buf, off, tsUs);
      return -1; // kept in pending by feed()
    }
    if (lf - off > MAX_CHUNK_LINE) return this.chunkError(direction, side, buf, off, tsUs);
    const lineEnd = lf > off && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = buf.toString('latin1', off, lineEnd);
    side.msgBytes += lf + 1 - off;
    if (side.mode === 'chunk-crlf') {
      if (line.length !== 0) return this.chunkError(direction, side, buf, off, tsUs, lf + 1);
      side.mode = 'chunk-size';
      return lf + 1;
    }
    if (side.mode === 'trailers') {
      if (line.length === 0) this.finishMessage(direction, tsUs);
      return lf + 1;
    }
    const m = /^\s*([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
    if (!m) return this.chunkError(direction, side, buf, off, tsUs, lf + 1);
    const size = parseInt(m[1], 16);
    if (size === 0) side.mode = 'trailers';
    else {
      side.mode = 'chunk-data';
      side.remaining = size;
    }
    return lf + 1;
  }

  /** A malformed chunked body: end the message here and resynchronise on the next head. */
  private chunkError(direction: Direction, side: Side, buf: Buffer, off: number, tsUs: number, to = buf.length): number {
    this.parseErrors++;
    this.finishMessage(direction, tsUs);
    return this.skip(side, buf, to, off);
  }

  private makeRequest(line: LenientRequestLine, headers: HeaderFields, tsUs: number): PendingRequest {
    const method = isUpperCase(line.method) ? line.method : line.method.toUpperCase();
    let domain = headers.values[Slot.Host] ?? '';
    let resource: string;
    let endpoint: string;
    // Origin-form targets ('/…'), nearly all of them, skip the expressions.
    const origin = line.target.charCodeAt(0) === 0x2f;
    if (method === 'CONNECT' || (!origin && !/^[*]|^[a-z][a-z0-9+.-]*:\/\//i.test(line.target))) {
      // Authority form (CONNECT) or no target at all (a malformed request line).
      resource = line.target;
      endpoint = line.target;
      if (domain === '') domain = line.target;
    } else {
      const abs = origin ? null : /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(line.target);
      if (abs && domain === '') domain = abs[1];
      resource = pathOfTarget(line.target);
      endpoint = resource === '*' ? '*' : endpointOfPath(resource, this.segments);
    }
    // SSDP (HTTP over UDP multicast, M-SEARCH / NOTIFY): answers, if any, come on other flows.
    const oneWay = (domain.charCodeAt(0) === 0x32 || domain.charCodeAt(0) === 0x5b) && SSDP_HOST.test(domain);
    const values = headers.values;
    let allowed: (string | undefined)[] | undefined;
    const allowSlots = this.fields.allowSlots;
    for (let i = 0; i < allowSlots.length; i++) {
      const v = values[allowSlots[i]];
      if (v !== undefined) (allowed ??= new Array<string | undefined>(allowSlots.length))[i] = v;
    }
    return {
      version: line.version,
      requestType: line.method,
      method,
      domain,
      resource,
      endpoint,
      xRequestId: values[Slot.XRequestId],
      trace: this.traceOf(values),
      allowed,
      length: 0,
      timeUs: tsUs,
      complete: false,
      oneWay,
    };
  }

  private traceOf(values: (string | undefined)[]): TraceContext {
    // Most requests carry no trace context: no closures and context object for them.
    const traced = values[Slot.Traceparent] !== undefined || values[Slot.B3] !== undefined || values[Slot.XB3TraceId] !== undefined || values[Slot.UberTraceId] !== undefined || values[Slot.Sw8] !== undefined;
    if (!traced) return NO_TRACE;
    const names = this.fields.names;
    // A valid traceparent, the first header looked at, decides without the lookup of each name.
    return traceparentContext(values[Slot.Traceparent]) ?? extractTraceContext((name) => values[names.slotOf(name)]);
  }

  private finishMessage(direction: Direction, tsUs: number): void {
    const side = this.sideOf(direction);
    const bytes = side.msgBytes;
    side.mode = 'head';
    side.msgBytes = 0;
    side.remaining = 0;
    if (direction === 0) {
      const req = this.currentRequest;
      this.currentRequest = undefined;
      if (req && !req.complete) {
        req.complete = true;
        req.length = bytes;
        req.timeUs = tsUs;
      } else if (req) req.length = bytes;
      if (req?.oneWay) this.emit(this.makeRecord(req, undefined, 0, undefined, 'ok'));
      return;
    }
    const resp = this.currentResponse;
    this.currentResponse = undefined;
    if (!resp) return;
    this.emit(resp.request ? this.makeRecord(resp.request, resp, bytes, tsUs) : this.responseOnlyRecord(resp, bytes, tsUs));
  }

  /**
   * A response whose request was not seen (the capture began after it, or the server answered
   * bytes that were no request): logged and counted as a response, with its status, untimed.
   */
  private responseOnlyRecord(resp: CurrentResponse, bytes: number, tsUs: number): L7Record {
    return {
      protocol: 'http1',
      version: resp.version,
      requestType: '',
      requestDomain: '',
      requestResource: '',
      endpoint: '',
      status: statusOf(resp.code),
      responseCode: resp.code,
      responseTimeUs: tsUs,
      requestLength: -1,
      responseLength: bytes,
      countsAsRequest: true,
    };
  }

  private makeRecord(req: PendingRequest, resp: CurrentResponse | undefined, responseBytes: number, tsUs: number | undefined, missing: ResponseStatus = 'timeout'): L7Record {
    const resValues = resp?.headers.values;
    const trace = req.trace;
    const record: L7Record = {
      protocol: 'http1',
      version: req.version,
      requestType: req.requestType,
      requestDomain: req.domain,
      requestResource: req.resource,
      endpoint: req.endpoint,
      status: resp ? statusOf(resp.code) : missing,
      requestTimeUs: req.timeUs,
      requestLength: req.length,
      responseLength: resp ? responseBytes : 0,
      countsAsRequest: !req.oneWay,
    };
    if (resp) {
      record.responseCode = resp.code;
      record.responseTimeUs = tsUs;
    }
    if (trace.traceId !== undefined) record.traceId = trace.traceId;
    if (trace.spanId !== undefined) record.spanId = trace.spanId;
    if (trace.parentSpanId !== undefined) record.parentSpanId = trace.parentSpanId;
    const xRequestId = req.xRequestId ?? resValues?.[Slot.XRequestId];
    if (xRequestId !== undefined) record.xRequestId = xRequestId;
    const attributes: Record<string, string> = {};
    let any = false;
    const { allowSlots, allowList } = this.fields;
    const allowed = req.allowed;
    for (let i = 0; i < allowSlots.length; i++) {
      const v = allowed?.[i] ?? resValues?.[allowSlots[i]];
      if (v !== undefined) {
        attributes[allowList[i]] = v;
        any = true;
      }
    }
    if (any) record.attributes = attributes;
    return record;
  }

  gap(direction: Direction, bytes: number): void {
    const side = this.sideOf(direction);
    if (side.mode === 'dead') return;
    if (side.mode === 'until-close') {
      side.msgBytes += bytes;
      return;
    }
    if (side.mode === 'body' && bytes < side.remaining && side.pending.length === 0) {
      // Lost bytes inside a body of known length: still in step.
      side.remaining -= bytes;
      side.msgBytes += bytes;
      return;
    }
    if (direction === 1 && side.mode === 'head') {
      // The lost bytes began a response (the previous one had ended): the oldest outstanding
      // request lost its answer. Dropping it keeps the later responses paired with their requests.
      const req = this.shiftOutstanding();
      if (req) {
        this.responsesLost++;
        this.emit(this.makeRecord(req, undefined, 0, undefined, 'unknown'));
      }
    }
    side.pending = EMPTY;
    side.scanFrom = 0;
    if (side.mode !== 'head') {
      this.parseErrors++;
      this.finishMessage(direction, side.lastTs);
    }
    side.mode = 'head';
  }

  end(direction: Direction, tsUs: number): void {
    // tshark, like a client, sees a body read until close complete with the server's FIN.
    if (direction === 1 && this.side1.mode === 'until-close') this.finishMessage(1, tsUs);
  }

  expire(nowUs: number, timeoutUs: number): void {
    for (;;) {
      const req = this.firstOutstanding;
      if (req === undefined) break;
      if (!req.complete || nowUs - req.timeUs <= timeoutUs) break;
      this.shiftOutstanding();
      this.emit(this.makeRecord(req, undefined, 0, undefined));
    }
  }

  close(_nowUs: number): void {
    const side = this.side1;
    // A response read until the connection closed ends with its last bytes.
    if (side.mode === 'until-close' || (side.mode !== 'head' && side.mode !== 'dead' && this.currentResponse)) this.finishMessage(1, side.lastTs);
    if (this.currentRequest) this.finishMessage(0, this.side0.lastTs);
    for (let req = this.shiftOutstanding(); req !== undefined; req = this.shiftOutstanding()) this.emit(this.makeRecord(req, undefined, 0, undefined));
    for (const s of [this.side0, this.side1]) {
      s.pending = EMPTY;
      s.mode = 'dead';
    }
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = NO_RECORDS;
    return out;
  }
}

export const http1Module: L7ProtocolModule = {
  name: 'http1',
  defaultPorts: [80, 8080, 8000, 8888],
  detect: detectHttp1,
  create: (options?: ParserOptions): L7Parser => new Http1Parser(options ?? {}),
};

export type { Http1Parser };
