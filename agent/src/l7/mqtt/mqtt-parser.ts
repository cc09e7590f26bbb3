/**
 * MQTT 3.1, 3.1.1 and 5.0 parser (SPEC §4).
 *
 * Framing: fixed header (type, flags, remaining length as a 1–4 byte varint). Each direction is
 * buffered up to `maxBufferBytes`; a packet larger than that is read from its first bytes (topic,
 * packet id…) and the rest of it is passed over without buffering.
 *
 * Pairing: CONNECT/CONNACK and PINGREQ/PINGRESP in order (FIFO); PUBLISH (QoS 1 → PUBACK, QoS 2 →
 * PUBREC), PUBREL → PUBCOMP, SUBSCRIBE → SUBACK, UNSUBSCRIBE → UNSUBACK by packet identifier.
 * A PUBLISH may be sent by either side: QoS 1/2 publishes from the server to the client are
 * requests of the server side, paired with the client's PUBACK/PUBREC; their records carry the
 * attribute `initiator: 'server'` (the contract has no direction field). QoS 0 PUBLISH, DISCONNECT
 * and AUTH are logged as one-way records (`countsAsRequest` false).
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, ResponseStatus, Verdict } from '../l7-parser';
import { Decoding, DROP, MessageFramer, NEED_MORE, SKIP_ONE } from '../stream/message-framer';

const DEFAULT_MAX_BUFFER = 64 * 1024;
/** Largest remaining length MQTT can encode (4 varint bytes). */
const MAX_REMAINING = 268_435_455;
/** Pending requests kept per connection before the oldest are dropped as timeouts. */
const MAX_PENDING = 1024;
const MAX_TEXT = 256;
/** Longest fixed header: type byte and a 4-byte remaining length. */
const MAX_FIXED_HEADER = 5;

export const enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  PUBREC = 5,
  PUBREL = 6,
  PUBCOMP = 7,
  SUBSCRIBE = 8,
  SUBACK = 9,
  UNSUBSCRIBE = 10,
  UNSUBACK = 11,
  PINGREQ = 12,
  PINGRESP = 13,
  DISCONNECT = 14,
  AUTH = 15,
}

export const PACKET_NAMES = [
  'RESERVED',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
];

const CONNACK_V3_TEXT: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const REASON_V5_TEXT: Record<number, string> = {
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x83: 'implementation specific error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8c: 'bad authentication method',
  0x8f: 'topic filter invalid',
  0x90: 'topic name invalid',
  0x91: 'packet identifier in use',
  0x92: 'packet identifier not found',
  0x93: 'receive maximum exceeded',
  0x95: 'packet too large',
  0x97: 'quota exceeded',
  0x99: 'payload format invalid',
  0x9a: 'retain not supported',
  0x9b: 'qos not supported',
  0x9c: 'use another server',
  0x9d: 'server moved',
  0x9e: 'shared subscriptions not supported',
  0x9f: 'connection rate exceeded',
  0xa2: 'wildcard subscriptions not supported',
};

/** Status of a v3 CONNACK return code (SPEC §4: 1, 2, 4, 5 client; 3 server). */
export function connackV3Status(code: number): ResponseStatus {
  if (code === 0) return 'ok';
  if (code === 3) return 'server_error';
  return 'client_error';
}

/** Status of an MQTT 5 reason code, also used for SUBACK/UNSUBACK failure codes (0x80) of 3.1.1. */
export function reasonStatus(code: number): ResponseStatus {
  if (code < 0x80) return 'ok';
  if (code === 0x80 || code === 0x83 || code === 0x88 || code === 0x89) return 'server_error';
  return 'client_error';
}

/** Flags a fixed header must carry for each type (PUBLISH: any but QoS 3). */
function flagsValid(type: number, flags: number): boolean {
  if (type === PacketType.PUBLISH) return (flags & 0x06) !== 0x06;
  if (type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE) return flags === 2;
  return type >= 1 && type <= 15 && flags === 0;
}

