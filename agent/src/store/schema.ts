import { ALL_TABLES, CAPTURE_GAPS, mergeFunction, TableDef } from './tables';

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
  if (t.derivedFrom && !t.derivedFrom.materialized) return [derivedSelect(t, o, `CREATE VIEW IF NOT EXISTS ${t.database}.${t.name}${onCluster(o)} AS`)];
  const derived = t.derivedFrom !== undefined;
  const columns = [
    ...t.columns.map((col) => {
      const merge = derived ? mergeFunction(col.name) : undefined;
      return `${quoteIdent(col.name)} ${merge ? `SimpleAggregateFunction(${merge}, ${col.type})` : col.type}`;
    }),
    // A merged row lives as long as its latest contribution.
    derived ? '`inserted_at` SimpleAggregateFunction(max, DateTime) DEFAULT now()' : '`inserted_at` DateTime DEFAULT now()',
  ];
  // Rows of a derived table collapse on their whole key, so every tag is part of it.
  const tags = t.columns.filter((col) => mergeFunction(col.name) === undefined).map((col) => col.name);
  const orderBy = derived ? [...t.orderBy, ...tags.filter((n) => !t.orderBy.includes(n))] : t.orderBy;
  const ttl = o.ttlDays?.[t.name] ?? t.ttlDays;
  const engine = derived ? 'AggregatingMergeTree' : 'MergeTree';
  const body = (engineClause: string): string =>
    `(\n  ${columns.join(',\n  ')}\n)\n` +
    `ENGINE = ${engineClause}\n` +
    `PARTITION BY ${t.partitionBy}\n` +
    `ORDER BY (${orderBy.map(quoteIdent).join(', ')})\n` +
    `TTL inserted_at + INTERVAL ${ttl} DAY\n` +
    `SETTINGS ttl_only_drop_parts = 1`;
  const statements: string[] = [];
  if (!o.cluster) {
    statements.push(`CREATE TABLE IF NOT EXISTS ${t.database}.${t.name} ${body(engine)}`);
  } else {
    const local = `${t.database}.${t.name}_local`;
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${local}${onCluster(o)} ${body(`Replicated${engine}('/clickhouse/tables/{shard}/${t.database}/${t.name}_local', '{replica}')`)}`,
      `CREATE TABLE IF NOT EXISTS ${t.database}.${t.name}${onCluster(o)} AS ${local}\n` +
        `ENGINE = Distributed(${quoteIdent(o.cluster)}, ${t.database}, ${t.name}_local, rand())`,
    );
  }
  if (t.derivedFrom) statements.push(materializedView(t, o));
  return statements;
}

/**
 * The view that fills a derived table from its source on every insert. With a cluster it reads
 * the source's local table on each shard and writes the derived local table there.
 */
export function materializedView(t: TableDef, o: SchemaOptions): string {
  const suffix = o.cluster ? '_local' : '';
  return derivedSelect(t, o, `CREATE MATERIALIZED VIEW IF NOT EXISTS ${t.database}.${t.name}_mv${onCluster(o)} TO ${t.database}.${t.name}${suffix} AS`);
}

/**
 * The SELECT that makes a derived table's rows from its source. A materialized view reads each
 * shard's local source; a plain view reads the whole (distributed) source. Minute views fold each
 * insert block by key (a pair busy for a minute has 60 second rows); per-second ones only reshape
 * rows, and AggregatingMergeTree folds what is left when it merges parts.
 */
function derivedSelect(t: TableDef, o: SchemaOptions, head: string): string {
  const d = t.derivedFrom as NonNullable<TableDef['derivedFrom']>;
  const source = `${t.database}.${d.source}${o.cluster && d.materialized ? '_local' : ''}`;
  const group = d.toMinute;
  const select: string[] = [];
  const groupBy: string[] = [];
  for (const col of t.columns) {
    const name = col.name;
    const merge = mergeFunction(name);
    if (merge) {
      const metric = sourceMetric(name, d.sides);
      select.push(`${group ? `${merge}(${metric})` : metric} AS ${quoteIdent(name)}`);
      continue;
    }
    const expr = name === 'time' ? (d.toMinute ? 'toStartOfMinute(src.time)' : 'src.time') : sourceTag(name, d.sides);
    select.push(`${expr} AS ${quoteIdent(name)}`);
    groupBy.push(expr);
  }
  const arrayJoin = d.sides === 'both' ? " ARRAY JOIN ['client', 'server'] AS role" : '';
  return `${head}\nSELECT ${select.join(', ')}\nFROM ${source} AS src${arrayJoin}` + (group ? `\nGROUP BY ${groupBy.join(', ')}` : '');
}

/** A one-sided tag from a two-sided source row: `ip` is `ip_0` for the client, `ip_1` for the server. */
function sourceTag(name: string, sides: 'same' | 'both' | 'server'): string {
  if (sides === 'same') return `src.${name}`;
  if (name === 'role') return 'role';
  if (name === 'server_port') return 'src.port_1';
  if (['ip', 'service', 'process', 'pid', 'container'].includes(name)) {
    return sides === 'server' ? `src.${name}_1` : `if(role = 'client', src.${name}_0, src.${name}_1)`;
  }
  return `src.${name}`;
}

/** A metric from the endpoint's view: what the server sends is its `_tx`, the map's `_rx`. */
function sourceMetric(name: string, sides: 'same' | 'both' | 'server'): string {
  if (sides === 'both' && name.endsWith('_tx')) return `if(role = 'client', src.${name}, src.${name.slice(0, -3)}_rx)`;
  if (sides === 'both' && name.endsWith('_rx')) return `if(role = 'client', src.${name}, src.${name.slice(0, -3)}_tx)`;
  return `src.${name}`;
}

/** Tables created by a migration after the first: version 1 stays what it was when released. */
const LATER_TABLES: TableDef[] = [CAPTURE_GAPS];

/**
 * Versioned schema changes, applied in order and recorded in `flow_metrics.schema_migrations`.
 * Released migrations are never edited: a change to a table is a new entry.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'network, application, map, flow log and capture statistics tables',
    statements: (o) => ALL_TABLES.filter((t) => !LATER_TABLES.includes(t)).flatMap((t) => createTableStatements(t, o)),
  },
  {
    version: 2,
    description: 'capture gaps of the live agent (loader restarts)',
    statements: (o) => createTableStatements(CAPTURE_GAPS, o),
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
