import type { FlowContext } from './l7-output';
import { Direction, L7Parser, L7ProtocolModule, L7ProtocolName, L7Record, NO_RECORDS, ParserOptions } from './l7-parser';
import { ProtocolInference } from './protocol-inference';
import { StreamOutput, TcpReassembler } from './stream/tcp-reassembler';

/** Speculative parsers at most per flow while its protocol is undecided. */
const MAX_CANDIDATES = 4;
/** Payload kept while the protocol is undecided, replayed to a parser chosen or tried later. */
const MAX_HISTORY_BYTES = 16 * 1024;

interface Candidate {
  module: L7ProtocolModule;
  parser: L7Parser;
  records: L7Record[];
}

/** A request paired with its response: what makes a speculative parse believable. */
function isAnswered(records: L7Record[]): boolean {
  return records.some((r) => r.countsAsRequest && r.requestTimeUs !== undefined && r.responseTimeUs !== undefined && r.status !== 'parse_failed' && r.status !== 'unknown');
}

/**
 * The application layer of one flow: in-order payload per direction (TCP reassembly; UDP and
 * eBPF data arrive in order already), protocol inference on the first payloads, then one parser
 * for the rest of the flow. Records come out through `take()`.
 */
export class FlowL7 implements StreamOutput {
  private parser: L7Parser | undefined;
  private module: L7ProtocolModule | undefined;
  private attempts = 0;
  /** Parsers running on speculation while the protocol is undecided (made on the first). */
  private candidates: Map<L7ProtocolName, Candidate> | undefined;
  private off = false;
  private confirmed = false;
  /**
   * TCP reassembly per direction. Two fields rather than a pair: every segment reaches its
   * stream, and with thousands of flows open each object on the way is a likely cache miss.
   */
  private readonly stream0: TcpReassembler | undefined;
  private readonly stream1: TcpReassembler | undefined;
  /**
   * Per direction (bit 0: direction 0), what the streams told: segments waiting behind a hole,
   * and the direction finished. Kept here so a segment reaches only its own direction's stream.
   */
  private waitingMask = 0;
  private finishedMask = 0;
  private records: L7Record[] = NO_RECORDS;
  /**
   * The payloads seen while undecided: a module may recognise the flow only from a later message
   * (a mid-stream request the detector could not place, answered by a telling response), and
   * its parser should still see the request. Made on the first payload; `historyOff` once the
   * protocol is chosen or the history grew too large.
   */
  private history: { direction: Direction; bytes: Buffer; tsUs: number }[] | undefined;
  private historyOff = false;
  private historyBytes = 0;
  /**
   * Where the flow's records were seen, kept by the caller for the flow's life: the output caches
   * encoded tag bytes and RED rows on the context, lost if a context were made per packet.
   */
  context: FlowContext | undefined;

  constructor(
    private readonly inference: ProtocolInference,
    /** Identity of the server endpoint (ip:port), for the per-server protocol cache. */
    private readonly serverKey: string,
    private readonly serverPort: number,
    tcp: boolean,
    private readonly options: ParserOptions = {},
  ) {
    this.stream0 = tcp ? new TcpReassembler(this, 0) : undefined;
    this.stream1 = tcp ? new TcpReassembler(this, 1) : undefined;
  }

  streamData(direction: Direction, bytes: Buffer, tsUs: number): void {
    this.payload(direction, bytes, tsUs);
  }

  streamGap(direction: Direction, bytes: number): void {
    this.parser?.gap(direction, bytes);
  }

  streamEnd(direction: Direction, tsUs: number): void {
    this.finishedMask |= 1 << direction;
    this.end(direction, tsUs);
  }

  streamWaiting(direction: Direction, waiting: boolean): void {
    if (waiting) this.waitingMask |= 1 << direction;
    else this.waitingMask &= ~(1 << direction);
  }

  get protocol(): L7ProtocolModule | undefined {
    return this.module;
  }

  /** False once inference gave up: the caller may drop this object. */
  get active(): boolean {
    return !this.off;
  }

  /** TCP only: both directions delivered every byte up to their FIN, so no payload can follow. */
  get bothFinished(): boolean {
    return this.finishedMask === 3;
  }

  private streamOf(direction: Direction): TcpReassembler | undefined {
    return direction === 0 ? this.stream0 : this.stream1;
  }

  /** A SYN or SYN-ACK of this direction (its sequence number starts the stream). */
  syn(direction: Direction, seq: number): void {
    this.streamOf(direction)?.syn(seq);
  }

  /** A TCP segment's payload. */
  tcpSegment(direction: Direction, seq: number, data: Buffer, tsUs: number): void {
    const stream = this.streamOf(direction);
    if (this.off || stream === undefined || data.length === 0) return;
    // The other side speaking while this side has a hole: the hole will not fill in time.
    if (this.waitingMask & (1 << (1 - direction))) this.streamOf((1 - direction) as Direction)?.skipHole();
    stream.segment(seq, data, tsUs);
  }

  /**
   * Bytes of this direction that were sent but not captured (eBPF copies only the first bytes of
   * a syscall's buffer): the parser skips them as a gap, staying in step inside a known length.
   */
  messageGap(direction: Direction, bytes: number): void {
    if (!this.off && bytes > 0) this.parser?.gap(direction, bytes);
  }

