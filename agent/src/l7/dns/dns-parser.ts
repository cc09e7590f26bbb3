/**
 * DNS parser (SPEC §4): request_type = QTYPE, request_domain = request_resource = endpoint =
 * QNAME, request_id = DNS id, response_code = RCODE (12-bit when an OPT record carries the
 * extended bits); RCODE 1 and 3 are client errors, any other non-zero RCODE a server error.
 *
 * Transport: the contract does not say whether the flow is UDP or TCP, so the first feed decides
 * (and the choice sticks for the flow): a feed that is one whole DNS message is UDP, a feed that
 * starts with a 2-byte length followed by a DNS header is TCP (RFC 1035 §4.2.2). A feed shorter
 * than a header can only be TCP (a UDP DNS datagram is at least 12 bytes).
 *
 * Pairing: by (id, QTYPE, QNAME); several queries may be outstanding. A query repeated with the
 * same id and question while the first is unanswered is a retransmission: the response is paired
 * with the first query and timed from it (tshark's dns.time does the same), and each
 * retransmission is logged as a request of its own that got no response (status `unknown`,
 * attribute `dns.retransmission`), so the request count equals tshark's query count. A second
 * response to an already answered query is logged with countsAsRequest false.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, Verdict } from '../l7-parser';
import { DnsMessage, fullRcode, HEADER_LEN, knownOpcode, opcodeName, parseMessage, plausibleHeader, qtypeName, rcodeName } from './dns-message';

const DEFAULT_MAX_BUFFER = 64 * 1024;
/** Pending queries kept per flow; the oldest is dropped (as a timeout) beyond this. */
const MAX_PENDING = 1024;

type Transport = 'udp' | 'tcp';

interface Pending {
  key: string;
  msg: DnsMessage;
  length: number;
  tsUs: number;
  retransmissions: { length: number; tsUs: number }[];
}

interface Side {
  buf: Buffer;
  /** The next byte is a message boundary (a message was parsed there, or the stream start). */
  synced: boolean;
  /** Bytes of an oversized TCP message still to drop. */
  skip: number;
}

function keyOf(m: DnsMessage): string {
  return `${m.id} ${m.qtype} ${m.qname.toLowerCase()}`;
}

export function statusOfRcode(rcode: number): L7Record['status'] {
  if (rcode === 0) return 'ok';
  if (rcode === 1 || rcode === 3) return 'client_error';
  return 'server_error';
}

/** A whole DNS message (plausible header and every section inside `len`). */
function wholeMessage(b: Buffer, base: number, len: number): DnsMessage | undefined {
  if (base + 4 > b.length) return undefined;
  const m = parseMessage(b, base, len);
  if (!m || !m.complete) return undefined;
  if (!plausibleHeader(m, b.readUInt16BE(base + 2))) return undefined;
  return m;
}

/**
 * The start of a TCP-framed message at `off`: length ≥ 12 and a plausible header after it. The
 * QR bit is not checked against the direction: the flow's roles may have been guessed wrong.
 */
function tcpFrameStart(b: Buffer, off: number): boolean {
  if (off + 2 + HEADER_LEN > b.length) return false;
  const len = b.readUInt16BE(off);
  if (len < HEADER_LEN) return false;
  const flags = b.readUInt16BE(off + 4);
  const qr = (flags & 0x8000) !== 0;
  const h = {
    id: 0, qr, opcode: (flags >> 11) & 0xf, tc: false, rcode: flags & 0xf,
    qdcount: b.readUInt16BE(off + 6), ancount: 0, nscount: 0, arcount: 0,
  };
  if (!plausibleHeader(h, flags) || h.qdcount !== 1) return false;
  // The question's first label must fit the message and start like a name.
  const first = b[off + 2 + HEADER_LEN] ?? 0;
  return first < 64 && len >= HEADER_LEN + 5;
}

