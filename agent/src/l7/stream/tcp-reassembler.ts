/**
 * Puts one direction of a TCP connection back in sequence order for the protocol parsers:
 * retransmitted bytes are delivered once, segments that arrive early wait (bounded) for the
 * bytes before them, and a hole that does not fill in time is declared a gap so the parser can
 * resynchronise at its next message boundary instead of stalling the flow.
 */
export interface StreamOutput {
  data(bytes: Buffer, tsUs: number): void;
  gap(bytes: number): void;
  /** The sender closed this direction (its FIN), after every byte before the FIN was delivered. */
  end?(tsUs: number): void;
}

interface Pending {
  seq: number;
  data: Buffer;
  tsUs: number;
}

export interface ReassemblerStats {
  bytesDelivered: number;
  bytesRetransmitted: number;
  gaps: number;
  bytesLost: number;
}

export class TcpReassembler {
  /** Next sequence number expected; valid once `started`. */
  private next = 0;
  private started = false;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  /** Sequence number and time of this direction's FIN, until the bytes before it are delivered. */
  private finSeq = -1;
  private finTs = 0;
  private ended = false;
  readonly stats: ReassemblerStats = { bytesDelivered: 0, bytesRetransmitted: 0, gaps: 0, bytesLost: 0 };

  constructor(
    private readonly out: StreamOutput,
    private readonly maxPendingBytes = 256 * 1024,
    private readonly maxPendingSegments = 64,
  ) {}

  /** True once every byte before this direction's FIN was delivered: nothing can follow. */
  get finished(): boolean {
    return this.ended;
  }

  /** The SYN's sequence number: data starts one after it. */
  syn(seq: number): void {
    if (this.started) return;
    this.next = (seq + 1) >>> 0;
    this.started = true;
  }

  /** A segment's payload (the data may be copied by the caller before; it is kept if early). */
  segment(seq: number, data: Buffer, tsUs: number): void {
    if (data.length === 0) return;
    if (!this.started) {
      // Mid-stream: the first data seen defines the start.
      this.next = seq >>> 0;
      this.started = true;
    }
    const offset = (this.next - seq) | 0;
    if (offset >= data.length) {
      this.stats.bytesRetransmitted += data.length;
      return;
    }
    if (offset >= 0) {
      if (offset > 0) this.stats.bytesRetransmitted += offset;
      this.deliver(offset > 0 ? data.subarray(offset) : data, tsUs);
      this.drainPending();
      this.checkEnd();
      return;
    }
    // Early: wait for the hole before it to fill.
    this.pending.push({ seq: seq >>> 0, data: Buffer.from(data), tsUs });
    this.pendingBytes += data.length;
    if (this.pendingBytes > this.maxPendingBytes || this.pending.length > this.maxPendingSegments) this.skipHole();
  }

  /** The FIN of this direction: `seq` is its sequence number (after the segment's payload). */
  fin(seq: number, tsUs: number): void {
    if (this.ended || this.finSeq >= 0) return;
    if (!this.started) {
      this.next = seq >>> 0;
      this.started = true;
    }
    this.finSeq = seq >>> 0;
    this.finTs = tsUs;
    this.checkEnd();
  }

  private checkEnd(): void {
    if (this.finSeq < 0 || this.ended || this.pending.length > 0 || ((this.finSeq - this.next) | 0) > 0) return;
    this.ended = true;
    this.out.end?.(this.finTs);
  }

  /** Gives up on the current hole (time passed, the other side answered, or the flow ends). */
  skipHole(): void {
    while (this.pending.length > 0) {
      this.pending.sort((a, b) => ((a.seq - this.next) | 0) - ((b.seq - this.next) | 0));
      const first = this.pending[0];
      const hole = (first.seq - this.next) | 0;
      if (hole > 0) {
        this.stats.gaps++;
        this.stats.bytesLost += hole;
        this.out.gap(hole);
        this.next = first.seq;
      }
      this.drainPending();
      if (this.pending.length === 0 || ((this.pending[0].seq - this.next) | 0) <= 0) continue;
      break;
    }
    this.checkEnd();
  }

  /** True while early segments wait for a hole to fill. */
  get hasHole(): boolean {
    return this.pending.length > 0;
  }

  private deliver(data: Buffer, tsUs: number): void {
    this.next = (this.next + data.length) >>> 0;
    this.stats.bytesDelivered += data.length;
    this.out.data(data, tsUs);
  }

  /** Delivers waiting segments that have become in order. */
  private drainPending(): void {
    let progress = true;
    while (progress && this.pending.length > 0) {
      progress = false;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        const offset = (this.next - p.seq) | 0;
        if (offset < 0) continue;
        this.pending.splice(i, 1);
        this.pendingBytes -= p.data.length;
        if (offset < p.data.length) {
          if (offset > 0) this.stats.bytesRetransmitted += offset;
          this.deliver(p.data.subarray(offset), p.tsUs);
        } else {
          this.stats.bytesRetransmitted += p.data.length;
        }
        progress = true;
        break;
      }
    }
  }
}