  /** A FIN of this direction; `seq` is its sequence number. */
  tcpFin(direction: Direction, seq: number, tsUs: number): void {
    if (!this.off) this.streamOf(direction)?.fin(seq, tsUs);
  }

  /** A datagram, or a syscall buffer from eBPF (already in order). */
  message(direction: Direction, data: Buffer, tsUs: number): void {
    if (!this.off && data.length > 0) this.payload(direction, data, tsUs);
  }

  /** The flow ended at `nowUs`: holes are given up and pending requests time out. */
  close(nowUs: number): void {
    this.stream0?.skipHole();
    this.stream1?.skipHole();
    if (!this.parser) this.decideAtClose(nowUs);
    this.parser?.close(nowUs);
    this.collect();
  }

  /**
   * A flow that ends while its protocol is undecided: a candidate may hold a request whose
   * response began but never finished in the capture (a long gRPC stream); closing them shows it.
   */
  private decideAtClose(nowUs: number): void {
    if (this.candidates === undefined) return;
    for (const c of this.candidates.values()) {
      c.parser.close(nowUs);
      if (this.adoptIfAnswered(c)) return;
    }
    this.candidates = undefined;
  }

  expire(nowUs: number, timeoutUs: number): void {
    this.parser?.expire(nowUs, timeoutUs);
    this.collect();
  }

  private end(direction: Direction, tsUs: number): void {
    if (this.off || !this.parser?.end) return;
    this.parser.end(direction, tsUs);
    this.collect();
  }

  take(): L7Record[] {
    const out = this.records;
    this.records = NO_RECORDS;
    return out;
  }

  private payload(direction: Direction, data: Buffer, tsUs: number): void {
    if (this.off) return;
    const parser = this.parser;
    // The capture source reuses its buffers: parsers and the history get bytes they may keep.
    if (!parser) {
      this.infer(direction, Buffer.from(data), tsUs);
      return;
    }
    parser.feed(direction, parser.copiesInput === true ? data : Buffer.from(data), tsUs);
    this.collect();
  }

  /**
   * Inference: a server known from earlier flows, or a module sure of the payload, decides at
   * once. Otherwise every module that finds the payload plausible parses it on speculation, and
   * the first whose parse pairs a request with its response (without parse errors) wins: the
   * way to recognise a connection caught mid-stream, where no opening message is seen.
   */
  private infer(direction: Direction, bytes: Buffer, tsUs: number): void {
    const known = this.inference.known(this.serverKey);
    const { sure, maybe } = known ? { sure: known, maybe: [] } : this.inference.plausible(direction, bytes, this.serverPort);
    if (sure) {
      const parser = sure.create(this.options);
      this.replayHistory(parser);
      this.choose(sure, parser);
      parser.feed(direction, bytes, tsUs);
      this.collect();
      return;
    }
    for (const m of maybe) {
      const candidates = (this.candidates ??= new Map());
      if (candidates.has(m.name) || candidates.size >= MAX_CANDIDATES) continue;
      const parser = m.create(this.options);
      const records: L7Record[] = [];
      this.replayHistory(parser);
      for (const r of parser.take()) records.push(r);
      candidates.set(m.name, { module: m, parser, records });
    }
    if (!this.historyOff) {
      (this.history ??= []).push({ direction, bytes, tsUs });
      this.historyBytes += bytes.length;
      if (this.historyBytes > MAX_HISTORY_BYTES) this.dropHistory();
    }
    if (this.candidates !== undefined) {
      for (const c of this.candidates.values()) {
        c.parser.feed(direction, bytes, tsUs);
        if (this.adoptIfAnswered(c)) return;
      }
    }
    if (++this.attempts >= this.inference.maxAttemptsPerFlow) {
      this.inference.noteGaveUp();
      this.off = true;
      this.dropHistory();
      this.candidates = undefined;
    }
  }

  /** Takes a candidate's new records; one that paired a request cleanly becomes the flow's parser. */
  private adoptIfAnswered(c: Candidate): boolean {
    for (const r of c.parser.take()) c.records.push(r);
    if (!isAnswered(c.records) || c.parser.stats.parseErrors !== 0) return false;
    this.choose(c.module, c.parser);
    this.append(c.records);
    this.confirm();
    return true;
  }

  private dropHistory(): void {
    this.history = undefined;
    this.historyOff = true;
  }

  /** Adds records to those not yet taken (`records` is the shared empty list while none wait). */
  private append(got: L7Record[]): void {
    if (got.length === 0) return;
    if (this.records.length === 0) this.records = got;
    else for (const r of got) this.records.push(r);
  }

  private replayHistory(parser: L7Parser): void {
    for (const h of this.history ?? []) parser.feed(h.direction, h.bytes, h.tsUs);
  }

  private choose(module: L7ProtocolModule, parser: L7Parser): void {
    this.module = module;
    this.parser = parser;
    this.candidates = undefined;
    this.dropHistory();
  }

  private confirm(): void {
    if (this.confirmed || !this.module) return;
    this.confirmed = true;
    this.inference.confirm(this.serverKey, this.module.name);
  }

  private collect(): void {
    if (!this.parser) return;
    const got = this.parser.take();
    if (got.length === 0) return;
    if (!this.confirmed && isAnswered(got)) this.confirm();
    this.append(got);
  }
}
