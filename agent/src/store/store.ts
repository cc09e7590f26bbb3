import { TableDef } from './tables';
import { bootstrapStatements, MIGRATIONS, SchemaOptions } from './schema';

/**
 * The one interface over ClickHouse engines: the embedded chDB and a ClickHouse server or cluster.
 * Both take the same DDL, the same rows and the same SQL.
 */
export interface Store {
  readonly description: string;
  /** Runs statements that return nothing (DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Inserts `rows` rows: JSONEachRow text (the default; omitted columns take their defaults),
   * RowBinary (every column of `table`, in its order; see row-binary.ts) or Native blocks (see
   * native-block.ts). `data` may come in pieces, sent one after another.
   */
  insert(table: TableDef, data: Buffer | readonly Buffer[], rows: number, format?: InsertFormat): Promise<void>;
  /** Runs a query with `{name:Type}` parameters bound by the engine; returns the rows as objects. */
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
}

/** How the rows handed to `Store.insert` are encoded. */
export type InsertFormat = 'JSONEachRow' | 'RowBinary' | 'Native';

const SCHEMA_MIGRATIONS: TableDef = {
  database: 'flow_metrics',
  name: 'schema_migrations',
  columns: [
    { name: 'version', type: 'UInt32' },
    { name: 'description', type: 'String' },
  ],
  orderBy: ['version'],
  partitionBy: 'tuple()',
  ttlDays: 36500,
  timeColumn: 'applied_at',
};

/** Applies the migrations the store has not seen yet; returns the versions applied. */
export async function migrate(store: Store, options: SchemaOptions = {}): Promise<number[]> {
  for (const sql of bootstrapStatements(options)) await store.exec(sql);
  const done = new Set(
    (await store.query<{ version: number }>('SELECT version FROM flow_metrics.schema_migrations')).map((r) => Number(r.version)),
  );
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    for (const sql of m.statements(options)) await store.exec(sql);
    const row = JSON.stringify({ version: m.version, description: m.description }) + '\n';
    await store.insert(SCHEMA_MIGRATIONS, Buffer.from(row), 1);
    applied.push(m.version);
  }
  return applied;
}
