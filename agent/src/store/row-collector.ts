import { RowSink } from '../aggregate/network-aggregator';
import { JsonRowBuffer } from './json-row-buffer';
import { NativeBlock } from './native-block';
import { RowBinaryBuffer } from './row-binary';
import { tableByName } from './tables';

/** The table's buffer in `buffers`, made by `make` the first time it is asked for. */
function bufferFor<B>(buffers: Map<string, B>, tableName: string, make: (tableName: string) => B): B {
  let b = buffers.get(tableName);
  if (!b) {
    b = make(tableName);
    buffers.set(tableName, b);
  }
  return b;
}

const newJsonRows = (): JsonRowBuffer => new JsonRowBuffer(64 * 1024);
const newBinaryRows = (tableName: string): RowBinaryBuffer => new RowBinaryBuffer(tableByName(tableName), 64 * 1024);
const newNativeBlock = (tableName: string): NativeBlock => new NativeBlock(tableByName(tableName), 64 * 1024);

/** A sink that keeps rows in memory per table: for tests, tools and benchmarks without a store. */
export class RowCollector implements RowSink {
  /** JSONEachRow rows per table. */
  readonly tables = new Map<string, JsonRowBuffer>();
  /** RowBinary rows per table (the tables written per flow and per second). */
  readonly binaryTables = new Map<string, RowBinaryBuffer>();
  /** Native blocks per table (the L4 tables). */
  readonly nativeTables = new Map<string, NativeBlock>();

  rowBuffer(tableName: string): JsonRowBuffer {
    return bufferFor(this.tables, tableName, newJsonRows);
  }

  binaryRows(tableName: string): RowBinaryBuffer {
    return bufferFor(this.binaryTables, tableName, newBinaryRows);
  }

  nativeBlock(tableName: string): NativeBlock {
    return bufferFor(this.nativeTables, tableName, newNativeBlock);
  }

  /** Every table with rows of any encoding. */
  tableNames(): string[] {
    return [...new Set([...this.tables.keys(), ...this.binaryTables.keys(), ...this.nativeTables.keys()])];
  }

  /** The rows of a table as objects, whichever encoding they were written in. */
  rows<T = Record<string, unknown>>(tableName: string): T[] {
    return [
      ...(this.tables.get(tableName)?.parse<T>() ?? []),
      ...(this.binaryTables.get(tableName)?.parse<T>() ?? []),
      ...(this.nativeTables.get(tableName)?.parse<T>() ?? []),
    ];
  }

  get rowCount(): number {
    let n = 0;
    for (const b of this.tables.values()) n += b.rows;
    for (const b of this.binaryTables.values()) n += b.rows;
    for (const b of this.nativeTables.values()) n += b.rows;
    return n;
  }

  /** Forgets the rows kept so far, keeping the buffers (a benchmark's sink that only counts). */
  reset(): void {
    for (const b of this.tables.values()) {
      b.size = 0;
      b.rows = 0;
    }
    for (const b of this.binaryTables.values()) b.reset();
    for (const b of this.nativeTables.values()) b.reset();
  }
}
