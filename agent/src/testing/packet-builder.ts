/**
 * Builds frames byte by byte for decoder and flow tests, and classic pcap / pcapng files around
 * them. Checksums are left zero: nothing in the agent verifies them (as tshark with checksum
 * validation off).
 */
import { parseAddress } from '../util/ip-format';
import { PCAP_RECORD_HEADER_BYTES, pcapGlobalHeader, writePcapRecordHeader } from '../capture/pcap-writer';

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string; // letters of S A F R P U, e.g. 'SA'
  seq?: number;
  ack?: number;
  window?: number;
  windowScale?: number;
  payload?: Buffer | string;
}

export interface UdpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload?: Buffer | string;
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20 };

export function tcpFlags(letters: string): number {
  let f = 0;
  for (const ch of letters) f |= FLAG_BITS[ch] ?? 0;
  return f;
}

function bytesOf(p: Buffer | string | undefined): Buffer {
  return p === undefined ? Buffer.alloc(0) : typeof p === 'string' ? Buffer.from(p) : p;
}

export function tcpSegment(t: TcpSpec): Buffer {
  const options = t.windowScale !== undefined ? Buffer.from([1, 3, 3, t.windowScale]) : Buffer.alloc(0);
  const header = Buffer.alloc(20 + options.length);
  header.writeUInt16BE(t.sport, 0);
  header.writeUInt16BE(t.dport, 2);
  header.writeUInt32BE((t.seq ?? 0) >>> 0, 4);
  header.writeUInt32BE((t.ack ?? 0) >>> 0, 8);
  header[12] = (header.length / 4) << 4;
  header[13] = tcpFlags(t.flags);
  header.writeUInt16BE(t.window ?? 65535, 14);
  options.copy(header, 20);
  return Buffer.concat([header, bytesOf(t.payload)]);
}

export function udpDatagram(u: UdpSpec): Buffer {
  const payload = bytesOf(u.payload);
  const header = Buffer.alloc(8);
  header.writeUInt16BE(u.sport, 0);
  header.writeUInt16BE(u.dport, 2);
  header.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([header, payload]);
}

export interface Ipv4Options {
  id?: number;
  fragmentOffset?: number; // bytes, multiple of 8
  moreFragments?: boolean;
  totalLength?: number; // override (lies)
  ihl?: number;
}

export function ipv4(src: string, dst: string, proto: number, l4: Buffer, o: Ipv4Options = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x40 | (o.ihl ?? 5);
  h.writeUInt16BE(o.totalLength ?? 20 + l4.length, 2);
  h.writeUInt16BE(o.id ?? 1, 4);
  h.writeUInt16BE(((o.moreFragments ? 0x2000 : 0) | ((o.fragmentOffset ?? 0) / 8)) >>> 0, 6);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(addr4(src), 12);
  h.writeUInt32BE(addr4(dst), 16);
  return Buffer.concat([h, l4]);
}

/** IPv6 with optional extension headers given as [type, body] pairs (bodies padded to 8 bytes). */
export function ipv6(src: string, dst: string, proto: number, l4: Buffer, extensions: [number, Buffer][] = []): Buffer {
  const chain: Buffer[] = [];
  const nextHeaders = [...extensions.map((e) => e[0]), proto];
  extensions.forEach(([, body], i) => {
    const len = Math.ceil((body.length + 2) / 8) * 8;
    const ext = Buffer.alloc(len);
    ext[0] = nextHeaders[i + 1];
    ext[1] = len / 8 - 1;
    body.copy(ext, 2);
    chain.push(ext);
  });
  const payload = Buffer.concat([...chain, l4]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeaders[0];
  h[7] = 64;
  words6(src).forEach((w, i) => h.writeUInt32BE(w, 8 + 4 * i));
  words6(dst).forEach((w, i) => h.writeUInt32BE(w, 24 + 4 * i));
  return Buffer.concat([h, payload]);
}

export function ethernet(ip: Buffer, vlans: number[] = []): Buffer {
  const version = ip[0] >> 4;
  const parts: Buffer[] = [Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])];
  vlans.forEach((id, i) => {
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100, 0);
    tag.writeUInt16BE(id, 2);
    parts.push(tag);
  });
  const type = Buffer.alloc(2);
  type.writeUInt16BE(version === 6 ? 0x86dd : 0x0800, 0);
  parts.push(type, ip);
  return Buffer.concat(parts);
}

export function sll2(ip: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(ip[0] >> 4 === 6 ? 0x86dd : 0x0800, 0);
  h.writeUInt32BE(1, 4); // interface index
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[11] = 6;
  return Buffer.concat([h, ip]);
}

export function sll(ip: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  h.writeUInt16BE(ip[0] >> 4 === 6 ? 0x86dd : 0x0800, 14);
  return Buffer.concat([h, ip]);
}

export function addr4(text: string): number {
  const a = parseAddress(text);
  if (!a || a.version !== 4) throw new Error(`not IPv4: ${text}`);
  return a.words[3];
}

function words6(text: string): number[] {
  const a = parseAddress(text);
  if (!a || a.version !== 6) throw new Error(`not IPv6: ${text}`);
  return Array.from(a.words);
}

export interface Frame {
  tsUs: number;
  data: Buffer;
  origLen?: number;
}

/** A classic little-endian µs pcap. */
export function pcapFile(linkType: number, frames: Frame[]): Buffer {
  const records = frames.map((f) => {
    const r = Buffer.alloc(PCAP_RECORD_HEADER_BYTES);
    writePcapRecordHeader(r, 0, f.tsUs, f.data.length, f.origLen ?? f.data.length);
    return Buffer.concat([r, f.data]);
  });
  return Buffer.concat([pcapGlobalHeader(linkType), ...records]);
}

/** A pcapng with the given interfaces (link type, if_tsresol exponent of 10) and packets. */
export function pcapngFile(interfaces: { linkType: number; tsresol: number }[], packets: (Frame & { interfaceId: number })[]): Buffer {
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.alloc(Math.ceil(body.length / 4) * 4);
    body.copy(padded);
    const b = Buffer.alloc(12 + padded.length);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(b.length, 4);
    padded.copy(b, 8);
    b.writeUInt32LE(b.length, b.length - 4);
    return b;
  };
  const shbBody = Buffer.alloc(16);
  shbBody.writeUInt32LE(0x1a2b3c4d, 0);
  shbBody.writeUInt16LE(1, 4);
  shbBody.writeBigInt64LE(-1n, 8);
  const blocks = [block(0x0a0d0d0a, shbBody)];
  for (const i of interfaces) {
    const body = Buffer.alloc(8 + 8 + 4);
    body.writeUInt16LE(i.linkType, 0);
    body.writeUInt32LE(262144, 4);
    body.writeUInt16LE(9, 8); // if_tsresol
    body.writeUInt16LE(1, 10);
    body[12] = i.tsresol;
    blocks.push(block(1, body)); // trailing opt_endofopt is the zero padding
  }
  for (const p of packets) {
    const units = BigInt(p.tsUs) * 10n ** BigInt(interfaces[p.interfaceId].tsresol) / 1_000_000n;
    const body = Buffer.alloc(20 + p.data.length);
    body.writeUInt32LE(p.interfaceId, 0);
    body.writeUInt32LE(Number(units >> 32n), 4);
    body.writeUInt32LE(Number(units & 0xffffffffn), 8);
    body.writeUInt32LE(p.data.length, 12);
    body.writeUInt32LE(p.origLen ?? p.data.length, 16);
    p.data.copy(body, 20);
    blocks.push(block(6, body));
  }
  return Buffer.concat(blocks);
}