class DnsParser implements L7Parser {
  readonly protocol = 'dns' as const;
  /** A datagram is parsed in place; a TCP stream's unfinished message is copied; messages keep only text and numbers. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private transport: Transport | undefined;
  private readonly sides: [Side, Side] = [
    { buf: Buffer.alloc(0), skip: 0, synced: false },
    { buf: Buffer.alloc(0), skip: 0, synced: false },
  ];
  private readonly pending = new Map<string, Pending>();
  private out: L7Record[] = [];
  private readonly maxBuffer: number;

  constructor(options: ParserOptions) {
    this.maxBuffer = Math.max(HEADER_LEN + 2, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    if (data.length === 0) return;
    if (this.transport === undefined) {
      this.transport = this.guessTransport(data);
      if (this.transport === undefined) {
        this.stats.parseErrors++;
        this.stats.bytesSkipped += data.length;
        return;
      }
    }
    if (this.transport === 'udp') this.feedDatagram(data, tsUs);
    else this.feedStream(direction, data, tsUs);
  }

  private guessTransport(data: Buffer): Transport | undefined {
    const udp = wholeMessage(data, 0, data.length) !== undefined;
    // Too short to show a length prefix and a header: the start of a TCP message (a UDP datagram
    // always holds a whole message, and one this short has no question).
    if (data.length < 2 + HEADER_LEN) return udp ? 'udp' : 'tcp';
    const len = data.readUInt16BE(0);
    const tcpExact = len + 2 <= data.length && wholeMessage(data, 2, len) !== undefined;
    if (tcpExact) return 'tcp';
    if (udp) return 'udp';
    if (tcpFrameStart(data, 0)) return 'tcp';
    // Neither: a damaged datagram or a TCP stream caught mid-message. TCP if a frame starts later.
    return this.resync(data, 1) + 2 + HEADER_LEN <= data.length ? 'tcp' : undefined;
  }

  private feedDatagram(data: Buffer, tsUs: number): void {
    const m = parseMessage(data, 0, data.length);
    // QR, not the direction, tells a query from a response: flow roles may be guessed wrong (53 ↔ 53).
    if (!m || !plausibleHeader(m, data.readUInt16BE(2))) {
      this.stats.parseErrors++;
      this.stats.bytesSkipped += data.length;
      return;
    }
    this.onMessage(m, data.length, tsUs);
  }

  private feedStream(direction: Direction, data: Buffer, tsUs: number): void {
    const side = this.sides[direction];
    if (side.skip > 0) {
      const n = Math.min(side.skip, data.length);
      side.skip -= n;
      this.stats.bytesSkipped += n;
      data = data.subarray(n);
      if (data.length === 0) return;
    }
    let buf = side.buf.length === 0 ? data : Buffer.concat([side.buf, data]);
    let off = 0;
    while (off + 2 <= buf.length) {
      const len = buf.readUInt16BE(off);
      const framed = side.synced ? len >= HEADER_LEN : tcpFrameStart(buf, off);
      if (!framed) {
        if (!side.synced && off + 2 + HEADER_LEN > buf.length && len >= HEADER_LEN) break; // wait for the header
        // Not a message boundary (mid-stream start, garbage): resync at the next plausible frame.
        if (side.synced) this.stats.parseErrors++;
        side.synced = false;
        const next = this.resync(buf, off + 1);
        this.stats.bytesSkipped += next - off;
        off = next;
        continue;
      }
      if (off + 2 + len <= buf.length) {
        const m = parseMessage(buf, off + 2, len);
        if (m) {
          side.synced = true;
          this.onMessage(m, len, tsUs);
          off += 2 + len;
        } else {
          this.stats.parseErrors++;
          side.synced = false;
          const next = this.resync(buf, off + 1);
          this.stats.bytesSkipped += next - off;
          off = next;
        }
        continue;
      }
      if (buf.length - off >= this.maxBuffer) {
        // Larger than we may buffer: log what the prefix says (header, question), drop the rest.
        const m = parseMessage(buf, off + 2, buf.length - off - 2);
        if (m) this.onMessage(m, len, tsUs);
        else this.stats.parseErrors++;
        side.skip = off + 2 + len - buf.length;
        side.synced = true;
        this.stats.bytesSkipped += buf.length - off;
        off = buf.length;
      }
      break;
    }
    buf = buf.subarray(off);
    if (buf.length > this.maxBuffer) {
      this.stats.bytesSkipped += buf.length - this.maxBuffer;
      buf = buf.subarray(buf.length - this.maxBuffer);
      side.synced = false;
    }
    side.buf = Buffer.from(buf);
  }

  /** First offset ≥ `from` where a framed message could start (or where too few bytes remain to tell). */
  private resync(buf: Buffer, from: number): number {
    for (let i = from; i + 2 + HEADER_LEN <= buf.length; i++) {
      if (tcpFrameStart(buf, i)) return i;
    }
    return Math.max(from, buf.length - (2 + HEADER_LEN - 1));
  }

