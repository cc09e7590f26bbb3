/**
 * One frame as a capture source hands it to the decoder.
 *
 * Sources reuse one instance and one buffer per packet to keep the hot path free of
 * allocations: a consumer that keeps anything past its callback must copy it.
 */
export interface CapturedPacket {
  /** Capture time in microseconds since the Unix epoch (sub-µs digits of ns captures are dropped). */
  tsUs: number;
  /** LINKTYPE_* value of the interface the frame came from (pcap/pcapng numbering). */
  linkType: number;
  /** pcapng interface index; 0 for classic pcap and live sources with one interface. */
  interfaceId: number;
  /** Bytes present in `data` (may be less than `origLen` when the snaplen cut the frame). */
  capLen: number;
  /** Length of the frame on the wire. */
  origLen: number;
  /** The frame bytes; only valid during the callback that received it. */
  data: Buffer;
  /**
   * Optionally the frame in place: `buffer[offset, offset + capLen)`. The file reader sets it so
   * the decoder reads the chunk directly and `data` (a view made per packet) is only made for
   * a consumer that asks for it.
   */
  buffer?: Buffer;
  offset?: number;
}

export type PacketHandler = (packet: CapturedPacket) => void;

/** Well-known LINKTYPE_* values (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;