/** Smallest remaining length each type can have (any version), and the exact one where fixed. */
function remainingValid(type: number, rem: number): boolean {
  switch (type) {
    case PacketType.CONNECT:
      return rem >= 10;
    case PacketType.CONNACK:
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return rem >= 2;
    case PacketType.PUBLISH:
      return rem >= 2;
    case PacketType.SUBSCRIBE:
      return rem >= 5;
    case PacketType.UNSUBSCRIBE:
      return rem >= 4;
    case PacketType.SUBACK:
      return rem >= 3;
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return rem === 0;
    default:
      return true; // DISCONNECT, AUTH: 0 in 3.x, reason + properties in 5.0
  }
}

export interface FixedHeader {
  type: number;
  flags: number;
  remaining: number;
  headerLength: number;
}

/**
 * Reads a fixed header at `off`: the header, null when more bytes are needed, or 'bad' when the
 * bytes cannot be an MQTT fixed header.
 */
export function readFixedHeader(b: Buffer, off: number): FixedHeader | null | 'bad' {
  if (off >= b.length) return null;
  const type = b[off] >> 4;
  const flags = b[off] & 0x0f;
  if (type === 0 || !flagsValid(type, flags)) return 'bad';
  let rem = 0;
  let mult = 1;
  for (let i = 1; i <= 4; i++) {
    if (off + i >= b.length) return null;
    const v = b[off + i];
    rem += (v & 0x7f) * mult;
    if ((v & 0x80) === 0) {
      // A varint longer than needed (a trailing 0x00 continuation) is not what encoders write.
      if (i > 1 && v === 0) return 'bad';
      if (rem > MAX_REMAINING || !remainingValid(type, rem)) return 'bad';
      return { type, flags, remaining: rem, headerLength: 1 + i };
    }
    mult *= 128;
  }
  return 'bad';
}

/** Bounded reader over a packet body (or its first bytes); every read checks its offset. */
class Reader {
  off = 0;
  ok = true;
  constructor(readonly b: Buffer) {}
  get left(): number {
    return this.b.length - this.off;
  }
  u8(): number {
    if (this.off + 1 > this.b.length) {
      this.ok = false;
      return 0;
    }
    return this.b[this.off++];
  }
  u16(): number {
    if (this.off + 2 > this.b.length) {
      this.ok = false;
      return 0;
    }
    const v = this.b.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  varint(): number {
    let v = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      const x = this.u8();
      if (!this.ok) return 0;
      v += (x & 0x7f) * mult;
      if ((x & 0x80) === 0) return v;
      mult *= 128;
    }
    this.ok = false;
    return 0;
  }
  skip(n: number): void {
    if (n < 0 || this.off + n > this.b.length) {
      this.ok = false;
      this.off = this.b.length;
      return;
    }
    this.off += n;
  }
  /** A UTF-8 string with a 2-byte length; strings longer than MAX_TEXT are cut in the result. */
  str(): string {
    const n = this.u16();
    if (!this.ok) return '';
    if (this.off + n > this.b.length) {
      this.ok = false;
      return '';
    }
    const s = this.b.toString('utf8', this.off, this.off + Math.min(n, MAX_TEXT * 4));
    this.off += n;
    return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
  }
}

interface V5Props {
  reasonString?: string;
}

/** Reads (skips) an MQTT 5 property block, keeping the reason string (0x1F). */
function readProps(r: Reader): V5Props {
  const len = r.varint();
  if (!r.ok) return {};
  if (r.off + len > r.b.length) {
    r.ok = false;
    return {};
  }
  const end = r.off + len;
  const out: V5Props = {};
  // Walk the properties only to find the reason string; an unknown id ends the walk.
  const p = new Reader(r.b.subarray(r.off, end));
  while (p.ok && p.left > 0) {
    const id = p.varint();
    if (!p.ok) break;
    if (id === 0x1f) {
      out.reasonString = p.str();
      continue;
    }
    if (id === 0x01 || id === 0x17 || id === 0x19 || id === 0x24 || id === 0x25 || id === 0x28 || id === 0x29 || id === 0x2a) p.skip(1);
    else if (id === 0x13 || id === 0x21 || id === 0x22 || id === 0x23) p.skip(2);
    else if (id === 0x02 || id === 0x11 || id === 0x18 || id === 0x27) p.skip(4);
    else if (id === 0x0b) p.varint();
    else if (id === 0x03 || id === 0x08 || id === 0x12 || id === 0x15 || id === 0x1a || id === 0x1c || id === 0x09 || id === 0x16) p.str();
    else if (id === 0x26) {
      p.str();
      p.str();
    } else break;
  }
  r.off = end;
  return out;
}

