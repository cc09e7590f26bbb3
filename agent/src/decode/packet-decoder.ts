import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodeCounters } from './decode-counters';
import { DecodedPacket, IpProto } from './decoded-packet';
import { Ipv4Reassembler } from './ipv4-reassembler';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;

/** Address families of the BSD loopback/NULL header, which differ between operating systems. */
const AF_INET = 2;
const AF_INET6_VALUES = new Set([10, 23, 24, 28, 30]);

const IPV6_EXTENSION_HOP_BY_HOP = 0;
const IPV6_EXTENSION_ROUTING = 43;
const IPV6_EXTENSION_FRAGMENT = 44;
const IPV6_EXTENSION_ESP = 50;
const IPV6_EXTENSION_AUTH = 51;
const IPV6_EXTENSION_DEST_OPTS = 60;
const IPV6_EXTENSION_MOBILITY = 135;

/**
 * Frame → IP → TCP/UDP header decoder. Hand-written rather than a library because it runs once
 * per packet on the hot path: it reads fields straight from the frame's bytes (in place in the
 * capture chunk when the source gives `buffer`/`offset`) into a reused DecodedPacket, allocates
 * nothing, and never throws on bad input — every failure is a counted reason.
 *
 * Offsets are absolute positions in `data`; `end` is where the captured frame ends, and every
 * read is checked against it (the chunk goes on with the next record).
 */
export class PacketDecoder {
  readonly counters = new DecodeCounters();
  private readonly reassembler = new Ipv4Reassembler();

  /** Fills `out` and returns true for a TCP or UDP packet; false (counted) otherwise. */
  /** Where the frame being decoded starts in its buffer (lengths from headers count from here). */
  private frameStart = 0;

  decode(pkt: CapturedPacket, out: DecodedPacket): boolean {
    const buffer = pkt.buffer;
    const data = buffer === undefined ? pkt.data : buffer;
    const start = buffer === undefined ? 0 : (pkt.offset as number);
    const len = start + pkt.capLen;
    this.frameStart = start;
    out.tsUs = pkt.tsUs;
    out.frameLen = pkt.origLen;
    out.vlanId = -1;
    switch (pkt.linkType) {
      case LinkType.ETHERNET:
        return this.decodeEthernet(data, start, len, out);
      case LinkType.RAW:
      case LinkType.IPV4:
      case LinkType.IPV6:
        return this.decodeIpByVersion(data, start, len, out);
      case LinkType.NULL:
      case LinkType.LOOP: {
        if (len < start + 4) return this.malformed('truncated_link_header');
        const family = pkt.linkType === LinkType.LOOP ? u32(data, start) : loopbackFamily(data, start);
        if (family === AF_INET) return this.decodeIpv4(data, start + 4, len, out);
        if (AF_INET6_VALUES.has(family)) return this.decodeIpv6(data, start + 4, len, out);
        return this.skipped('non_ip');
      }
      case LinkType.LINUX_SLL: {
        if (len < start + 16) return this.malformed('truncated_link_header');
        return this.decodeEtherType(u16(data, start + 14), data, start + 16, len, out);
      }
      case LinkType.LINUX_SLL2: {
        if (len < start + 20) return this.malformed('truncated_link_header');
        return this.decodeEtherType(u16(data, start), data, start + 20, len, out);
      }
      default:
        return this.skipped('unsupported_link_type');
    }
  }

  private decodeEthernet(data: Buffer, start: number, len: number, out: DecodedPacket): boolean {
    if (len < start + 14) return this.malformed('truncated_link_header');
    let offset = start + 12;
    let etherType = u16(data, offset);
    // 802.1Q and QinQ: any number of stacked tags, the innermost id is kept.
    while (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD) {
      if (len < offset + 6) return this.malformed('truncated_link_header');
      out.vlanId = u16(data, offset + 2) & 0x0fff;
      offset += 4;
      etherType = u16(data, offset);
    }
    return this.decodeEtherType(etherType, data, offset + 2, len, out);
  }

  private decodeEtherType(etherType: number, data: Buffer, offset: number, len: number, out: DecodedPacket): boolean {
    if (etherType === ETHERTYPE_IPV4) return this.decodeIpv4(data, offset, len, out);
    if (etherType === ETHERTYPE_IPV6) return this.decodeIpv6(data, offset, len, out);
    return this.skipped('non_ip');
  }

  private decodeIpByVersion(data: Buffer, offset: number, len: number, out: DecodedPacket): boolean {
    if (len <= offset) return this.malformed('truncated_ip_header');
    const version = data[offset] >> 4;
    if (version === 4) return this.decodeIpv4(data, offset, len, out);
    if (version === 6) return this.decodeIpv6(data, offset, len, out);
    return this.malformed('bad_ip_version');
  }

