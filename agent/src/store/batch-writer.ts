import { RowSink } from '../aggregate/network-aggregator';
import { JsonRowBuffer } from './json-row-buffer';
import { Store } from './store';
import { tableByName, TableDef } from './tables';

export interface BatchWriterOptions {
  /** Rows per insert for one table. */
  batchRows?: number;
  /** Bytes of row text per insert for one table. */
  batchBytes?: number;
  /** Bytes of rows held in memory at most (buffered plus in flight); beyond it the oldest batches are dropped. */
  maxBufferedBytes?: number;
  /** Above this many buffered bytes the writer reports itself backlogged, for producers that can wait. */
  backlogBytes?: number;
  /** Inserts running at once. */
  concurrency?: number;
  /** First retry delay; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Called once per failure with the error, for the operator's log. */
  onError?: (error: Error, table: string, rows: number) => void;
}

/** Rows of one table, as JSONEachRow text. */
class Batch extends JsonRowBuffer {
  constructor(readonly table: TableDef) {
    super();
  }
}

export interface BatchWriterStats {
  rowsWritten: number;
  rowsDropped: number;
  insertsFailed: number;
  rowsBuffered: number;
}

/**
 * Buffers rows per table and inserts them in batches through the store's asynchronous API, so
 * the capture path never waits on the store. A failing store is retried with backoff; rows are
 * held up to a bound and what had to be dropped is counted.
 */
export class BatchWriter implements RowSink {
  /** The batch each table's rows are appended to now. */
  private readonly open = new Map<string, Batch>();
  /** Full batches waiting for the store; `inFlight` more are being inserted. */
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  /** Bytes of batches queued or in flight. */
  private queuedBytes = 0;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private abandoned = false;
  private idleWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  readonly stats: BatchWriterStats = { rowsWritten: 0, rowsDropped: 0, insertsFailed: 0, rowsBuffered: 0 };
  private readonly o: Required<Omit<BatchWriterOptions, 'onError'>> & Pick<BatchWriterOptions, 'onError'>;

  constructor(
    private readonly store: Store,
    options: BatchWriterOptions = {},
  ) {
    this.o = {
      batchRows: 100_000,
      batchBytes: 4 << 20,
      maxBufferedBytes: 256 << 20,
      backlogBytes: 32 << 20,
      concurrency: 2,
      retryDelayMs: 200,
      maxRetryDelayMs: 10_000,
      ...options,
    };
    this.retryDelay = this.o.retryDelayMs;
  }

  /** The buffer the next row of the table goes to (a full batch is queued first). */
  rowBuffer(tableName: string): JsonRowBuffer {
    let batch = this.open.get(tableName);
    if (batch && (batch.rows >= this.o.batchRows || batch.size >= this.o.batchBytes)) {
      this.open.delete(tableName);
      this.enqueue(batch);
      batch = undefined;
      while (this.queuedBytes > this.o.maxBufferedBytes && this.queue.length > 0) this.drop(this.queue.shift() as Batch);
    }
    if (!batch) {
      batch = new Batch(tableByName(tableName));
      this.open.set(tableName, batch);
    }
    return batch;
  }

  /** Bytes not stored yet: open batches, queued and in flight. */
  get bufferedBytes(): number {
    let n = this.queuedBytes;
    for (const b of this.open.values()) n += b.size;
    return n;
  }

  /** True while the store is behind: a producer that can wait (a replay) should. */
  get backlogged(): boolean {
    return this.bufferedBytes > this.o.backlogBytes || this.queue.length > this.o.concurrency * 4;
  }

  /** Sends every buffered row and resolves once all inserts finished (or were dropped). */
  async flush(): Promise<void> {
    for (const batch of this.open.values()) this.enqueue(batch);
    this.open.clear();
    await this.idle();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once the backlog is below the bound. */
  async drained(): Promise<void> {
    while (this.backlogged && (this.queue.length > 0 || this.inFlight > 0)) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }

  /** Stops retrying: what is still buffered, and what fails in flight, is counted as dropped. */
  abandon(): void {
    this.abandoned = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const b of this.queue.splice(0)) this.drop(b);
    for (const b of this.open.values()) this.stats.rowsDropped += b.rows;
    this.open.clear();
    if (this.inFlight === 0) this.wake('idleWaiters');
    this.wake('drainWaiters');
  }

  private enqueue(batch: Batch): void {
    if (batch.rows === 0) return;
    this.queuedBytes += batch.size;
    this.queue.push(batch);
    this.pump();
  }

  /** Gives up on a queued or failed batch: its rows count as dropped. */
  private drop(batch: Batch): void {
    this.queuedBytes -= batch.size;
    this.stats.rowsDropped += batch.rows;
  }

  private pump(): void {
    while (this.inFlight < this.o.concurrency && this.queue.length > 0 && !this.retryTimer) {
      const batch = this.queue.shift() as Batch;
      this.inFlight++;
      this.store.insert(batch.table, batch.bytes(), batch.rows).then(
        () => {
          this.inFlight--;
          this.queuedBytes -= batch.size;
          this.stats.rowsWritten += batch.rows;
          this.retryDelay = this.o.retryDelayMs;
          this.settled();
        },
        (error: unknown) => {
          this.inFlight--;
          this.stats.insertsFailed++;
          const err = error instanceof Error ? error : new Error(String(error));
          this.o.onError?.(err, batch.table.name, batch.rows);
          if (this.abandoned || isRejectedByEngine(err)) {
            // Refused by the engine (retrying cannot help) or given up: count and move on.
            this.drop(batch);
            this.settled();
            return;
          }
          // Put it back at the front and wait before trying again.
          this.queue.unshift(batch);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, this.retryDelay);
          this.retryDelay = Math.min(this.retryDelay * 2, this.o.maxRetryDelayMs);
        },
      );
    }
  }

  private settled(): void {
    this.stats.rowsBuffered = this.queue.reduce((n, b) => n + b.rows, 0);
    this.pump();
    const idle = this.queue.length === 0 && this.inFlight === 0;
    if (idle) this.wake('idleWaiters');
    if (idle || !this.backlogged) this.wake('drainWaiters');
  }

  private wake(which: 'idleWaiters' | 'drainWaiters'): void {
    const waiters = this[which];
    this[which] = [];
    for (const w of waiters) w();
  }
}

/**
 * ClickHouse exceptions carry `Code: N.`; an insert refused with one (bad data, unknown column)
 * fails the same way every time. Errors without one (connection refused, timeouts) are outages.
 */
export function isRejectedByEngine(error: Error): boolean {
  const code = /Code: (\d+)/.exec(error.message);
  if (!code) return false;
  // Timeouts, memory and overload errors are transient even though the server answered.
  return ![159, 160, 202, 209, 210, 241, 242, 252, 285, 319, 394, 425, 999].includes(Number(code[1]));
}
