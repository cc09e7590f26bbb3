/**
 * The L3/L4 view of one frame, filled in place by the decoder.
 *
 * One instance is reused for every packet (no allocation per packet); the payload refers to the
 * frame's bytes and is only valid until the next packet is decoded.
 */
export class DecodedPacket {
  tsUs = 0;
  /** Frame length on the wire (pcap orig_len). */
  frameLen = 0;
  /** Innermost VLAN id, or -1 without a tag. */
  vlanId = -1;
  ipVersion: 0 | 4 | 6 = 0;
  /** IPv4 addresses as unsigned 32-bit numbers (valid when ipVersion is 4). */
  srcIp4 = 0;
  dstIp4 = 0;
  /** Both versions as 4 big-endian words, IPv4 in the last word (the flow table's form). */
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  /** IP protocol number of the transport header (6 TCP, 17 UDP). */
  ipProto = 0;
  /** IP packet length from the IP header (header + payload), independent of the snaplen. */
  l3Len = 0;
  /** Transport payload length from the headers, independent of the snaplen. */
  l4PayloadLen = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP fields (valid when ipProto is 6). */
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  window = 0;
  /** Window scale option of a SYN / SYN-ACK, or -1 when absent. */
  windowScale = -1;
  /**
   * Transport payload bytes present in the capture (may be shorter than l4PayloadLen):
   * `payloadData[payloadStart, payloadEnd)`, or as a view made on demand, `payload`.
   */
  payloadData: Buffer = EMPTY;
  payloadStart = 0;
  payloadEnd = 0;
  /**
   * Where the packet was captured (live: the interface index; replay: 0). The same connection
   * seen at two points is two flows, one per observation point, never merged.
   */
  tapPort = 0;
  /** Live capture: the host sent the packet out of the interface (AF_PACKET's PACKET_OUTGOING). */
  outgoing = false;

  get payloadLength(): number {
    return this.payloadEnd - this.payloadStart;
  }

  get payload(): Buffer {
    return this.payloadData.subarray(this.payloadStart, this.payloadEnd);
  }

  /** IPv6 addresses, 16 bytes each (valid when ipVersion is 6). */
  get srcIp6(): Buffer {
    return wordsToBytes(this.srcAddr);
  }

  get dstIp6(): Buffer {
    return wordsToBytes(this.dstAddr);
  }
}

function wordsToBytes(words: Uint32Array): Buffer {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(words[i], i * 4);
  return b;
}

const EMPTY = Buffer.alloc(0);

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const IpProto = { TCP: 6, UDP: 17 } as const;
