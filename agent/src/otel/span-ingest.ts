/**
 * Decoded spans into the store: each span becomes a request record (span-record.ts) written by an
 * `L7Output`, the writer the capture paths use, so spans land in `l7_flow_log` and count in
 * `application_map_1s` (and the tables ClickHouse derives from it) exactly as parsed requests do.
 *
 * The output sums RED counters per second; spans are written in end-time order and each second
 * is opened before its spans, so a span counts in the second it ended (the second of its log
 * row), not the second it arrived. Rows go to the store once a second, not per export request:
 * SDKs export every few seconds each, and an insert per request would make many tiny parts.
 */
import { RowSink } from '../aggregate/network-aggregator';
import { L7Output } from '../l7/l7-output';
import { DecodedTraces, rejectedCount, rejectionSummary } from './otlp-decode';
import { spanTimesUs, SpanRequest, spanToRequest } from './span-record';

/** The store side: the batch writer, or a test's collector with the same two members. */
export interface SpanWriter extends RowSink {
  flush(): Promise<void>;
  readonly backlogged: boolean;
}

export interface SpanIngestOptions {
  /** The `host` tag of the rows: this agent's host, as for captured data. */
  host: string;
  /** How long written rows wait before they are sent to the store (default 1 s). */
  flushIntervalMs?: number;
  /** The clock deciding which span times are accepted (ms since the epoch). */
  now?: () => number;
  maxEndpointsPerService?: number;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
  /** Why spans were rejected ('' when none were): the response's `partial_success.error_message`. */
  message: string;
}

/**
 * Span times accepted, relative to the agent's clock. A client's timestamps pick the partitions an
 * insert writes (hourly for the 1 s tables), and ClickHouse refuses an insert spanning more than
 * 100 of them, as a retryable error: one span from 1970 or 2100 could wedge the writer. Three days
 * back is the request log's retention; an hour ahead allows for clocks of other machines.
 */
const MAX_AGE_US = 3 * 24 * 3600 * 1e6;
const MAX_AHEAD_US = 3600 * 1e6;

export class SpanIngest {
  readonly stats = { accepted: 0, rejected: 0 };
  private readonly out: L7Output;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly writer: SpanWriter,
    private readonly options: SpanIngestOptions,
  ) {
    this.out = new L7Output(writer, options.host, options.maxEndpointsPerService);
  }

  /** True while the store is behind: the receiver asks senders to retry later. */
  get backlogged(): boolean {
    return this.writer.backlogged;
  }

  ingest(traces: DecodedTraces): IngestResult {
    const rejected = new Map(traces.rejected);
    const requests = this.requests(traces, rejected);
    requests.sort((x, y) => (x.record.responseTimeUs as number) - (y.record.responseTimeUs as number));
    for (const { ctx, record } of requests) {
      this.out.beginSecond(Math.floor((record.responseTimeUs as number) / 1e6));
      this.out.record(ctx, record);
    }
    this.out.flush();
    if (requests.length > 0) this.scheduleFlush();
    const result = { accepted: requests.length, rejected: rejectedCount(rejected), message: rejectionSummary(rejected) };
    this.stats.accepted += result.accepted;
    this.stats.rejected += result.rejected;
    return result;
  }

  /** Sends every written row to the store and waits for it. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writer.flush();
  }

  private requests(traces: DecodedTraces, rejected: Map<string, number>): SpanRequest[] {
    const nowUs = (this.options.now ?? Date.now)() * 1000;
    const out: SpanRequest[] = [];
    const reject = (reason: string): void => void rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    for (const group of traces.groups) {
      for (const span of group.spans) {
        const { startUs, endUs } = spanTimesUs(span);
        if (endUs > nowUs + MAX_AHEAD_US || startUs < nowUs - MAX_AGE_US) {
          reject('time more than 3 days old or 1 hour ahead');
          continue;
        }
        try {
          out.push(spanToRequest(span, group.resource, group.scope));
        } catch {
          // A mapping bug must cost one span, not the request or the process.
          reject('unreadable span');
        }
      }
    }
    return out;
  }

  private scheduleFlush(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writer.flush();
    }, this.options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }
}