  private decodeIpv4(data: Buffer, offset: number, len: number, out: DecodedPacket): boolean {
    if (len < offset + 20) return this.malformed('truncated_ip_header');
    const versionIhl = data[offset];
    if (versionIhl >> 4 !== 4) return this.malformed('bad_ip_version');
    const headerLen = (versionIhl & 0x0f) * 4;
    if (headerLen < 20) return this.malformed('bad_ip_header_length');
    if (len < offset + headerLen) return this.malformed('truncated_ip_header');
    let totalLen = u16(data, offset + 2);
    // Bytes of the frame on the wire from the IP header on.
    const onWire = out.frameLen - (offset - this.frameStart);
    // Segmentation offload hands the capture super-frames whose total length is 0: trust the frame.
    if (totalLen === 0) totalLen = Math.max(0, Math.min(onWire, 65535));
    if (totalLen < headerLen) return this.malformed('bad_ip_total_length');
    // A header claiming more than the frame carried: analyse what is there, as tshark does.
    if (totalLen > onWire && onWire >= headerLen) {
      this.counters.malformed.ip_length_exceeds_frame++;
      totalLen = onWire;
    }
    out.ipVersion = 4;
    const src = u32(data, offset + 12);
    const dst = u32(data, offset + 16);
    out.srcIp4 = src;
    out.dstIp4 = dst;
    const sa = out.srcAddr;
    const da = out.dstAddr;
    sa[0] = sa[1] = sa[2] = 0;
    sa[3] = src;
    da[0] = da[1] = da[2] = 0;
    da[3] = dst;
    out.ipProto = data[offset + 9];
    out.l3Len = totalLen;
    const fragmentField = u16(data, offset + 6);
    const moreFragments = (fragmentField & 0x2000) !== 0;
    const fragmentOffset = (fragmentField & 0x1fff) * 8;
    const l4Start = offset + headerLen;
    const l4Len = totalLen - headerLen;
    if (moreFragments || fragmentOffset !== 0) {
      return this.reassembleIpv4(data, offset, l4Start, l4Len, len, fragmentOffset, moreFragments, out);
    }
    // The captured part of the datagram ends at the IP length (Ethernet pads short frames).
    const capturedEnd = Math.min(len, l4Start + l4Len);
    return this.decodeL4(data, l4Start, capturedEnd, l4Len, out);
  }

  private reassembleIpv4(
    data: Buffer,
    ipOffset: number,
    l4Start: number,
    l4Len: number,
    len: number,
    fragmentOffset: number,
    moreFragments: boolean,
    out: DecodedPacket,
  ): boolean {
    if (l4Start + l4Len > len) return this.malformed('bad_ipv4_fragment');
    if (moreFragments && (l4Len === 0 || l4Len % 8 !== 0)) return this.malformed('bad_ipv4_fragment');
    if (fragmentOffset + l4Len > 65535) return this.malformed('bad_ipv4_fragment');
    const key = `${out.srcIp4}-${out.dstIp4}-${u16(data, ipOffset + 4)}-${out.ipProto}`;
    const whole = this.reassembler.add(key, fragmentOffset, moreFragments, data.subarray(l4Start, l4Start + l4Len), out.frameLen, out.tsUs);
    this.counters.skipped.ipv4_fragment_expired = this.reassembler.expired;
    this.counters.skipped.ipv4_fragment_overflow = this.reassembler.evicted;
    if (!whole) return this.skipped('ipv4_fragment_pending');
    this.counters.reassembled++;
    out.frameLen = whole.frameBytes;
    out.l3Len = whole.l4.length + (l4Start - ipOffset);
    return this.decodeL4(whole.l4, 0, whole.l4.length, whole.l4.length, out);
  }

