/**
 * IPv4 fragment reassembly with bounded memory: a datagram is rebuilt once every byte from 0 to
 * the last fragment's end has arrived; incomplete ones expire after `timeoutUs` of capture time or
 * are evicted (oldest first) when `maxDatagrams` are pending.
 */
export interface ReassembledDatagram {
  /** The transport header and payload of the whole datagram. */
  l4: Buffer;
  /** Sum of the fragments' frame lengths on the wire. */
  frameBytes: number;
}

interface Pending {
  firstUs: number;
  pieces: { offset: number; data: Buffer }[];
  /** Length of the whole transport datagram, known once the last fragment (MF=0) arrived. */
  totalLen: number;
  frameBytes: number;
}

export class Ipv4Reassembler {
  private readonly pending = new Map<string, Pending>();
  expired = 0;
  evicted = 0;

  constructor(
    private readonly maxDatagrams = 1024,
    private readonly timeoutUs = 30_000_000,
  ) {}

  /** Returns the whole datagram when this fragment completes it, else null (fragment kept). */
  add(
    key: string,
    offset: number,
    moreFragments: boolean,
    data: Buffer,
    frameLen: number,
    tsUs: number,
  ): ReassembledDatagram | null {
    let p = this.pending.get(key);
    if (!p) {
      this.expire(tsUs);
      if (this.pending.size >= this.maxDatagrams) {
        const oldest = this.pending.keys().next().value as string;
        this.pending.delete(oldest);
        this.evicted++;
      }
      p = { firstUs: tsUs, pieces: [], totalLen: -1, frameBytes: 0 };
      this.pending.set(key, p);
    }
    // Copy: the frame buffer is reused by the capture source after this call.
    p.pieces.push({ offset, data: Buffer.from(data) });
    p.frameBytes += frameLen;
    if (!moreFragments) p.totalLen = offset + data.length;
    if (p.totalLen < 0) return null;
    p.pieces.sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const piece of p.pieces) {
      if (piece.offset > covered) return null;
      covered = Math.max(covered, piece.offset + piece.data.length);
    }
    if (covered < p.totalLen) return null;
    const l4 = Buffer.alloc(p.totalLen);
    for (const piece of p.pieces) piece.data.copy(l4, piece.offset, 0, Math.min(piece.data.length, p.totalLen - piece.offset));
    this.pending.delete(key);
    return { l4, frameBytes: p.frameBytes };
  }

  private expire(nowUs: number): void {
    // Map iteration order is insertion order, so the oldest datagrams come first.
    for (const [key, p] of this.pending) {
      if (nowUs - p.firstUs <= this.timeoutUs) break;
      this.pending.delete(key);
      this.expired++;
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}
