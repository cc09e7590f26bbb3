/**
 * The loader's record stream (bpf/README.md, "Framing"): little-endian `{u32 type; u32 len}`
 * headers, each followed by `len` bytes of a packed C struct. Decoded by offsets here, because
 * this runs per syscall and per packet; unknown types and longer bodies of later versions are
 * skipped by their length.
 *
 * Socket data and packet records are the hot path (one per syscall, one per packet) and are
 * decoded by hand rather than through a struct library, which would cost an object and a
 * BigInt per field: fixed fields are read with a DataView over the chunk as it came from the
 * pipe (no copy of the chunk), 64-bit values as two 32-bit halves (no BigInt), and the text
 * fields (addresses, comm, the sock id in hex) only when a consumer asks for them — the socket
 * tracker does so once per socket, when it opens the socket's flow.
 */
import { formatIpv4, formatIpv6 } from '../util/ip-format';

export const RecordType = { hello: 1, log: 2, stats: 3, sockData: 4, sockEvent: 5, tcpEvent: 6, sslData: 7, sslHandshake: 8, packet: 9 } as const;

const HEADER = 8;
/** A record larger than this is a broken stream, not a record (packets and payloads are far smaller). */
const MAX_RECORD = 1 << 20;

export interface Hello {
  version: number;
  payloadBytes: number;
  bootOffsetNs: bigint;
  loaderPid: number;
  flags: number;
  kernelRelease: string;
}

export interface LogRecord {
  level: number;
  text: string;
}

export interface LoaderStats {
  wallNs: bigint;
  bootOffsetNs: bigint;
  active: number;
  sslProcesses: number;
  dataEmitted: number;
  dataFiltered: number;
  dataRingDrops: number;
  lifecycleRingDrops: number;
  tcpRingDrops: number;
  sslRingDrops: number;
  packetsReceived: number;
  packetsDropped: number;
  packetRecords: number;
}

/**
 * ⌊(hi·2³² + lo) / 1000⌋ for a u64 of nanoseconds given as its 32-bit halves: microseconds,
 * exact without BigInt (the low part is below 1000·2³², well inside a double's integers).
 */
export function nsHalvesToUs(hi: number, lo: number): number {
  return Math.floor(hi / 1000) * 4294967296 + Math.floor(((hi % 1000) * 4294967296 + lo) / 1000);
}

const DATA_BODY = 128;

/**
 * A socket data (4) or SSL data (7) record: `mf_data`, then the payload. Numbers are read when
 * the record is decoded; the text fields and the 64-bit values as BigInt are getters, made
 * from the record's bytes each time they are read.
 *
 * `payload` is a view into the chunk the loader's pipe delivered (not a copy): it stays valid
 * (nothing writes to a chunk once read), but a consumer that keeps payload bytes keeps the whole
 * chunk alive, so whoever keeps them copies them (FlowL7 does, before its parsers see them).
 */
export class DataRecord {
  /** `ts_ns` in microseconds (CLOCK_MONOTONIC: wall = this + the boot offset in µs). */
  readonly tsUs: number;
  /** `sock_id` (the kernel's `struct sock` address) as two 32-bit halves: the socket's key. */
  readonly sockHi: number;
  readonly sockLo: number;
  readonly pid: number;
  readonly tid: number;
  readonly fd: number;
  readonly bytes: number;
  readonly direction: 'egress' | 'ingress';
  readonly ipProto: number;
  /** 0 unknown, 1 client (connected), 2 server (accepted). */
  readonly role: number;
  readonly flags: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly payload: Buffer;
  readonly tls: boolean;
  private readonly family: number;
  /** The buffer holding the record and where its body starts (for the text fields). */
  private readonly buf: Buffer;
  private readonly at: number;

