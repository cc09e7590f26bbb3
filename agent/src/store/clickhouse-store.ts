import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ClickHouseClient, createClient } from '@clickhouse/client';
import { InsertFormat, Store } from './store';
import { TableDef } from './tables';

/** A ClickHouse server or cluster over HTTP(S), for deployments beyond one machine. */
export class ClickHouseStore implements Store {
  private readonly client: ClickHouseClient;
  readonly description: string;

  constructor(url: string) {
    const parsed = new URL(url);
    this.description = `clickhouse:${parsed.protocol}//${parsed.host}`;
    this.client = createClient({
      url: `${parsed.protocol}//${parsed.host}`,
      username: decodeURIComponent(parsed.username) || 'default',
      password: decodeURIComponent(parsed.password),
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    });
  }

  async exec(sql: string): Promise<void> {
    await this.client.command({ query: sql });
  }

  async insert(table: TableDef, data: Buffer | readonly Buffer[], rows: number, format: InsertFormat = 'JSONEachRow'): Promise<void> {
    if (rows === 0) return;
    const pieces = Buffer.isBuffer(data) ? [data] : data;
    if (format === 'JSONEachRow') {
      await this.client.insert({ table: `${table.database}.${table.name}`, values: Readable.from(pieces), format: 'JSONEachRow' });
      return;
    }
    // The client's insert() takes no binary formats: the same INSERT, sent with exec().
    const columns = table.columns.map((c) => `\`${c.name}\``).join(', ');
    const result = await this.client.exec({
      query: `INSERT INTO ${table.database}.${table.name} (${columns}) FORMAT ${format}`,
      values: Readable.from(pieces),
    });
    // The (empty) response body must be read for the connection to be reused.
    await finished(result.stream.resume());
  }

  async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    const rs = await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
    return (await rs.json()) as T[];
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
