/**
 * The loader's record stream (bpf/README.md, "Framing"): little-endian `{u32 type; u32 len}`
 * headers, each followed by `len` bytes of a packed C struct. Decoded by offsets here, because
 * this runs per syscall and per packet; unknown types and longer bodies of later versions are
 * skipped by their length.
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

export interface DataRecord {
  tsNs: bigint;
  sockId: string;
  pid: number;
  tid: number;
  fd: number;
  bytes: number;
  direction: 'egress' | 'ingress';
  ipProto: number;
  /** 0 unknown, 1 client (connected), 2 server (accepted). */
  role: number;
  flags: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  comm: string;
  payload: Buffer;
  tls: boolean;
}

export interface SockEvent {
  tsNs: bigint;
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

export interface TcpEvent {
  tsNs: bigint;
  sockId: string;
  kind: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  oldState: number;
  newState: number;
  srttUs: number;
}

export interface PacketRecord {
  tsNs: bigint;
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

/** A 16-byte address field: IPv4 in its first 4 bytes, else IPv6 (v4-mapped shown as IPv4). */
export function addressText(b: Buffer, at: number, family: number): string {
  if (family === 2) return formatIpv4(b.readUInt32BE(at));
  if (family !== 10) return '';
  const words = [b.readUInt32BE(at), b.readUInt32BE(at + 4), b.readUInt32BE(at + 8), b.readUInt32BE(at + 12)];
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return formatIpv4(words[3]);
  return formatIpv6(words);
}

const num = (v: bigint): number => Number(v);

export class LoaderStreamParser {
  private pending: Buffer = Buffer.alloc(0);
  /** Records skipped because their type is unknown or their body too short for its type. */
  skipped = 0;
  records = 0;

  constructor(private readonly on: RecordHandlers) {}

  feed(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= HEADER) {
      const type = buf.readUInt32LE(at);
      const len = buf.readUInt32LE(at + 4);
      if (len > MAX_RECORD) throw new Error(`loader stream broken: a record of ${len} bytes (type ${type})`);
      if (buf.length - at - HEADER < len) break;
      this.record(type, buf.subarray(at + HEADER, at + HEADER + len));
      at += HEADER + len;
    }
    // The unread tail is copied: the chunk's memory belongs to the stream.
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    buf = Buffer.alloc(0);
  }

  private record(type: number, b: Buffer): void {
    this.records++;
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
      case RecordType.sockData:
      case RecordType.sslData: {
        if (b.length < 128) break;
        const payloadLen = Math.min(b.readUInt32LE(60), b.length - 128);
        const family = b[66];
        const flags = b[70];
        this.on.data?.({
          tsNs: b.readBigUInt64LE(0),
          sockId: b.readBigUInt64LE(8).toString(16),
          bytes: num(b.readBigUInt64LE(40)),
          pid: b.readUInt32LE(48),
          tid: b.readUInt32LE(52),
          fd: b.readInt32LE(56),
          direction: b[64] === 0 ? 'egress' : 'ingress',
          ipProto: b[67],
          role: b[68],
          flags,
          localPort: b.readUInt16LE(72),
          remotePort: b.readUInt16LE(74),
          localIp: addressText(b, 80, family),
          remoteIp: addressText(b, 96, family),
          comm: cString(b, 112, 16),
          // The parsers may keep what they are given: copy out of the stream's buffer.
          payload: Buffer.from(b.subarray(128, 128 + payloadLen)),
          tls: type === RecordType.sslData || (flags & 1) !== 0,
        });
        return;
      }
      case RecordType.sockEvent: {
        if (b.length < 112) break;
        const kind = b[48];
        const family = b[49];
        this.on.sockEvent?.({
          tsNs: b.readBigUInt64LE(0),
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
          kind: b.readUInt32LE(20),
          localPort: b.readUInt16LE(26),
          remotePort: b.readUInt16LE(28),
          localIp: addressText(b, 32, family),
          remoteIp: addressText(b, 48, family),
          oldState: b.readInt32LE(64),
          newState: b.readInt32LE(68),
          srttUs: b.readUInt32LE(72),
        });
        return;
      }
      case RecordType.packet: {
        if (b.length < 48) break;
        const caplen = Math.min(b.readUInt32LE(12), b.length - 48);
        this.on.packet?.({
          tsNs: b.readBigUInt64LE(0),
          ifindex: b.readUInt32LE(8),
          origLen: b.readUInt32LE(16),
          linkType: b.readUInt16LE(20),
          outgoing: b[26] === 4,
          ifname: cString(b, 32, 16),
          // Decoded at once and not kept: a view is enough.
          data: b.subarray(48, 48 + caplen),
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
