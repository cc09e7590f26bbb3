import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
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
  private batchNo = 0;

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

  /**
   * Inserts through a staged file read with the `file()` table function: chDB's in-memory insert
   * path parses about 4× slower than its file reader (measured on 200,000-row batches), and
   * `INSERT … FROM INFILE` would read the process's standard input, which a replay of `-` owns.
   * The explicit structure makes omitted JSON members take their column defaults, and is the
   * column list RowBinary rows follow.
   *
   * LowCardinality columns are read as String and converted by the INSERT: ClickHouse's row
   * formats look each LowCardinality value up in a dictionary one at a time, which measured as
   * seven times the cost of reading plain strings (11 such columns: 35 ms against 5 ms per 24,000
   * rows) and half of a network-map insert; the conversion of whole columns costs little.
   * `optimize_on_insert = 0`: the minute tables behind materialized views are
   * AggregatingMergeTree, whose rows every query aggregates anyway; merging each inserted block
   * by its long key first doubled the cost of the minute insert that ends every replay.
   */
  async insert(table: TableDef, data: Buffer, rows: number, format: InsertFormat = 'JSONEachRow'): Promise<void> {
    if (rows === 0) return;
    const file = join(this.staging, `${table.name}-${this.batchNo++}.${format === 'RowBinary' ? 'bin' : 'json'}`);
    await writeFile(file, data);
    const columns = table.columns.map((c) => `\`${c.name}\``).join(', ');
    const structure = table.columns.map((c) => `\`${c.name}\` ${fileColumnType(c.type)}`).join(', ');
    try {
      await this.session.queryAsync(
        `INSERT INTO ${table.database}.${table.name} (${columns}) SELECT ${columns} FROM file('${quote(file)}', '${format}', '${quote(structure)}') ` +
          'SETTINGS input_format_parallel_parsing = 0, optimize_on_insert = 0',
        { format: 'Null' },
      );
    } finally {
      await unlink(file).catch(() => undefined);
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
    rmSync(this.staging, { recursive: true, force: true });
  }
}

export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

/** The type a column is read from a staged file as (see `insert`). */
function fileColumnType(type: string): string {
  return type === 'LowCardinality(String)' ? 'String' : type;
}

/** A ClickHouse single-quoted string literal body. */
function quote(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}