  private onMessage(m: DnsMessage, length: number, tsUs: number): void {
    this.stats.messages++;
    const key = keyOf(m);
    if (!m.qr) {
      const p = this.pending.get(key);
      if (p) {
        p.retransmissions.push({ length, tsUs });
        return;
      }
      if (this.pending.size >= MAX_PENDING) {
        const oldest = this.pending.values().next().value as Pending;
        this.emitTimeout(oldest);
      }
      this.pending.set(key, { key, msg: m, length, tsUs, retransmissions: [] });
      return;
    }
    const p = this.pending.get(key);
    if (p) this.pending.delete(key);
    const rcode = fullRcode(m);
    const q = p?.msg ?? m;
    const rec = this.record(q, p !== undefined);
    rec.status = statusOfRcode(rcode);
    rec.responseCode = rcode;
    if (rcode !== 0) rec.responseException = rcodeName(rcode);
    rec.requestTimeUs = p?.tsUs;
    rec.responseTimeUs = tsUs;
    rec.requestLength = p ? p.length : -1;
    rec.responseLength = length;
    const attrs = rec.attributes as Record<string, string>;
    attrs['dns.answers'] = String(m.ancount);
    if (m.tc) attrs['dns.truncated'] = 'true';
    if (m.extRcodeHigh !== undefined && m.extRcodeHigh !== 0) attrs['dns.header_rcode'] = String(m.rcode);
    if (p && p.retransmissions.length > 0) attrs['dns.retransmissions'] = String(p.retransmissions.length);
    this.out.push(rec);
    if (p) for (const r of p.retransmissions) this.out.push(this.retransmissionRecord(p, r, 'unknown'));
  }

  private record(q: DnsMessage, countsAsRequest: boolean): L7Record {
    const attributes: Record<string, string> = { 'dns.transport': this.transport ?? 'udp' };
    if (q.opcode !== 0) attributes['dns.opcode'] = opcodeName(q.opcode);
    return {
      protocol: 'dns',
      version: '',
      requestType: q.qdcount > 0 ? qtypeName(q.qtype) : '',
      requestDomain: q.qname,
      requestResource: q.qname,
      endpoint: q.qname,
      requestId: q.id,
      status: 'unknown',
      requestLength: -1,
      responseLength: -1,
      attributes,
      countsAsRequest,
    };
  }

  private retransmissionRecord(p: Pending, r: { length: number; tsUs: number }, status: L7Record['status']): L7Record {
    const rec = this.record(p.msg, true);
    rec.status = status;
    rec.requestTimeUs = r.tsUs;
    rec.requestLength = r.length;
    (rec.attributes as Record<string, string>)['dns.retransmission'] = 'true';
    return rec;
  }

  private emitTimeout(p: Pending): void {
    this.pending.delete(p.key);
    const rec = this.record(p.msg, true);
    rec.status = 'timeout';
    rec.requestTimeUs = p.tsUs;
    rec.requestLength = p.length;
    this.out.push(rec);
    for (const r of p.retransmissions) this.out.push(this.retransmissionRecord(p, r, 'timeout'));
  }

  gap(direction: Direction, bytes: number): void {
    const side = this.sides[direction];
    this.stats.bytesSkipped += side.buf.length + Math.max(0, bytes);
    side.buf = Buffer.alloc(0);
    side.skip = 0;
    side.synced = false;
  }

  expire(nowUs: number, timeoutUs: number): void {
    for (const p of [...this.pending.values()]) {
      if (nowUs - p.tsUs > timeoutUs) this.emitTimeout(p);
    }
  }

  close(_nowUs: number): void {
    for (const p of [...this.pending.values()]) this.emitTimeout(p);
  }

  take(): L7Record[] {
    const r = this.out;
    this.out = [];
    return r;
  }
}

function detect(_direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length < 2 + HEADER_LEN) {
    // The start of a TCP message at most: a length and whatever header bytes are there.
    if (payload.length < 2 || payload.readUInt16BE(0) < HEADER_LEN) return 'no';
    if (payload.length >= 6) {
      const flags = payload.readUInt16BE(4);
      const qr = (flags & 0x8000) !== 0;
      const opcode = (flags >> 11) & 0xf;
      if (!knownOpcode(opcode) || (flags & 0x0040) !== 0 || (!qr && (flags & 0xf) !== 0)) return 'no';
    }
    return 'maybe';
  }
  if (wholeMessage(payload, 0, payload.length)) return 'yes';
  const len = payload.readUInt16BE(0);
  if (len + 2 === payload.length && wholeMessage(payload, 2, len)) return 'yes';
  if (len + 2 < payload.length && wholeMessage(payload, 2, len) && tcpFrameStart(payload, len + 2)) return 'yes';
  if (tcpFrameStart(payload, 0) && len + 2 > payload.length) return 'maybe';
  return 'no';
}

export const dnsModule: L7ProtocolModule = {
  name: 'dns',
  defaultPorts: [53, 5353, 5355],
  detect,
  create: (options: ParserOptions = {}) => new DnsParser(options),
};
