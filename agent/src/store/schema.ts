import { ALL_TABLES, TableDef } from './tables';

/** Options for the DDL: a single server / embedded engine, or a cluster with replicas and shards. */
export interface SchemaOptions {
  /** Cluster name from the server's `remote_servers`; emits Replicated + Distributed tables. */
  cluster?: string;
  /** Retention per table name in days, overriding the defaults. */
  ttlDays?: Record<string, number>;
}

export interface Migration {
  version: number;
  description: string;
  statements: (options: SchemaOptions) => string[];
}

export const DATABASES = ['flow_metrics', 'flow_log'] as const;

const onCluster = (o: SchemaOptions): string => (o.cluster ? ` ON CLUSTER ${quoteIdent(o.cluster)}` : '');

export function createTableStatements(t: TableDef, o: SchemaOptions): string[] {
  const columns = [...t.columns.map((col) => `${quoteIdent(col.name)} ${col.type}`), '`inserted_at` DateTime DEFAULT now()'];
  const ttl = o.ttlDays?.[t.name] ?? t.ttlDays;
  const body =
    `(\n  ${columns.join(',\n  ')}\n)\n` +
    `PARTITION BY ${t.partitionBy}\n` +
    `ORDER BY (${t.orderBy.map(quoteIdent).join(', ')})\n` +
    `TTL inserted_at + INTERVAL ${ttl} DAY\n` +
    `SETTINGS ttl_only_drop_parts = 1`;
  if (!o.cluster) {
    return [`CREATE TABLE IF NOT EXISTS ${t.database}.${t.name}${onCluster(o)} ${body.replace('PARTITION', 'ENGINE = MergeTree\nPARTITION')}`];
  }
  const local = `${t.database}.${t.name}_local`;
  return [
    `CREATE TABLE IF NOT EXISTS ${local}${onCluster(o)} ${body.replace(
      'PARTITION',
      `ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${t.database}/${t.name}_local', '{replica}')\nPARTITION`,
    )}`,
    `CREATE TABLE IF NOT EXISTS ${t.database}.${t.name}${onCluster(o)} AS ${local}\n` +
      `ENGINE = Distributed(${quoteIdent(o.cluster)}, ${t.database}, ${t.name}_local, rand())`,
  ];
}

/**
 * Versioned schema changes, applied in order and recorded in `flow_metrics.schema_migrations`.
 * Released migrations are never edited: a change to a table is a new entry.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'network, application, map, flow log and capture statistics tables',
    statements: (o) => ALL_TABLES.flatMap((t) => createTableStatements(t, o)),
  },
];

export function bootstrapStatements(o: SchemaOptions): string[] {
  return [
    ...DATABASES.map((db) => `CREATE DATABASE IF NOT EXISTS ${db}${onCluster(o)}`),
    `CREATE TABLE IF NOT EXISTS flow_metrics.schema_migrations${onCluster(o)} (version UInt32, description String, applied_at DateTime DEFAULT now()) ` +
      `ENGINE = ${o.cluster ? "ReplicatedMergeTree('/clickhouse/tables/{shard}/flow_metrics/schema_migrations', '{replica}')" : 'MergeTree'} ORDER BY version`,
  ];
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid identifier ${JSON.stringify(name)}`);
  return '`' + name + '`';
}

/** Every statement a fresh store runs, in order. */
export function schemaStatements(o: SchemaOptions): string[] {
  return [...bootstrapStatements(o), ...MIGRATIONS.flatMap((m) => m.statements(o))];
}
