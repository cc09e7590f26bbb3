import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Before chdb: sets up its allocator (see the module).
import './chdb-allocator';
import { Session } from 'chdb';
import { sqlString } from '../util/sql-string';
import { fileColumnType } from './native-block';
import { InsertFormat, Store } from './store';
import { TableDef } from './tables';

/**
 * Engine configuration of the embedded store. Parts stay in ClickHouse's compact format (one data
 * file per part) up to 128 MiB instead of 10 MiB: an insert batch of the agent (16 MiB of rows)
 * otherwise becomes a wide part of two or three files per column, and creating those ~200 files
 * measured as the largest cost of an insert (a replay of the benchmark capture: 1,815 files
 * instead of 193, 25-30% longer). Larger parts, from merges, become wide as usual. A MergeTree
 * setting of the engine, not of the tables, so a ClickHouse server keeps its own.
 */
const CHDB_CONFIG = `<clickhouse>
  <merge_tree>
    <min_bytes_for_wide_part>${128 << 20}</min_bytes_for_wide_part>
  </merge_tree>
</clickhouse>
`;

/** The embedded default: ClickHouse running in-process through chDB, persisting under `dir`. */
export class ChdbStore implements Store {
  private readonly session: Session;
  readonly description: string;
  /** Staging directory for insert batches (in memory when /dev/shm exists). */
  private readonly staging: string;
  /** Staging files no insert is using; there are as many as inserts ever ran at once. */
  private readonly idleFiles: StagingFile[] = [];
  private stagingFiles = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.staging = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'metaflow-chdb-'));
    const config = join(this.staging, 'chdb-config.xml');
    writeFileSync(config, CHDB_CONFIG);
    this.session = new Session(dir, { connectionArgs: [`--config-file=${config}`] });
    this.description = `chdb:${dir}`;
  }

  async exec(sql: string): Promise<void> {
    await this.session.queryAsync(sql, { format: 'Null' });
  }

  /** ClickHouse's multi-statement queries: one call, stopping at the first statement that fails. */
  async execAll(statements: readonly string[]): Promise<void> {
    await this.session.queryAsync(statements.join(';\n'), { format: 'Null' });
  }

  /**
   * Inserts through a staged file read with the `file()` table function: chDB's in-memory insert
   * path parses about 4× slower than its file reader (measured on 200,000-row batches), and
   * `INSERT … FROM INFILE` would read the process's standard input, which a replay of `-` owns.
   * The explicit structure makes omitted JSON members take their column defaults, and is the
   * column list RowBinary rows follow.
   *
   * LowCardinality columns are read as String and converted by the INSERT (see `fileColumnType`).
   * `optimize_on_insert = 0`: the minute tables behind materialized views are
   * AggregatingMergeTree, whose rows every query aggregates anyway; merging each inserted block
   * by its long key first doubled the cost of the minute insert that ends every replay.
   */
  async insert(table: TableDef, data: Buffer | readonly Buffer[], rows: number, format: InsertFormat = 'JSONEachRow'): Promise<void> {
    if (rows === 0) return;
    const columns = table.columns.map((c) => `\`${c.name}\``).join(', ');
    const structure = table.columns.map((c) => `\`${c.name}\` ${fileColumnType(c.type)}`).join(', ');
    const file = this.idleFiles.pop() ?? new StagingFile(join(this.staging, `batch-${this.stagingFiles++}`));
    try {
      await file.write(Buffer.isBuffer(data) ? [data] : (data as Buffer[]));
      await this.session.queryAsync(
        `INSERT INTO ${table.database}.${table.name} (${columns}) SELECT ${columns} FROM file(${sqlString(file.path)}, '${format}', ${sqlString(structure)}) ` +
          'SETTINGS input_format_parallel_parsing = 0, optimize_on_insert = 0',
        { format: 'Null' },
      );
    } finally {
      this.idleFiles.push(file);
    }
  }

  async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    const result = params
      ? await this.session.queryBindAsync(sql, params, { format: 'JSONEachRow' })
      : await this.session.queryAsync(sql, { format: 'JSONEachRow' });
    return parseJsonEachRow<T>(result.text());
  }

  async close(): Promise<void> {
    this.session.close();
    for (const f of this.idleFiles.splice(0)) await f.close();
    rmSync(this.staging, { recursive: true, force: true });
  }
}

export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

/**
 * A file a batch is staged in for ClickHouse to read, kept open and overwritten by the next batch:
 * in place, a tmpfs file keeps its pages (2.6 ms per 16 MB batch), where a new file takes and
 * frees them every time (8.4 ms).
 */
class StagingFile {
  private handle: FileHandle | undefined;

  constructor(readonly path: string) {}

  /** Makes the file hold exactly `pieces`, one after another: one writev for a Native block's column pieces. */
  async write(pieces: Buffer[]): Promise<void> {
    this.handle ??= await open(this.path, 'w+');
    const handle = this.handle;
    const total = pieces.reduce((n, p) => n + p.length, 0);
    let { bytesWritten } = await handle.writev(pieces, 0);
    // A short write (rare for a regular file) finishes with the rest in one piece.
    if (bytesWritten < total) {
      const rest = Buffer.concat(pieces).subarray(bytesWritten);
      bytesWritten += (await handle.write(rest, 0, rest.length, bytesWritten)).bytesWritten;
      if (bytesWritten < total) throw new Error(`short write staging ${this.path}: ${bytesWritten} of ${total} bytes`);
    }
    await handle.truncate(total);
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
