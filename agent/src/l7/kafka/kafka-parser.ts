/**
 * Kafka protocol parser (SPEC §4): 4-byte size-prefixed frames, request header v0/v1/v2,
 * response header v0/v1, responses paired with requests by correlation id. Bodies are walked
 * only as deep as the topic name, partition index and error codes (see ./apis).
 *
 * Times follow the corpus oracle's rule (response frame − tshark `kafka.request_frame`): both
 * `requestTimeUs` and `responseTimeUs` are the times of the feeds that completed each frame,
 * which is the frame where tshark shows a reassembled PDU.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, ResponseStatus, Verdict } from '../l7-parser';
import {
  apiName,
  errorName,
  isKnownApi,
  parseRequestBody,
  parseResponseBody,
  requestHeaderVersion,
  RequestInfo,
  responseHeaderVersion,
  versionInRange,
} from './apis';
import { isPrintable, KafkaReader } from './primitives';

const DEFAULT_MAX_BUFFER = 64 * 1024;
/** Largest frame size we believe (Kafka's socket.request.max.bytes default is 100 MiB). */
export const MAX_FRAME_SIZE = 128 * 1024 * 1024;
/** Smallest request: api key, api version, correlation id, client id length. */
const MIN_REQUEST_SIZE = 10;
/** Outstanding requests kept per flow; the oldest become timeouts beyond it. */
const MAX_PENDING = 1024;
const EMPTY = Buffer.alloc(0);

interface Pending {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string;
  info: RequestInfo;
  timeUs: number;
  length: number;
}

/** Where a direction's byte stream stands with respect to frame boundaries. */
type SyncState = 'start' | 'synced' | 'lost';

class Side {
  buf: Buffer = EMPTY;
  state: SyncState = 'start';
  /** Bytes of an oversized frame still to discard, and the prefix kept for it. */
  skip = 0;
  prefix: Buffer | null = null;
  prefixTotal = 0;
  lastTs = 0;
}

type HeaderCheck = { kind: 'valid'; total: number } | { kind: 'invalid' } | { kind: 'more' };

const INVALID: HeaderCheck = { kind: 'invalid' };
const MORE: HeaderCheck = { kind: 'more' };

/**
 * A strict look at a request header at `o`: known API, version in range, non-negative
 * correlation id, client id null or printable and inside the frame. `more` when the bytes
 * needed to judge are not there yet.
 */
function checkRequestStrict(buf: Buffer, o: number): HeaderCheck {
  if (buf.length - o < 4) return MORE;
  const size = buf.readInt32BE(o);
  if (size < MIN_REQUEST_SIZE || size > MAX_FRAME_SIZE) return INVALID;
  if (buf.length - o < 14) return MORE;
  const key = buf.readInt16BE(o + 4);
  const version = buf.readInt16BE(o + 6);
  if (!isKnownApi(key) || !versionInRange(key, version)) return INVALID;
  if (buf.readInt32BE(o + 8) < 0) return INVALID;
  if (requestHeaderVersion(key, version) === 0) return { kind: 'valid', total: size + 4 };
  const clientLen = buf.readInt16BE(o + 12);
  if (clientLen < -1 || (clientLen > 0 && MIN_REQUEST_SIZE + clientLen > size)) return INVALID;
  if (clientLen > 0) {
    const avail = Math.min(clientLen, buf.length - o - 14);
    if (!isPrintable(buf, o + 14, avail)) return INVALID;
  }
  return { kind: 'valid', total: size + 4 };
}

/** Once in sync, any sane-looking header is taken (APIs newer than our table included). */
function checkRequestLenient(buf: Buffer, o: number): HeaderCheck {
  if (buf.length - o < 8) return MORE;
  const size = buf.readInt32BE(o);
  if (size < MIN_REQUEST_SIZE || size > MAX_FRAME_SIZE) return INVALID;
  const key = buf.readInt16BE(o + 4);
  const version = buf.readInt16BE(o + 6);
  if (key < 0 || key > 255 || version < 0 || version > 63) return INVALID;
  return { kind: 'valid', total: size + 4 };
}

export class KafkaParser implements L7Parser {
  readonly protocol = 'kafka' as const;
  /** What is left of a segment is copied before feed returns (see feed); records hold text and numbers. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  /** Responses whose correlation id matched no pending request (counted, not logged). */
  orphanResponses = 0;
  private readonly maxBuffer: number;
  private readonly sides: [Side, Side] = [new Side(), new Side()];
  private readonly pending = new Map<number, Pending>();
  private records: L7Record[] = [];