/** What one packet says, as far as its (possibly truncated) body can be read. */
export interface MqttPacket {
  type: number;
  flags: number;
  qos: number;
  packetId?: number;
  topic?: string;
  topicCount?: number;
  /** CONNECT */
  protocolName?: string;
  protocolLevel?: number;
  clientId?: string;
  /** CONNACK return code, PUB*, DISCONNECT, AUTH reason code. */
  code?: number;
  /** SUBACK / UNSUBACK (v5) per-topic codes. */
  codes?: number[];
  reasonString?: string;
  length: number;
}

export function versionOf(name: string, level: number): string {
  if (level === 3 && name === 'MQIsdp') return '3.1';
  if (level === 4 && name === 'MQTT') return '3.1.1';
  if (level === 5 && name === 'MQTT') return '5.0';
  return '';
}

/**
 * Decodes a packet body (which may be only the first bytes of a large packet: `complete` false).
 * Returns null when the body contradicts the packet type.
 */
export function decodePacket(h: FixedHeader, body: Buffer, v5: boolean, complete: boolean): MqttPacket | null {
  const r = new Reader(body);
  const pkt: MqttPacket = { type: h.type, flags: h.flags, qos: 0, length: h.headerLength + h.remaining };
  switch (h.type) {
    case PacketType.CONNECT: {
      pkt.protocolName = r.str();
      pkt.protocolLevel = r.u8();
      if (!r.ok) return null;
      const version = versionOf(pkt.protocolName, pkt.protocolLevel);
      if (!version) return null;
      const connectFlags = r.u8();
      if ((connectFlags & 0x01) !== 0) return null; // reserved bit must be 0
      r.u16(); // keep-alive
      if (pkt.protocolLevel === 5) readProps(r);
      pkt.clientId = r.str();
      if (!r.ok && complete) return null;
      return pkt;
    }
    case PacketType.CONNACK: {
      const ackFlags = r.u8();
      pkt.code = r.u8();
      if (!r.ok || (ackFlags & 0xfe) !== 0) return null;
      if (v5 && r.left > 0) pkt.reasonString = readProps(r).reasonString;
      return pkt;
    }
    case PacketType.PUBLISH: {
      pkt.qos = (h.flags >> 1) & 3;
      pkt.topic = r.str();
      if (!r.ok) return null;
      if (pkt.qos > 0) {
        pkt.packetId = r.u16();
        if (!r.ok || pkt.packetId === 0) return null;
      }
      return pkt;
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      pkt.packetId = r.u16();
      if (!r.ok || pkt.packetId === 0) return null;
      if (r.left > 0) {
        pkt.code = r.u8();
        if (r.left > 0) pkt.reasonString = readProps(r).reasonString;
      } else pkt.code = 0;
      return pkt;
    }
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE: {
      pkt.packetId = r.u16();
      if (!r.ok || pkt.packetId === 0) return null;
      if (v5) readProps(r);
      let count = 0;
      while (r.ok && r.left > 0) {
        const t = r.str();
        if (!r.ok) break;
        if (h.type === PacketType.SUBSCRIBE) r.u8(); // subscription options / requested QoS
        if (count === 0) pkt.topic = t;
        count++;
      }
      if (count === 0 || (!r.ok && complete)) return null;
      pkt.topicCount = count;
      return pkt;
    }
    case PacketType.SUBACK:
    case PacketType.UNSUBACK: {
      pkt.packetId = r.u16();
      if (!r.ok || pkt.packetId === 0) return null;
      if (v5) pkt.reasonString = readProps(r).reasonString;
      if (!r.ok) return null;
      pkt.codes = [];
      while (r.left > 0 && pkt.codes.length < 256) pkt.codes.push(r.u8());
      if (h.type === PacketType.SUBACK && pkt.codes.length === 0) return null;
      if (h.type === PacketType.UNSUBACK && !v5 && pkt.codes.length > 0) return null;
      return pkt;
    }
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return pkt;
    case PacketType.DISCONNECT:
    case PacketType.AUTH: {
      pkt.code = r.left > 0 ? r.u8() : 0;
      if (r.left > 0) pkt.reasonString = readProps(r).reasonString;
      return pkt;
    }
    default:
      return null;
  }
}

