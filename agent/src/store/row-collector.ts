import { RowSink } from '../aggregate/network-aggregator';
import { JsonRowBuffer } from './json-row-buffer';

/** A sink that keeps rows in memory per table: for tests, tools and benchmarks without a store. */
export class RowCollector implements RowSink {
  readonly tables = new Map<string, JsonRowBuffer>();

  rowBuffer(tableName: string): JsonRowBuffer {
    let b = this.tables.get(tableName);
    if (!b) {
      b = new JsonRowBuffer(64 * 1024);
      this.tables.set(tableName, b);
    }
    return b;
  }

  rows<T = Record<string, unknown>>(tableName: string): T[] {
    return this.tables.get(tableName)?.parse<T>() ?? [];
  }

  get rowCount(): number {
    let n = 0;
    for (const b of this.tables.values()) n += b.rows;
    return n;
  }

  /** Forgets the rows kept so far (a benchmark's sink that only counts). */
  reset(): void {
    this.tables.clear();
  }
}