  constructor(options: ParserOptions = {}) {
    this.maxBuffer = Math.max(64, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
  }

  /** Bytes buffered for a direction (bounded by maxBufferBytes once a feed returns). */
  bufferedBytes(direction: Direction): number {
    const side = this.sides[direction];
    return side.buf.length + (side.prefix?.length ?? 0);
  }

  /** Requests waiting for their response. */
  get pendingCount(): number {
    return this.pending.size;
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    const side = this.sides[direction];
    side.lastTs = tsUs;
    let input = data;
    if (side.skip > 0) {
      const n = Math.min(side.skip, input.length);
      side.skip -= n;
      this.stats.bytesSkipped += n;
      input = input.subarray(n);
      if (side.skip === 0) this.finishPrefix(direction, side, tsUs);
    }
    if (input.length === 0) return;
    side.buf = side.buf.length === 0 ? input : Buffer.concat([side.buf, input]);
    this.drain(direction, side, tsUs);
    // Never keep a view into the caller's buffer.
    if (side.buf.length > 0 && side.buf.buffer === data.buffer) side.buf = Buffer.from(side.buf);
  }

  gap(direction: Direction, bytes: number): void {
    const side = this.sides[direction];
    if (side.skip > 0) {
      if (bytes <= side.skip) {
        // The hole lies inside the oversized frame we were discarding anyway: still in sync.
        side.skip -= bytes;
        if (side.skip === 0) this.finishPrefix(direction, side, side.lastTs);
        return;
      }
      side.skip = 0;
      side.prefix = null;
    }
    this.stats.bytesSkipped += side.buf.length;
    side.buf = EMPTY;
    side.state = 'lost';
  }

  expire(nowUs: number, timeoutUs: number): void {
    for (const [id, p] of this.pending) {
      if (nowUs - p.timeUs > timeoutUs) {
        this.pending.delete(id);
        this.emitTimeout(p);
      }
    }
  }

  close(_nowUs: number): void {
    for (const p of this.pending.values()) this.emitTimeout(p);
    this.pending.clear();
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = [];
    return out;
  }

  private check(direction: Direction, side: Side, o: number): HeaderCheck {
    if (direction === 0) {
      return o === 0 && side.state === 'synced' ? checkRequestLenient(side.buf, o) : checkRequestStrict(side.buf, o);
    }
    const buf = side.buf;
    if (buf.length - o < 8) return MORE;
    const size = buf.readInt32BE(o);
    if (size < 4 || size > MAX_FRAME_SIZE) return INVALID;
    const total = size + 4;
    const correlationId = buf.readInt32BE(o + 4);
    if (this.pending.has(correlationId)) return { kind: 'valid', total };
    if (o === 0 && side.state === 'synced') return { kind: 'valid', total };
    // First bytes of a capture: accept a modest frame without its request (counted as orphan) when
    // no request is waiting, or when the frame ends exactly where the data does.
    if (o === 0 && side.state === 'start' && correlationId >= 0 && total <= this.maxBuffer && (this.pending.size === 0 || total === buf.length)) {
      return { kind: 'valid', total };
    }
    return INVALID;
  }

  private drain(direction: Direction, side: Side, tsUs: number): void {
    for (;;) {
      const buf = side.buf;
      if (buf.length === 0) return;
      const c = this.check(direction, side, 0);
      if (c.kind === 'more') return;
      if (c.kind === 'invalid') {
        if (!this.resync(direction, side)) return;
        continue;
      }
      const total = c.total;
      if (total <= buf.length) {
        side.buf = buf.subarray(total);
        side.state = 'synced';
        this.onMessage(direction, buf.subarray(0, total), total, tsUs, false);
        continue;
      }
      if (total > this.maxBuffer) {
        if (buf.length < this.maxBuffer) return;
        // Oversized frame: keep a bounded prefix for the header and first topic, discard the rest.
        side.prefix = Buffer.from(buf.subarray(0, this.maxBuffer));
        side.prefixTotal = total;
        side.skip = total - buf.length;
        this.stats.bytesSkipped += buf.length - this.maxBuffer;
        side.buf = EMPTY;
        side.state = 'synced';
        return;
      }
      return;
    }
  }

  /** Drops bytes up to the next plausible frame start; false when more data is needed. */
  private resync(direction: Direction, side: Side): boolean {
    side.state = 'lost';
    const buf = side.buf;
    for (let o = 1; o < buf.length; o++) {
      const c = this.check(direction, side, o);
      if (c.kind === 'invalid') continue;
      this.stats.bytesSkipped += o;
      side.buf = buf.subarray(o);
      return c.kind === 'valid';
    }
    this.stats.bytesSkipped += buf.length;
    side.buf = EMPTY;
    return false;
  }

  private finishPrefix(direction: Direction, side: Side, tsUs: number): void {
    const prefix = side.prefix;
    side.prefix = null;
    if (prefix) this.onMessage(direction, prefix, side.prefixTotal, tsUs, true);
  }

  private onMessage(direction: Direction, frame: Buffer, total: number, tsUs: number, truncated: boolean): void {
    this.stats.messages++;
    if (direction === 0) this.onRequest(frame, total, tsUs, truncated);
    else this.onResponse(frame, total, tsUs, truncated);
  }

  private onRequest(frame: Buffer, total: number, tsUs: number, truncated: boolean): void {
    const r = new KafkaReader(frame, 4);
    const apiKey = r.int16();
    const apiVersion = r.int16();
    const correlationId = r.int32();
    const headerVersion = requestHeaderVersion(apiKey, apiVersion);
    const clientId = headerVersion >= 1 ? r.string() : '';
    r.taggedFields(headerVersion === 2);
    let info: RequestInfo = {};
    if (r.ok) {
      const body = parseRequestBody(apiKey, apiVersion, r);
      info = body.info;
      if (!body.ok && !truncated) this.stats.parseErrors++;
    } else if (!truncated) {
      this.stats.parseErrors++;
    }
    const p: Pending = { apiKey, apiVersion, correlationId, clientId, info, timeUs: tsUs, length: total };
    if (apiKey === 0 && info.acks === 0) {
      // Produce with acks=0: the broker sends nothing back.
      this.records.push(this.record(p, 'ok', false));
      return;
    }
    const previous = this.pending.get(correlationId);
    if (previous) {
      this.pending.delete(correlationId);
      this.emitTimeout(previous);
    }
    this.pending.set(correlationId, p);
    if (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.values().next().value as Pending;
      this.pending.delete(oldest.correlationId);
      this.emitTimeout(oldest);
    }
  }

  private onResponse(frame: Buffer, total: number, tsUs: number, truncated: boolean): void {
    const correlationId = frame.readInt32BE(4);
    const p = this.pending.get(correlationId);
    if (!p) {
      this.orphanResponses++;
      return;
    }
    this.pending.delete(correlationId);
    const r = new KafkaReader(frame, 8);
    r.taggedFields(responseHeaderVersion(p.apiKey, p.apiVersion) === 1);
    const body = parseResponseBody(p.apiKey, p.apiVersion, r);
    if (!body.ok && !truncated) this.stats.parseErrors++;
    const code = body.info.errorCode;
    const rec = this.record(p, code !== 0 ? 'server_error' : 'ok', true, body.info.topic, body.info.partition);
    rec.responseCode = code;
    if (code !== 0) rec.responseException = errorName(code) ?? `error ${code}`;
    rec.responseTimeUs = tsUs;
    rec.responseLength = total;
    this.records.push(rec);
  }

  private emitTimeout(p: Pending): void {
    this.records.push(this.record(p, 'timeout', true));
  }

  private record(p: Pending, status: ResponseStatus, countsAsRequest: boolean, respTopic?: string, respPartition?: number): L7Record {
    let topic = p.info.topic;
    let partition = p.info.partition;
    // Metadata without topics asks for all of them: the response's first topic is not "the" topic.
    if (topic === undefined && respTopic !== undefined && p.apiKey !== 3) {
      topic = respTopic;
      partition = respPartition;
    }
    const name = apiName(p.apiKey);
    const attributes: Record<string, string> = { api_version: String(p.apiVersion) };
    if (p.clientId !== '') attributes.client_id = p.clientId;
    if (p.info.group !== undefined) attributes.group_id = p.info.group;
    return {
      protocol: 'kafka',
      version: String(p.apiVersion),
      requestType: name,
      requestDomain: topic ?? '',
      requestResource: topic === undefined ? '' : partition === undefined ? topic : `${topic}-${partition}`,
      endpoint: topic ?? name,
      requestId: p.correlationId,
      status,
      requestTimeUs: p.timeUs,
      requestLength: p.length,
      responseLength: -1,
      attributes,
      countsAsRequest,
    };
  }
}

function detect(direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length < 4) return 'no';
  const size = payload.readInt32BE(0);
  if (direction === 1) {
    if (size < 4 || size > MAX_FRAME_SIZE) return 'no';
    const total = size + 4;
    if (total >= payload.length) return 'maybe';
    if (payload.length - total < 4) return 'maybe';
    const next = payload.readInt32BE(total);
    return next >= 4 && next <= MAX_FRAME_SIZE ? 'maybe' : 'no';
  }
  const c = checkRequestStrict(payload, 0);
  if (c.kind === 'invalid') return 'no';
  if (c.kind === 'more') return 'maybe';
  if (c.total === payload.length) return 'yes';
  if (c.total < payload.length) {
    const next = checkRequestStrict(payload, c.total);
    return next.kind === 'valid' ? 'yes' : next.kind === 'more' ? 'maybe' : 'no';
  }
  // Split frame: 'yes' only with a complete, non-empty printable client id.
  const clientLen = payload.readInt16BE(12);
  return clientLen > 0 && 14 + clientLen <= payload.length ? 'yes' : 'maybe';
}

export const kafkaModule: L7ProtocolModule = {
  name: 'kafka',
  defaultPorts: [9092],
  detect,
  create: (options?: ParserOptions) => new KafkaParser(options),
};