interface Pending {
  /** Direction of the request's sender. */
  dir: Direction;
  type: number;
  packetId?: number;
  topic: string;
  requestTimeUs: number;
  length: number;
  /** PUBLISH QoS (for the PUBREC that answers QoS 2). */
  qos: number;
}

const RESPONSE_OF: Record<number, number> = {
  [PacketType.CONNACK]: PacketType.CONNECT,
  [PacketType.PINGRESP]: PacketType.PINGREQ,
  [PacketType.SUBACK]: PacketType.SUBSCRIBE,
  [PacketType.UNSUBACK]: PacketType.UNSUBSCRIBE,
  [PacketType.PUBACK]: PacketType.PUBLISH,
  [PacketType.PUBREC]: PacketType.PUBLISH,
  [PacketType.PUBCOMP]: PacketType.PUBREL,
};

export class MqttParser implements L7Parser {
  readonly protocol = 'mqtt' as const;
  /** The framer copies an incomplete message's bytes; decoded packets hold text and numbers. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly maxBuffer: number;
  private readonly sides: [MessageFramer<FixedHeader, MqttPacket>, MessageFramer<FixedHeader, MqttPacket>];
  /** Per direction: the parser is at a packet boundary it trusts. */
  private readonly synced: [boolean, boolean] = [false, false];
  /** CONNECT / PINGREQ waiting in order, per sender direction. */
  private readonly fifo: Pending[] = [];
  /** Requests paired by packet identifier: key `dir:kind:id`. */
  private readonly byId = new Map<string, Pending>();
  private records: L7Record[] = [];
  private version = '';
  private clientId = '';

