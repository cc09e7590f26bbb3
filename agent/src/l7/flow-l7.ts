import { Direction, L7Parser, L7ProtocolModule, L7ProtocolName, L7Record, ParserOptions } from './l7-parser';
import { ProtocolInference } from './protocol-inference';
import { TcpReassembler } from './stream/tcp-reassembler';

/**
 * The application layer of one flow: in-order payload per direction (TCP reassembly; UDP and
 * eBPF data arrive in order already), protocol inference on the first payloads, then one parser
 * for the rest of the flow. Records come out through `take()`.
 */
export class FlowL7 {
  private parser: L7Parser | undefined;
  private module: L7ProtocolModule | undefined;
  private attempts = 0;
  private readonly votes = new Map<L7ProtocolName, number>();
  private off = false;
  private confirmed = false;
  private readonly streams: [TcpReassembler, TcpReassembler] | undefined;
  private records: L7Record[] = [];

  constructor(
    private readonly inference: ProtocolInference,
    /** Identity of the server endpoint (ip:port), for the per-server protocol cache. */
    private readonly serverKey: string,
    private readonly serverPort: number,
    tcp: boolean,
    private readonly options: ParserOptions = {},
  ) {
    this.streams = tcp
      ? [
          new TcpReassembler({ data: (b, ts) => this.payload(0, b, ts), gap: (n) => this.parser?.gap(0, n) }),
          new TcpReassembler({ data: (b, ts) => this.payload(1, b, ts), gap: (n) => this.parser?.gap(1, n) }),
        ]
      : undefined;
  }

  get protocol(): L7ProtocolModule | undefined {
    return this.module;
  }

  /** False once inference gave up: the caller may drop this object. */
  get active(): boolean {
    return !this.off;
  }

  /** A SYN or SYN-ACK of this direction (its sequence number starts the stream). */
  syn(direction: Direction, seq: number): void {
    this.streams?.[direction].syn(seq);
  }

  /** A TCP segment's payload. */
  tcpSegment(direction: Direction, seq: number, data: Buffer, tsUs: number): void {
    if (this.off || !this.streams || data.length === 0) return;
    const other = this.streams[1 - direction];
    // The other side speaking while this side has a hole: the hole will not fill in time.
    if (other.hasHole) other.skipHole();
    this.streams[direction].segment(seq, data, tsUs);
  }

  /** A datagram, or a syscall buffer from eBPF (already in order). */
  message(direction: Direction, data: Buffer, tsUs: number): void {
    if (!this.off && data.length > 0) this.payload(direction, data, tsUs);
  }

  /** The flow ended at `nowUs`: holes are given up and pending requests time out. */
  close(nowUs: number): void {
    this.streams?.[0].skipHole();
    this.streams?.[1].skipHole();
    this.parser?.close(nowUs);
    this.collect();
  }

  expire(nowUs: number, timeoutUs: number): void {
    this.parser?.expire(nowUs, timeoutUs);
    this.collect();
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = [];
    return out;
  }

  private payload(direction: Direction, data: Buffer, tsUs: number): void {
    if (this.off) return;
    if (!this.parser) {
      const found = this.inference.examine(this.attempts++, direction, data, this.serverPort, this.serverKey, this.votes);
      if (found === null) {
        this.off = true;
        return;
      }
      if (!found) return;
      this.module = found;
      this.parser = found.create(this.options);
    }
    // The capture source reuses its buffers: the parser gets bytes it may keep.
    this.parser.feed(direction, Buffer.from(data), tsUs);
    this.collect();
  }

  private collect(): void {
    if (!this.parser) return;
    const got = this.parser.take();
    if (got.length === 0) return;
    if (!this.confirmed && this.module && got.some((r) => r.countsAsRequest && r.responseTimeUs !== undefined && r.status !== 'parse_failed')) {
      this.confirmed = true;
      this.inference.confirm(this.serverKey, this.module.name);
    }
    for (const r of got) this.records.push(r);
  }
}
