import { RowSink } from '../aggregate/network-aggregator';
import { JsonRowBuffer } from './json-row-buffer';
import { NativeBlock } from './native-block';
import { RowBinaryBuffer } from './row-binary';
import { InsertFormat, Store } from './store';
import { tableByName, TableDef } from './tables';

export interface BatchWriterOptions {
  /** Rows per insert for one table. */
  batchRows?: number;
  /** Bytes of row text per insert for one table. */
  batchBytes?: number;
  /**
   * Bytes of RowBinary rows per insert for one table. Larger than text batches: an insert costs
   * ClickHouse a fixed 5-30 ms (a new part, materialized views) besides its rows.
   */
  binaryBatchBytes?: number;
  /** Bytes of rows held in memory at most (buffered plus in flight); beyond it the oldest batches are dropped. */
  maxBufferedBytes?: number;
  /** Above this many bytes queued or in flight the writer reports itself backlogged, for producers that can wait. */
  backlogBytes?: number;
  /** Inserts running at once. */
  concurrency?: number;
  /** First retry delay; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Called once per failure with the error, for the operator's log. */
  onError?: (error: Error, table: string, rows: number) => void;
  /**
   * Inserts wait for this (the store's migrations), so rows can be made while the store is set
   * up. If it fails, nothing is inserted: the caller reports the failure.
   */
  ready?: Promise<unknown>;
}

/** Rows of one table, as JSONEachRow text. */
class JsonBatch extends JsonRowBuffer {
  readonly format: InsertFormat = 'JSONEachRow';
  constructor(readonly table: TableDef) {
    super();
  }
}

/** Rows of one table, as RowBinary. */
class BinaryBatch extends RowBinaryBuffer {
  readonly format: InsertFormat = 'RowBinary';
}

/** Rows of one table, as a Native block. */
class NativeBatch extends NativeBlock {
  readonly format: InsertFormat = 'Native';
  bytes(): Buffer[] {
    return this.chunks();
  }
}

type Batch = JsonBatch | BinaryBatch | NativeBatch;

/** Room beyond a full RowBinary batch for the row that fills it. */
const BATCH_SLACK = 256 << 10;
/**
 * RowBinary buffers kept for reuse: one per table written in RowBinary, so an agent that flushes
 * every second allocates none in the steady state.
 */
