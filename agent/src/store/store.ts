import { TableDef } from './tables';
import { sqlString } from '../util/sql-string';
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
   * Runs statements in order in one call, stopping at the first that fails, for an engine that
   * takes several at once (chDB). A store without it runs them one `exec` at a time.
   */
  execAll?(statements: readonly string[]): Promise<void>;
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

/**
 * Applies the migrations the store has not seen yet; returns the versions applied. Three calls
 * to the store however many statements: a replay sets the store up while it reads packets, and
 * each call waits for the reading to let its answer through (21 one by one took 0.9 s of an
 * HTTP/1 replay, holding back the first inserts).
 */
export async function migrate(store: Store, options: SchemaOptions = {}): Promise<number[]> {
  await execAll(store, bootstrapStatements(options));
  const done = new Set(
    (await store.query<{ version: number }>('SELECT version FROM flow_metrics.schema_migrations')).map((r) => Number(r.version)),
  );
  const pending = MIGRATIONS.filter((m) => !done.has(m.version));
  // Each migration's version is recorded right after its statements, so a failure part way
  // leaves the versions before it applied and recorded.
  await execAll(
    store,
    pending.flatMap((m) => [
      ...m.statements(options),
      `INSERT INTO flow_metrics.schema_migrations (version, description) VALUES (${m.version}, ${sqlString(m.description)})`,
    ]),
  );
  return pending.map((m) => m.version);
}

/** Runs statements in order: in one call where the store can, else one by one. */
export async function execAll(store: Store, statements: readonly string[]): Promise<void> {
  if (statements.length === 0) return;
  if (store.execAll) return store.execAll(statements);
  for (const sql of statements) await store.exec(sql);
}
