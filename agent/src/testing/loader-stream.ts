/**
 * Loader records (bpf/README.md, "Framing"; structs of bpf/metaflow.h) built in memory, for tests
 * and benchmarks of what reads the loader's stream. Fields not given are zero.
 */

export const LoaderRecordType = { hello: 1, log: 2, stats: 3, sockData: 4, sockEvent: 5, tcpEvent: 6, sslData: 7, sslHandshake: 8, packet: 9 } as const;

/** `{u32 type; u32 len}` and the body. */
export function loaderRecord(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body]);
}

/** An address field's bytes: IPv4 (4 bytes) or IPv6 (16). */
const LOOPBACK = [127, 0, 0, 1];

function putAddress(b: Buffer, at: number, bytes: readonly number[]): void {
  Buffer.from(bytes).copy(b, at);
}

export function helloRecord(bootOffsetNs: bigint, kernelRelease = '6.1.0-test'): Buffer {
  const b = Buffer.alloc(144);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(1024, 4);
  b.writeBigUInt64LE(bootOffsetNs, 8);
  b.writeUInt32LE(1, 24);
  b.writeUInt32LE(1 | 4, 32);
  b.writeUInt32LE(16384, 36);
  b.write(kernelRelease, 80, 'latin1');
  return loaderRecord(LoaderRecordType.hello, b);
}

export function logRecord(level: number, text: string): Buffer {
  const b = Buffer.alloc(8 + Buffer.byteLength(text));
  b.writeUInt32LE(level, 0);
  b.writeUInt32LE(Buffer.byteLength(text), 4);
  b.write(text, 8);
  return loaderRecord(LoaderRecordType.log, b);
}

export function statsRecord(wallNs: bigint, bootOffsetNs: bigint, dataEmitted = 0): Buffer {
  const b = Buffer.alloc(184);
  b.writeBigUInt64LE(wallNs, 0);
  b.writeBigUInt64LE(bootOffsetNs, 8);
  b.writeUInt32LE(15, 16);
  b.writeBigUInt64LE(BigInt(dataEmitted), 24);
  return loaderRecord(LoaderRecordType.stats, b);
}

export interface DataFields {
  tsNs: bigint;
  sockId: bigint;
  pid: number;
  tid?: number;
  fd?: number;
  /** Bytes the call moved (default: the payload's length). */
  bytes?: number;
  /** 0 egress, 1 ingress. */
  direction: 0 | 1;
  /** 2 AF_INET (default), 10 AF_INET6. */
  family?: number;
  ipProto?: number;
  role?: number;
  flags?: number;
  localPort: number;
  remotePort: number;
  localAddr?: readonly number[];
  remoteAddr?: readonly number[];
  comm: string;
  payload: Buffer;
  /** An SSL data record (7) rather than sock data (4). */
  ssl?: boolean;
}

/** `mf_data` and the payload. */
export function dataRecord(f: DataFields): Buffer {
  const b = Buffer.alloc(128 + f.payload.length);
  b.writeBigUInt64LE(f.tsNs, 0);
  b.writeBigUInt64LE(f.sockId, 8);
  b.writeBigUInt64LE(f.sockId >> 6n, 16); // an inode-like number
  b.writeBigUInt64LE(BigInt(f.bytes ?? f.payload.length), 40);
  b.writeUInt32LE(f.pid, 48);
  b.writeUInt32LE(f.tid ?? f.pid, 52);
  b.writeInt32LE(f.fd ?? 3, 56);
  b.writeUInt32LE(f.payload.length, 60);
  b[64] = f.direction;
  b[65] = f.ssl ? (f.direction === 0 ? 21 : 20) : f.direction === 0 ? 2 : 1;
  b[66] = f.family ?? 2;
  b[67] = f.ipProto ?? 6;
  b[68] = f.role ?? 0;
  b[70] = f.flags ?? 0;
  b.writeUInt16LE(f.localPort, 72);
  b.writeUInt16LE(f.remotePort, 74);
  putAddress(b, 80, f.localAddr ?? LOOPBACK);
  putAddress(b, 96, f.remoteAddr ?? LOOPBACK);
  b.write(f.comm, 112, 'latin1');
  f.payload.copy(b, 128);
  return loaderRecord(f.ssl ? LoaderRecordType.sslData : LoaderRecordType.sockData, b);
}

export interface SockEventFields {
  tsNs: bigint;
  sockId: bigint;
  pid: number;
  /** 1 connect, 2 accept, 3 close. */
  kind: 1 | 2 | 3;
  family?: number;
  ipProto?: number;
  localPort: number;
  remotePort: number;
  localAddr?: readonly number[];
  remoteAddr?: readonly number[];
  comm: string;
}

/** `mf_sock_event`. */
export function sockEventRecord(f: SockEventFields): Buffer {
  const b = Buffer.alloc(112);
  b.writeBigUInt64LE(f.tsNs, 0);
  b.writeBigUInt64LE(f.sockId, 8);
  b.writeBigUInt64LE(f.sockId >> 6n, 16);
  b.writeUInt32LE(f.pid, 32);
  b.writeUInt32LE(f.pid, 36);
  b.writeInt32LE(3, 40);
  b[48] = f.kind;
  b[49] = f.family ?? 2;
  b[50] = f.ipProto ?? 6;
  b.writeUInt16LE(f.localPort, 52);
  b.writeUInt16LE(f.remotePort, 54);
  putAddress(b, 56, f.localAddr ?? LOOPBACK);
  putAddress(b, 72, f.remoteAddr ?? LOOPBACK);
  b.write(f.comm, 88, 'latin1');
  return loaderRecord(LoaderRecordType.sockEvent, b);
}

/** `mf_packet` and the packet's bytes. */
export function packetRecord(tsNs: bigint, ifindex: number, ifname: string, data: Buffer, outgoing = false): Buffer {
  const b = Buffer.alloc(48 + data.length);
  b.writeBigUInt64LE(tsNs, 0);
  b.writeUInt32LE(ifindex, 8);
  b.writeUInt32LE(data.length, 12);
  b.writeUInt32LE(data.length, 16);
  b.writeUInt16LE(1, 20);
  b[26] = outgoing ? 4 : 0;
  b.write(ifname, 32, 'latin1');
  data.copy(b, 48);
  return loaderRecord(LoaderRecordType.packet, b);
}