  constructor(options: ParserOptions = {}) {
    this.maxBuffer = Math.max(256, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
    this.sides = [this.framer(0), this.framer(1)];
  }

  private framer(dir: Direction): MessageFramer<FixedHeader, MqttPacket> {
    return new MessageFramer<FixedHeader, MqttPacket>(
      {
        headerRoom: MAX_FIXED_HEADER,
        frame: (buf, pos) => {
          const h = readFixedHeader(buf, pos);
          if (h === null) return NEED_MORE;
          if (h === 'bad') {
            this.synced[dir] = false;
            return SKIP_ONE;
          }
          return { kind: 'message', header: h, headerLength: h.headerLength, length: h.headerLength + h.remaining };
        },
        decode: (h, body, complete) => this.decode(dir, h, body, complete),
        emit: (pkt, startTs, endTs) => this.handle(dir, pkt, startTs, endTs),
        desync: () => {
          this.synced[dir] = false;
        },
      },
      this.maxBuffer,
      this.stats,
    );
  }

  /** Bytes buffered per direction (for tests of the bound). */
  bufferedBytes(direction: Direction): number {
    return this.sides[direction].bufferedBytes;
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    this.sides[direction].feed(data, tsUs);
  }

  /** A framed packet's body (its first bytes for a packet larger than the buffer). */
  private decode(dir: Direction, h: FixedHeader, body: Buffer, complete: boolean): Decoding<MqttPacket> {
    const pkt = decodePacket(h, body, this.version === '5.0', complete);
    if (!pkt || (!this.synced[dir] && !this.plausibleUnsynced(pkt, h))) {
      if (this.synced[dir] && pkt === null && complete) {
        // Framing is trusted: drop this packet only.
        this.stats.parseErrors++;
        return DROP;
      }
      this.synced[dir] = false;
      return SKIP_ONE;
    }
    this.synced[dir] = true;
    return { kind: 'message', message: pkt };
  }

  /**
   * Before the parser trusts its position (start of a mid-stream capture, after a gap or
   * garbage) a packet must also look like what a real peer sends.
   */
  private plausibleUnsynced(p: MqttPacket, h: FixedHeader): boolean {
    if (h.type === PacketType.PUBLISH) return p.topic !== undefined && p.topic.length > 0 && !p.topic.includes('\u0000') && !/[\uFFFD]/.test(p.topic);
    if (h.type === PacketType.DISCONNECT || h.type === PacketType.AUTH) return h.remaining === 0 || this.version === '5.0';
    return true;
  }

  gap(direction: Direction, bytes: number): void {
    // Lost bytes that fall inside a packet being passed over leave the framing (and `synced`) as it was.
    this.sides[direction].gap(bytes);
  }

  expire(nowUs: number, timeoutUs: number): void {
    const limit = nowUs - timeoutUs;
    for (let i = 0; i < this.fifo.length; ) {
      if (this.fifo[i].requestTimeUs < limit) this.timeout(this.fifo.splice(i, 1)[0]);
      else i++;
    }
    for (const [k, p] of this.byId) {
      if (p.requestTimeUs < limit) {
        this.byId.delete(k);
        this.timeout(p);
      }
    }
  }

  close(_nowUs: number): void {
    for (const p of this.fifo) this.timeout(p);
    this.fifo.length = 0;
    for (const p of this.byId.values()) this.timeout(p);
    this.byId.clear();
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = [];
    return out;
  }

  private record(p: Pending | null, fields: Partial<L7Record> & Pick<L7Record, 'requestType' | 'status' | 'countsAsRequest'>): L7Record {
    const topic = p?.topic ?? fields.requestResource ?? '';
    const rec: L7Record = {
      protocol: 'mqtt',
      version: this.version,
      requestDomain: this.clientId,
      requestResource: topic,
      endpoint: topic,
      requestLength: p ? p.length : -1,
      responseLength: -1,
      ...fields,
    };
    if (p) {
      rec.requestTimeUs = p.requestTimeUs;
      if (p.packetId !== undefined) rec.requestId = p.packetId;
      if (p.dir === 1) rec.attributes = { ...rec.attributes, initiator: 'server' };
    }
    this.records.push(rec);
    return rec;
  }

  private timeout(p: Pending): void {
    this.record(p, { requestType: PACKET_NAMES[p.type], status: 'timeout', countsAsRequest: true });
  }

  private addPending(p: Pending): void {
    if (p.type === PacketType.CONNECT || p.type === PacketType.PINGREQ) {
      this.fifo.push(p);
      if (this.fifo.length > MAX_PENDING) this.timeout(this.fifo.shift() as Pending);
      return;
    }
    const key = `${p.dir}:${p.type === PacketType.PUBREL ? 'rel' : p.type}:${p.packetId}`;
    const old = this.byId.get(key);
    if (old) {
      // The id was reused (or the request retransmitted with DUP): the older one is unanswered.
      this.byId.delete(key);
      this.timeout(old);
    }
    this.byId.set(key, p);
    if (this.byId.size > MAX_PENDING) {
      const [k, first] = this.byId.entries().next().value as [string, Pending];
      this.byId.delete(k);
      this.timeout(first);
    }
  }

  private takePending(respDir: Direction, respType: number, packetId: number | undefined): Pending | null {
    const reqType = RESPONSE_OF[respType];
    const reqDir: Direction = respDir === 0 ? 1 : 0;
    if (reqType === PacketType.CONNECT || reqType === PacketType.PINGREQ) {
      const i = this.fifo.findIndex((p) => p.dir === reqDir && p.type === reqType);
      return i < 0 ? null : this.fifo.splice(i, 1)[0];
    }
    const key = `${reqDir}:${reqType === PacketType.PUBREL ? 'rel' : reqType}:${packetId}`;
    const p = this.byId.get(key);
    if (!p) return null;
    // PUBACK answers QoS 1, PUBREC QoS 2.
    if (reqType === PacketType.PUBLISH && (respType === PacketType.PUBACK) !== (p.qos === 1)) return null;
    this.byId.delete(key);
    return p;
  }

  private handle(dir: Direction, pkt: MqttPacket, startTs: number, endTs: number): void {
    this.stats.messages++;
    const name = PACKET_NAMES[pkt.type];
    switch (pkt.type) {
      case PacketType.CONNECT:
        this.version = versionOf(pkt.protocolName ?? '', pkt.protocolLevel ?? 0);
        this.clientId = pkt.clientId ?? '';
        this.addPending({ dir, type: pkt.type, topic: '', requestTimeUs: endTs, length: pkt.length, qos: 0 });
        return;
      case PacketType.PINGREQ:
        this.addPending({ dir, type: pkt.type, topic: '', requestTimeUs: endTs, length: pkt.length, qos: 0 });
        return;
      case PacketType.PUBLISH:
        if (pkt.qos === 0) {
          this.record(null, {
            requestType: name,
            requestResource: pkt.topic ?? '',
            status: 'ok',
            countsAsRequest: false,
            requestTimeUs: endTs,
            requestLength: pkt.length,
            ...(dir === 1 ? { attributes: { initiator: 'server' } } : {}),
          });
          return;
        }
        this.addPending({ dir, type: pkt.type, packetId: pkt.packetId, topic: pkt.topic ?? '', requestTimeUs: endTs, length: pkt.length, qos: pkt.qos });
        return;
      case PacketType.PUBREL:
      case PacketType.SUBSCRIBE:
      case PacketType.UNSUBSCRIBE:
        this.addPending({ dir, type: pkt.type, packetId: pkt.packetId, topic: pkt.topic ?? '', requestTimeUs: endTs, length: pkt.length, qos: 0 });
        return;
      case PacketType.DISCONNECT:
      case PacketType.AUTH: {
        const code = pkt.code ?? 0;
        const rec = this.record(null, {
          requestType: name,
          status: reasonStatus(code),
          countsAsRequest: false,
          requestTimeUs: endTs,
          requestLength: pkt.length,
          responseCode: code,
          ...(dir === 1 ? { attributes: { initiator: 'server' } } : {}),
        });
        const text = pkt.reasonString ?? (code >= 0x80 ? REASON_V5_TEXT[code] : undefined);
        if (text) rec.responseException = text;
        return;
      }
      default:
        break;
    }
    // A response.
    const req = this.takePending(dir, pkt.type, pkt.packetId);
    let status: ResponseStatus = 'ok';
    let code: number | undefined;
    let text: string | undefined = pkt.reasonString;
    if (pkt.type === PacketType.CONNACK) {
      code = pkt.code ?? 0;
      if (this.version === '5.0') {
        status = reasonStatus(code);
        text ??= REASON_V5_TEXT[code];
      } else {
        status = connackV3Status(code);
        text ??= CONNACK_V3_TEXT[code];
      }
    } else if (pkt.codes) {
      code = pkt.codes.find((c) => c >= 0x80) ?? pkt.codes[0];
      if (code !== undefined) {
        status = reasonStatus(code);
        if (code >= 0x80) text ??= REASON_V5_TEXT[code] ?? 'failure';
      }
    } else if (pkt.code !== undefined) {
      code = pkt.code;
      status = reasonStatus(code);
      if (code >= 0x80) text ??= REASON_V5_TEXT[code];
    }
    const reqType = RESPONSE_OF[pkt.type];
    const rec = this.record(req, {
      requestType: PACKET_NAMES[req ? req.type : reqType],
      status,
      countsAsRequest: true,
      responseTimeUs: startTs,
      responseLength: pkt.length,
    });
    if (!req) {
      if (pkt.packetId !== undefined) rec.requestId = pkt.packetId;
      if (dir === 0) rec.attributes = { ...rec.attributes, initiator: 'server' };
    }
    if (code !== undefined) rec.responseCode = code;
    if (text) rec.responseException = text;
    rec.attributes = { ...rec.attributes, response: PACKET_NAMES[pkt.type] };
  }
}

/** Cheap look at a first payload: a CONNECT with protocol name MQTT/MQIsdp is certain. */
export function detectMqtt(_direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  const h = readFixedHeader(payload, 0);
  if (h === null || h === 'bad') return 'no';
  if (h.type === PacketType.CONNECT) {
    const end = Math.min(payload.length, h.headerLength + h.remaining);
    const r = new Reader(payload.subarray(h.headerLength, end));
    const name = r.str();
    const level = r.u8();
    return r.ok && versionOf(name, level) ? 'yes' : 'no';
  }
  // Other packets: only when the payload is a whole number of well-formed packets.
  let off = 0;
  let n = 0;
  while (off < payload.length && n < 64) {
    const x = readFixedHeader(payload, off);
    if (x === null || x === 'bad') return 'no';
    off += x.headerLength + x.remaining;
    n++;
  }
  return off === payload.length ? 'maybe' : 'no';
}

export const mqttModule: L7ProtocolModule = {
  name: 'mqtt',
  defaultPorts: [1883],
  detect: detectMqtt,
  create: (options?: ParserOptions) => new MqttParser(options),
};