  /** The body at `at` in `buf` (`view` spans `buf`), `len` bytes of it (at least 128). */
  constructor(view: DataView, buf: Buffer, at: number, len: number, type: number) {
    this.buf = buf;
    this.at = at;
    this.tsUs = nsHalvesToUs(view.getUint32(at + 4, true), view.getUint32(at, true));
    this.sockLo = view.getUint32(at + 8, true);
    this.sockHi = view.getUint32(at + 12, true);
    this.bytes = view.getUint32(at + 44, true) * 4294967296 + view.getUint32(at + 40, true);
    this.pid = view.getUint32(at + 48, true);
    this.tid = view.getUint32(at + 52, true);
    this.fd = view.getInt32(at + 56, true);
    const payloadLen = Math.min(view.getUint32(at + 60, true), len - DATA_BODY);
    this.direction = buf[at + 64] === 0 ? 'egress' : 'ingress';
    this.family = buf[at + 66];
    this.ipProto = buf[at + 67];
    this.role = buf[at + 68];
    const flags = buf[at + 70];
    this.flags = flags;
    this.localPort = view.getUint16(at + 72, true);
    this.remotePort = view.getUint16(at + 74, true);
    this.payload = buf.subarray(at + DATA_BODY, at + DATA_BODY + payloadLen);
    this.tls = type === RecordType.sslData || (flags & 1) !== 0;
  }

  get tsNs(): bigint {
    return this.buf.readBigUInt64LE(this.at);
  }

  /** `sock_id` in hex. */
  get sockId(): string {
    return this.buf.readBigUInt64LE(this.at + 8).toString(16);
  }

  get localIp(): string {
    return addressText(this.buf, this.at + 80, this.family);
  }

  get remoteIp(): string {
    return addressText(this.buf, this.at + 96, this.family);
  }

  get comm(): string {
    return cString(this.buf, this.at + 112, 16);
  }
}

export interface SockEvent {
  tsNs: bigint;
  /** `ts_ns` in microseconds, and `sock_id` as its 32-bit halves (as in DataRecord). */
  tsUs: number;
  sockHi: number;
  sockLo: number;
  sockId: string;
  pid: number;
  kind: 'connect' | 'accept' | 'close';
  ipProto: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  comm: string;
}

/** A TCP tracepoint record (bpf/README.md "tcp event"); what each kind fills is described there. */
export interface TcpEvent {
  tsNs: bigint;
  sockId: string;
  /** The task running when it fired: the socket's owner only at a change into SYN_SENT (connect). */
  pid: number;
  comm: string;
  kind: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  oldState: number;
  newState: number;
  srttUs: number;
  /** Reset sent: the kernel's reason; retransmit: its error (0 = sent); state change: the socket's sk_err. */
  value: number;
  /** Retransmit: segments in the skb (0 from loaders before wire body 104). */
  segs: number;
}

export interface PacketRecord {
  /** Wall clock (the loader's CLOCK_REALTIME ns) in microseconds. */
  tsUs: number;
  ifindex: number;
  ifname: string;
  origLen: number;
  linkType: number;
  outgoing: boolean;
  data: Buffer;
}

export interface RecordHandlers {
  hello?(h: Hello): void;
  log?(l: LogRecord): void;
  stats?(s: LoaderStats): void;
  data?(d: DataRecord): void;
  sockEvent?(e: SockEvent): void;
  tcpEvent?(e: TcpEvent): void;
  packet?(p: PacketRecord): void;
}

function cString(b: Buffer, at: number, max: number): string {
  const end = b.indexOf(0, at);
  return b.toString('utf8', at, end < 0 || end > at + max ? at + max : end);
}

const EMPTY = Buffer.alloc(0);

/** The last interface name seen per ifindex, with its 16 bytes, so a packet costs no string. */
interface IfName {
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  name: string;
}

/** A 16-byte address field: IPv4 in its first 4 bytes, else IPv6 (v4-mapped shown as IPv4). */
export function addressText(b: Buffer, at: number, family: number): string {
  if (family === 2) return formatIpv4(b.readUInt32BE(at));
  if (family !== 10) return '';
  const words = [b.readUInt32BE(at), b.readUInt32BE(at + 4), b.readUInt32BE(at + 8), b.readUInt32BE(at + 12)];
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return formatIpv4(words[3]);
  return formatIpv6(words);
}