const SPARE_BUFFERS = 3;

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
  /** The batch each table's rows are appended to now, per format. */
  private readonly open = new Map<string, JsonBatch>();
  private readonly openBinary = new Map<string, BinaryBatch>();
  private readonly openNative = new Map<string, NativeBatch>();
  /** Full batches waiting for the store; `inFlight` more are being inserted. */
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  /** Bytes of batches queued or in flight. */
  private queuedBytes = 0;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private abandoned = false;
  private idleWaiters: (() => void)[] = [];
  /** Zeroed RowBinary buffers of inserted batches. */
  private readonly spare: Buffer[] = [];
  /** Native blocks of inserted batches, emptied, per table (SPARE_BUFFERS at most in all). */
  private readonly spareNative = new Map<string, NativeBatch[]>();
  private spareNativeCount = 0;
  private drainWaiters: (() => void)[] = [];
  readonly stats: BatchWriterStats = { rowsWritten: 0, rowsDropped: 0, insertsFailed: 0, rowsBuffered: 0 };
  private readonly o: Required<Omit<BatchWriterOptions, 'onError' | 'ready'>> & Pick<BatchWriterOptions, 'onError'>;
  /** False until `ready` resolved. */
  private started: boolean;

  constructor(
    private readonly store: Store,
    options: BatchWriterOptions = {},
  ) {
    this.o = {
      batchRows: 100_000,
      batchBytes: 4 << 20,
      binaryBatchBytes: 16 << 20,
      maxBufferedBytes: 256 << 20,
      backlogBytes: 32 << 20,
      concurrency: 2,
      retryDelayMs: 200,
      maxRetryDelayMs: 10_000,
      ...options,
    };
    this.retryDelay = this.o.retryDelayMs;
    this.started = options.ready === undefined;
    options.ready?.then(
      () => {
        this.started = true;
        this.pump();
      },
      // No store to write to: what was buffered counts as dropped, and nobody waits on it.
      () => this.abandon(),
    );
  }

  /** The buffer the next row of the table goes to (a full batch is queued first). */
  rowBuffer(tableName: string): JsonRowBuffer {
    let batch = this.openBatch(this.open, tableName);
    if (!batch) {
      batch = new JsonBatch(tableByName(tableName));
      this.open.set(tableName, batch);
    }
    return batch;
  }

  /** The RowBinary buffer the next row of the table goes to (a full batch is queued first). */
  binaryRows(tableName: string): RowBinaryBuffer {
    let batch = this.openBatch(this.openBinary, tableName);
    if (!batch) {
      // A whole batch's room at once (a batch never grows and copies), reused once inserted.
      batch = new BinaryBatch(tableByName(tableName), this.spare.pop() ?? Buffer.alloc(this.o.binaryBatchBytes + BATCH_SLACK));
      this.openBinary.set(tableName, batch);
    }
    return batch;
  }

  /** The Native block the next row of the table goes to (a full batch is queued first). */
  nativeBlock(tableName: string): NativeBlock {
    let batch = this.openBatch(this.openNative, tableName);
    if (!batch) {
      batch = this.spareNative.get(tableName)?.pop();
      if (batch) this.spareNativeCount--;
      // Room for a whole batch of fixed-width values at once: a batch's columns never grow.
      batch ??= new NativeBatch(tableByName(tableName), this.o.binaryBatchBytes + BATCH_SLACK);
      this.openNative.set(tableName, batch);
    }
    return batch;
  }

  /** The table's open batch of one format, or none when there is none or it was full (then queued). */
  private openBatch<B extends Batch>(open: Map<string, B>, tableName: string): B | undefined {
    const batch = open.get(tableName);
    if (!batch || !this.full(batch)) return batch;
    open.delete(tableName);
    this.close(batch);
    return undefined;
  }

  /** Keeps the buffer of a batch the store is done with, zeroed, for the next batch. */
  private release(batch: Batch): void {
    if (batch instanceof NativeBatch) {
      if (this.spareNativeCount >= SPARE_BUFFERS) return;
      batch.reset();
      const spare = this.spareNative.get(batch.table.name) ?? [];
      spare.push(batch);
      this.spareNative.set(batch.table.name, spare);
      this.spareNativeCount++;
      return;
    }
    if (!(batch instanceof BinaryBatch) || batch.data.length < this.o.binaryBatchBytes + BATCH_SLACK || this.spare.length >= SPARE_BUFFERS) return;
    batch.reset();
    this.spare.push(batch.data);
  }

  private full(batch: Batch): boolean {
    return batch.rows >= this.o.batchRows || batch.size >= (batch.format === 'JSONEachRow' ? this.o.batchBytes : this.o.binaryBatchBytes);
  }

  /** Queues a full batch, dropping the oldest ones beyond the memory bound. */
  private close(batch: Batch): void {
    this.enqueue(batch);
    while (this.queuedBytes > this.o.maxBufferedBytes && this.queue.length > 0) this.drop(this.queue.shift() as Batch);
  }

  /** Bytes not stored yet: open batches, queued and in flight. */
  get bufferedBytes(): number {
    let n = this.queuedBytes;
    for (const b of this.open.values()) n += b.size;
    for (const b of this.openBinary.values()) n += b.size;
    for (const b of this.openNative.values()) n += b.size;
    return n;
  }

  /**
   * True while the store is behind: a producer that can wait (a replay) should. Batches still
   * being filled do not count: they are bounded by the batch size and nothing waits on them.
   */
  get backlogged(): boolean {
    return this.queuedBytes > this.o.backlogBytes || this.queue.length > this.o.concurrency * 4;
  }

  /** Sends every buffered row and resolves once all inserts finished (or were dropped). */
  async flush(): Promise<void> {
    // Largest first: with several inserts at once, the last to finish is then a small one.
    const batches: Batch[] = [...this.open.values(), ...this.openBinary.values(), ...this.openNative.values()];
    for (const batch of batches.sort((a, b) => b.size - a.size)) this.enqueue(batch);
    this.open.clear();
    this.openBinary.clear();
    this.openNative.clear();
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
    for (const b of this.openBinary.values()) this.stats.rowsDropped += b.rows;
    for (const b of this.openNative.values()) this.stats.rowsDropped += b.rows;
    this.open.clear();
    this.openBinary.clear();
    this.openNative.clear();
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
    this.release(batch);
  }

  private pump(): void {
    while (this.started && this.inFlight < this.o.concurrency && this.queue.length > 0 && !this.retryTimer) {
      const batch = this.queue.shift() as Batch;
      this.inFlight++;
      this.store.insert(batch.table, batch.bytes(), batch.rows, batch.format).then(
        () => {
          this.inFlight--;
          this.queuedBytes -= batch.size;
          this.stats.rowsWritten += batch.rows;
          this.retryDelay = this.o.retryDelayMs;
          this.release(batch);
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
