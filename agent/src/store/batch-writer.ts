import { RowSink } from '../aggregate/network-aggregator';
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

/** Rows of one table encoded straight into a buffer as JSONEachRow text. */
class Batch {
  data = Buffer.allocUnsafe(1 << 20);
  size = 0;
  rows = 0;
  constructor(readonly table: TableDef) {}

  append(line: string): void {
    // Worst case 3 bytes per UTF-16 unit, plus the newline.
    const room = line.length * 3 + 1;
    if (this.size + room > this.data.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.size + room));
      this.data.copy(bigger, 0, 0, this.size);
      this.data = bigger;
    }
    this.size += this.data.write(line, this.size);
    this.data[this.size++] = 10;
    this.rows++;
  }

  bytes(): Buffer {
    return this.data.subarray(0, this.size);
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
  private readonly open = new Map<string, Batch>();
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  /** Rows and bytes not yet stored (open, queued or in flight). */
  private buffered = 0;
  private bufferedBytes = 0;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
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

  write(tableName: string, jsonLine: string): void {
    let batch = this.open.get(tableName);
    if (!batch) {
      batch = new Batch(tableByName(tableName));
      this.open.set(tableName, batch);
    }
    const before = batch.size;
    batch.append(jsonLine);
    this.buffered++;
    this.bufferedBytes += batch.size - before;
    if (batch.rows >= this.o.batchRows || batch.size >= this.o.batchBytes) {
      this.open.delete(tableName);
      this.enqueue(batch);
    }
    if (this.bufferedBytes > this.o.maxBufferedBytes) this.dropOldest();
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

  private enqueue(batch: Batch): void {
    if (batch.rows === 0) return;
    this.queue.push(batch);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.o.concurrency && this.queue.length > 0 && !this.retryTimer) {
      const batch = this.queue.shift() as Batch;
      this.inFlight++;
      this.store.insert(batch.table, batch.bytes(), batch.rows).then(
        () => {
          this.inFlight--;
          this.release(batch);
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
            // The engine answered and refused these rows: retrying cannot help, so count and move on.
            this.release(batch);
            this.stats.rowsDropped += batch.rows;
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

  private release(batch: Batch): void {
    this.buffered -= batch.rows;
    this.bufferedBytes -= batch.size;
  }

  private settled(): void {
    this.stats.rowsBuffered = this.buffered;
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

  private dropOldest(): void {
    const victim = this.queue.length > 0 ? this.queue.shift() : undefined;
    if (victim) {
      this.release(victim);
      this.stats.rowsDropped += victim.rows;
      return;
    }
    // Nothing queued (all in flight or still open): drop the largest open batch.
    let largest: string | undefined;
    for (const [name, b] of this.open) if (!largest || b.rows > (this.open.get(largest)?.rows ?? 0)) largest = name;
    if (largest) {
      const b = this.open.get(largest) as Batch;
      this.open.delete(largest);
      this.release(b);
      this.stats.rowsDropped += b.rows;
    }
  }

  private abandoned = false;

  /** Stops retrying: what is still buffered, and what fails in flight, is counted as dropped. */
  abandon(): void {
    this.abandoned = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const b of [...this.queue, ...this.open.values()]) {
      this.stats.rowsDropped += b.rows;
      this.release(b);
    }
    this.queue.length = 0;
    this.open.clear();
    if (this.inFlight === 0) this.wake('idleWaiters');
    this.wake('drainWaiters');
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