const num = (v: bigint): number => Number(v);

const broken = (type: number, len: number): Error => new Error(`loader stream broken: a record of ${len} bytes (type ${type})`);

export class LoaderStreamParser {
  /** The start of a record cut by the end of the last chunk (a copy: at most one record). */
  private pending: Buffer = EMPTY;
  private readonly ifNames = new Map<number, IfName>();
  /** Records skipped because their type is unknown or their body too short for its type. */
  skipped = 0;
  records = 0;

  constructor(private readonly on: RecordHandlers) {}

  feed(chunk: Buffer): void {
    let at = 0;
    if (this.pending.length > 0) {
      // Only the record cut by the last chunk is put together; the rest is read in place.
      at = this.completePending(chunk);
      if (at < 0) return;
    }
    const end = chunk.length;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (end - at >= HEADER) {
      const type = view.getUint32(at, true);
      const len = view.getUint32(at + 4, true);
      if (len > MAX_RECORD) throw broken(type, len);
      if (end - at - HEADER < len) break;
      this.record(type, view, chunk, at + HEADER, len);
      at += HEADER + len;
    }
    // The unread tail is copied: the chunk's memory belongs to the stream.
    this.pending = at < end ? Buffer.from(chunk.subarray(at)) : EMPTY;
  }

  /**
   * Completes the pending record with the first bytes of `chunk` and decodes it; returns where
   * the next record starts in `chunk`, or -1 when the whole chunk went into the pending record.
   */
  private completePending(chunk: Buffer): number {
    let p = this.pending;
    let used = 0;
    if (p.length < HEADER) {
      used = Math.min(HEADER - p.length, chunk.length);
      p = Buffer.concat([p, chunk.subarray(0, used)]);
      if (p.length < HEADER) {
        this.pending = p;
        return -1;
      }
    }
    const type = p.readUInt32LE(0);
    const len = p.readUInt32LE(4);
    if (len > MAX_RECORD) throw broken(type, len);
    const need = HEADER + len - p.length;
    if (chunk.length - used < need) {
      this.pending = Buffer.concat([p, chunk.subarray(used)]);
      return -1;
    }
    const whole = Buffer.concat([p, chunk.subarray(used, used + need)]);
    this.pending = EMPTY;
    this.record(type, new DataView(whole.buffer, whole.byteOffset, whole.byteLength), whole, HEADER, len);
    return used + need;
  }

  /** The record whose body is `len` bytes at `at` in `buf` (`view` spans `buf`). */
  private record(type: number, view: DataView, buf: Buffer, at: number, len: number): void {
    this.records++;
    if (type === RecordType.sockData || type === RecordType.sslData) {
      if (len < DATA_BODY) this.skipped++;
      else if (this.on.data) this.on.data(new DataRecord(view, buf, at, len, type));
      return;
    }
    if (type === RecordType.packet) {
      if (len < 48) this.skipped++;
      else if (this.on.packet) this.packet(view, buf, at, len);
      return;
    }
    this.other(type, buf.subarray(at, at + len));
  }

  private packet(view: DataView, buf: Buffer, at: number, len: number): void {
    const caplen = Math.min(view.getUint32(at + 12, true), len - 48);
    this.on.packet?.({
      tsUs: nsHalvesToUs(view.getUint32(at + 4, true), view.getUint32(at, true)),
      ifindex: view.getUint32(at + 8, true),
      origLen: view.getUint32(at + 16, true),
      linkType: view.getUint16(at + 20, true),
      outgoing: buf[at + 26] === 4,
      ifname: this.ifName(view, buf, at),
      // Decoded at once and not kept: a view is enough.
      data: buf.subarray(at + 48, at + 48 + caplen),
    });
  }

