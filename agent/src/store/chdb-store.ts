import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { encodeRows, Store } from './store';
import { TableDef } from './tables';

/** The embedded default: ClickHouse running in-process through chDB, persisting under `dir`. */
export class ChdbStore implements Store {
  private readonly session: Session;
  readonly description: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.session = new Session(dir);
    this.description = `chdb:${dir}`;
  }

  async exec(sql: string): Promise<void> {
    await this.session.queryAsync(sql, { format: 'Null' });
  }

  async insert(table: TableDef, columns: readonly string[], rows: readonly unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    await this.session.insert({
      table: `${table.database}.${table.name}`,
      values: Buffer.from(encodeRows(rows)),
      format: 'JSONCompactEachRow',
      columns,
    });
  }

  async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    const result = params
      ? await this.session.queryBindAsync(sql, params, { format: 'JSONEachRow' })
      : await this.session.queryAsync(sql, { format: 'JSONEachRow' });
    return parseJsonEachRow<T>(result.text());
  }

  async close(): Promise<void> {
    this.session.close();
  }
}

export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}
