/**
 * Puts one direction of a TCP connection back in sequence order for the protocol parsers:
 * retransmitted bytes are delivered once, segments that arrive early wait (bounded) for the
 * bytes before them, and a hole that does not fill in time is declared a gap so the parser can
 * resynchronise at its next message boundary instead of stalling the flow.
 */
/**
 * Where a direction's bytes go. The reassembler hands its direction with each call, so one
 * object (a flow's application layer) serves both directions without a closure per direction:
 * closures and their contexts were six more objects per flow to reach, on every segment.
 */
export interface StreamOutput {
  streamData(direction: 0 | 1, bytes: Buffer, tsUs: number): void;
  streamGap(direction: 0 | 1, bytes: number): void;
  /** The sender closed this direction (its FIN), after every byte before the FIN was delivered. */
  streamEnd(direction: 0 | 1, tsUs: number): void;
  /**
   * Early segments began (true) or stopped (false) waiting for a hole to fill: the owner can know
   * whether a direction has a hole without reaching its reassembler on every segment.
   */
  streamWaiting(direction: 0 | 1, waiting: boolean): void;
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

/**
 * One per direction of every TCP flow with application parsing, so its state is plain fields:
 * the counters are not an object of their own and the queue of early segments exists only while
 * segments wait. A segment in order touches this object and nothing else of it.
 */
export class TcpReassembler {
  /** Next sequence number expected; valid once `started`. */
  private next = 0;
  private started = false;
  /** Early segments waiting for a hole to fill; undefined while none wait. */
  private pending: Pending[] | undefined = undefined;
  private pendingBytes = 0;
  /** Sequence number and time of this direction's FIN, until the bytes before it are delivered. */
  private finSeq = -1;
  private finTs = 0;
  private ended = false;
  private bytesDelivered = 0;
  private bytesRetransmitted = 0;
  private gaps = 0;
  private bytesLost = 0;

  constructor(
    private readonly out: StreamOutput,
    private readonly direction: 0 | 1,
    private readonly maxPendingBytes = 256 * 1024,
    private readonly maxPendingSegments = 64,
  ) {}

  get stats(): ReassemblerStats {
    return { bytesDelivered: this.bytesDelivered, bytesRetransmitted: this.bytesRetransmitted, gaps: this.gaps, bytesLost: this.bytesLost };
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
      this.bytesRetransmitted += data.length;
      return;
    }
    if (offset >= 0) {
      if (offset > 0) this.bytesRetransmitted += offset;
      this.deliver(offset > 0 ? data.subarray(offset) : data, tsUs);
      if (this.pending !== undefined) this.drainPending(this.pending);
      if (this.finSeq >= 0) this.checkEnd();
      return;
    }
    // Early: wait for the hole before it to fill.
    let pending = this.pending;
    if (pending === undefined) {
      pending = this.pending = [];
      this.out.streamWaiting(this.direction, true);
    }
    pending.push({ seq: seq >>> 0, data: Buffer.from(data), tsUs });
    this.pendingBytes += data.length;
    if (this.pendingBytes > this.maxPendingBytes || pending.length > this.maxPendingSegments) this.skipHole();
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
    if (this.finSeq < 0 || this.ended || this.pending !== undefined || ((this.finSeq - this.next) | 0) > 0) return;
    this.ended = true;
    this.out.streamEnd(this.direction, this.finTs);
  }

  /** Gives up on the current hole (time passed, the other side answered, or the flow ends). */
  skipHole(): void {
    let pending = this.pending;
    while (pending !== undefined) {
      pending.sort((a, b) => ((a.seq - this.next) | 0) - ((b.seq - this.next) | 0));
      const first = pending[0];
      const hole = (first.seq - this.next) | 0;
      if (hole > 0) {
        this.gaps++;
        this.bytesLost += hole;
        this.out.streamGap(this.direction, hole);
        this.next = first.seq;
      }
      this.drainPending(pending);
      pending = this.pending;
      if (pending === undefined || ((pending[0].seq - this.next) | 0) <= 0) continue;
      break;
    }
    this.checkEnd();
  }

  /** True while early segments wait for a hole to fill. */
  get hasHole(): boolean {
    return this.pending !== undefined;
  }

  private deliver(data: Buffer, tsUs: number): void {
    this.next = (this.next + data.length) >>> 0;
    this.bytesDelivered += data.length;
    this.out.streamData(this.direction, data, tsUs);
  }

  /** Delivers waiting segments that have become in order; forgets the queue once it is empty. */
  private drainPending(pending: Pending[]): void {
    let progress = true;
    while (progress && pending.length > 0) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i];
        const offset = (this.next - p.seq) | 0;
        if (offset < 0) continue;
        pending.splice(i, 1);
        this.pendingBytes -= p.data.length;
        if (offset < p.data.length) {
          if (offset > 0) this.bytesRetransmitted += offset;
          this.deliver(p.data.subarray(offset), p.tsUs);
        } else {
          this.bytesRetransmitted += p.data.length;
        }
        progress = true;
        break;
      }
    }
    if (pending.length === 0 && this.pending === pending) {
      this.pending = undefined;
      this.out.streamWaiting(this.direction, false);
    }
  }
}