  private decodeIpv6(data: Buffer, offset: number, len: number, out: DecodedPacket): boolean {
    if (len < offset + 40) return this.malformed('truncated_ip_header');
    if (data[offset] >> 4 !== 6) return this.malformed('bad_ip_version');
    const payloadLen = u16(data, offset + 4);
    out.ipVersion = 6;
    const sa = out.srcAddr;
    const da = out.dstAddr;
    for (let i = 0; i < 4; i++) {
      sa[i] = u32(data, offset + 8 + 4 * i);
      da[i] = u32(data, offset + 24 + 4 * i);
    }
    // Jumbograms (payload length 0 with a hop-by-hop option) and offload frames: trust the frame.
    const ipPayloadLen = payloadLen === 0 ? Math.max(0, out.frameLen - (offset - this.frameStart) - 40) : payloadLen;
    out.l3Len = 40 + ipPayloadLen;
    const ipEnd = offset + 40 + ipPayloadLen;
    let next = data[offset + 6];
    let cursor = offset + 40;
    // Walk the extension header chain to the transport header.
    for (;;) {
      if (next === IpProto.TCP || next === IpProto.UDP) break;
      if (
        next === IPV6_EXTENSION_HOP_BY_HOP ||
        next === IPV6_EXTENSION_ROUTING ||
        next === IPV6_EXTENSION_DEST_OPTS ||
        next === IPV6_EXTENSION_MOBILITY
      ) {
        if (len < cursor + 8 || cursor + 8 > ipEnd) return this.malformed('bad_ipv6_extension_header');
        const extLen = (data[cursor + 1] + 1) * 8;
        next = data[cursor];
        cursor += extLen;
        continue;
      }
      if (next === IPV6_EXTENSION_AUTH) {
        if (len < cursor + 8 || cursor + 8 > ipEnd) return this.malformed('bad_ipv6_extension_header');
        const extLen = (data[cursor + 1] + 2) * 4;
        next = data[cursor];
        cursor += extLen;
        continue;
      }
      if (next === IPV6_EXTENSION_FRAGMENT) {
        if (len < cursor + 8) return this.malformed('bad_ipv6_extension_header');
        const fragmentField = u16(data, cursor + 2);
        // An atomic fragment (offset 0, no more fragments) carries a whole datagram.
        if ((fragmentField & 0xfff9) !== 0) return this.skipped('ipv6_fragment');
        next = data[cursor];
        cursor += 8;
        continue;
      }
      if (next === IPV6_EXTENSION_ESP) return this.skipped('encrypted_esp');
      out.ipProto = next;
      return this.skipped('other_l4_protocol');
    }
    if (cursor > ipEnd) return this.malformed('bad_ipv6_extension_header');
    out.ipProto = next;
    return this.decodeL4(data, cursor, Math.min(len, ipEnd), ipEnd - cursor, out);
  }

  /**
   * @param capturedEnd end of the captured transport bytes in `data`
   * @param l4Len transport length according to the IP header
   */
  private decodeL4(data: Buffer, start: number, capturedEnd: number, l4Len: number, out: DecodedPacket): boolean {
    if (out.ipProto === IpProto.TCP) {
      if (l4Len < 20) return this.malformed('bad_tcp_header_length');
      if (capturedEnd < start + 20) return this.malformed('truncated_l4_header');
      const headerLen = (data[start + 12] >> 4) * 4;
      if (headerLen < 20 || headerLen > l4Len) return this.malformed('bad_tcp_header_length');
      if (capturedEnd < start + headerLen) return this.malformed('truncated_l4_header');
      out.srcPort = u16(data, start);
      out.dstPort = u16(data, start + 2);
      out.seq = u32(data, start + 4);
      out.ack = u32(data, start + 8);
      out.tcpFlags = data[start + 13];
      out.window = u16(data, start + 14);
      out.windowScale = headerLen > 20 && (out.tcpFlags & 0x02) !== 0 ? readWindowScale(data, start + 20, start + headerLen) : -1;
      out.l4PayloadLen = l4Len - headerLen;
      out.payloadData = data;
      out.payloadStart = start + headerLen;
      out.payloadEnd = capturedEnd;
      return true;
    }
    if (out.ipProto === IpProto.UDP) {
      if (l4Len < 8) return this.malformed('bad_udp_length');
      if (capturedEnd < start + 8) return this.malformed('truncated_l4_header');
      out.srcPort = u16(data, start);
      out.dstPort = u16(data, start + 2);
      const udpLen = u16(data, start + 4);
      // A UDP length of 0 is legal for jumbograms; otherwise it must fit inside the IP payload.
      if (udpLen !== 0 && (udpLen < 8 || udpLen > l4Len)) return this.malformed('bad_udp_length');
      const datagramLen = udpLen === 0 ? l4Len : udpLen;
      out.tcpFlags = 0;
      out.windowScale = -1;
      out.l4PayloadLen = datagramLen - 8;
      out.payloadData = data;
      out.payloadStart = start + 8;
      out.payloadEnd = Math.min(capturedEnd, start + datagramLen);
      return true;
    }
    return this.skipped('other_l4_protocol');
  }

  private malformed(reason: keyof DecodeCounters['malformed']): false {
    this.counters.malformed[reason]++;
    return false;
  }

  private skipped(reason: keyof DecodeCounters['skipped']): false {
    this.counters.skipped[reason]++;
    return false;
  }
}

/** The NULL link header stores the family in the capturing host's byte order. */
function loopbackFamily(data: Buffer, at: number): number {
  const le = data.readUInt32LE(at);
  return le <= 0xffff ? le : u32(data, at);
}

/** Big-endian reads; the caller has checked the bytes are inside the frame. */
function u16(data: Buffer, at: number): number {
  return (data[at] << 8) | data[at + 1];
}

function u32(data: Buffer, at: number): number {
  return ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
}

function readWindowScale(data: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const kind = data[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const optLen = data[i + 1];
    if (optLen < 2 || i + optLen > end) break;
    if (kind === 3 && optLen === 3) return Math.min(data[i + 2], 14);
    i += optLen;
  }
  return -1;
}