  /** `ifname` (16 bytes at 32) of a packet record, made into a string once per interface. */
  private ifName(view: DataView, buf: Buffer, at: number): string {
    const ifindex = view.getUint32(at + 8, true);
    const w0 = view.getUint32(at + 32, true);
    const w1 = view.getUint32(at + 36, true);
    const w2 = view.getUint32(at + 40, true);
    const w3 = view.getUint32(at + 44, true);
    const known = this.ifNames.get(ifindex);
    if (known && known.w0 === w0 && known.w1 === w1 && known.w2 === w2 && known.w3 === w3) return known.name;
    const name = cString(buf, at + 32, 16);
    if (this.ifNames.size >= 4096) this.ifNames.clear();
    this.ifNames.set(ifindex, { w0, w1, w2, w3, name });
    return name;
  }

  /** The records that are not per syscall or per packet. */
  private other(type: number, b: Buffer): void {
    switch (type) {
      case RecordType.hello:
        if (b.length < 144) break;
        this.on.hello?.({ version: b.readUInt32LE(0), payloadBytes: b.readUInt32LE(4), bootOffsetNs: b.readBigUInt64LE(8), loaderPid: b.readUInt32LE(24), flags: b.readUInt32LE(32), kernelRelease: cString(b, 80, 64) });
        return;
      case RecordType.log:
        if (b.length < 8) break;
        this.on.log?.({ level: b.readUInt32LE(0), text: b.toString('utf8', 8, 8 + Math.min(b.readUInt32LE(4), b.length - 8)) });
        return;
      case RecordType.stats:
        if (b.length < 184) break;
        this.on.stats?.({
          wallNs: b.readBigUInt64LE(0),
          bootOffsetNs: b.readBigUInt64LE(8),
          active: b.readUInt32LE(16),
          sslProcesses: b.readUInt32LE(20),
          dataEmitted: num(b.readBigUInt64LE(24)),
          dataFiltered: num(b.readBigUInt64LE(32)),
          dataRingDrops: num(b.readBigUInt64LE(40)),
          lifecycleRingDrops: num(b.readBigUInt64LE(64)),
          tcpRingDrops: num(b.readBigUInt64LE(80)),
          sslRingDrops: num(b.readBigUInt64LE(112)),
          packetsReceived: num(b.readBigUInt64LE(128)),
          packetsDropped: num(b.readBigUInt64LE(136)),
          packetRecords: num(b.readBigUInt64LE(152)),
        });
        return;
      case RecordType.sockEvent: {
        if (b.length < 112) break;
        const kind = b[48];
        const family = b[49];
        this.on.sockEvent?.({
          tsNs: b.readBigUInt64LE(0),
          tsUs: nsHalvesToUs(b.readUInt32LE(4), b.readUInt32LE(0)),
          sockHi: b.readUInt32LE(12),
          sockLo: b.readUInt32LE(8),
          sockId: b.readBigUInt64LE(8).toString(16),
          pid: b.readUInt32LE(32),
          kind: kind === 1 ? 'connect' : kind === 2 ? 'accept' : 'close',
          ipProto: b[50],
          localPort: b.readUInt16LE(52),
          remotePort: b.readUInt16LE(54),
          localIp: addressText(b, 56, family),
          remoteIp: addressText(b, 72, family),
          comm: cString(b, 88, 16),
        });
        return;
      }
      case RecordType.tcpEvent: {
        if (b.length < 88) break;
        const family = b[24];
        this.on.tcpEvent?.({
          tsNs: b.readBigUInt64LE(0),
          sockId: b.readBigUInt64LE(8).toString(16),
          pid: b.readUInt32LE(16),
          kind: b.readUInt32LE(20),
          localPort: b.readUInt16LE(26),
          remotePort: b.readUInt16LE(28),
          localIp: addressText(b, 32, family),
          remoteIp: addressText(b, 48, family),
          oldState: b.readInt32LE(64),
          newState: b.readInt32LE(68),
          srttUs: b.readUInt32LE(72),
          value: b.readUInt32LE(80),
          segs: b.readUInt32LE(84),
          comm: b.length >= 104 ? cString(b, 88, 16) : '',
        });
        return;
      }
      case RecordType.sslHandshake:
        return;
      default:
        break;
    }
    this.skipped++;
  }
}
