/**
 * The query API's operations over a store, independent of HTTP: structured queries, SQL mode,
 * discovery for editors and template variables, and health. Errors a user can fix are
 * QueryErrors (HTTP 400) with a message the editor shows; a store that cannot be reached is a
 * StoreUnavailable (HTTP 503).
 */
import { Store } from '../store/store';
import { CATALOG, DATA_TYPES, DataType, canonicalTag } from './catalog';
import { compileQuery, CompiledQuery, conditions } from './compile-query';
import { ApplicationPairRow, buildServiceMap, MAP_LEVELS, MapLevel, NetworkPairRow, serviceMapFrames } from './service-map';
import { Frame, toFrames } from './frames';
import { expandMacros } from './macros';
import { checkAst, checkStatementText } from './sql-guard';
import { QueryError, validateQuery } from './structured-query';

export class StoreUnavailable extends Error {
  readonly status = 503;
}

export interface QueryServiceOptions {
  version: string;
  /** Rows a SQL-mode query may return. */
  maxSqlRows?: number;
  /** Seconds a SQL-mode query may run. */
  sqlTimeoutSeconds?: number;
}

export interface SqlRequest {
  sql: string;
  from: number;
  to: number;
  /** Seconds per bucket for `$__interval` and `$__timeInterval` (default: range / 1000, ≥ 1). */
  intervalSeconds?: number;
  format?: 'table' | 'time_series';
}

export interface QueryResult {
  frames: Frame[];
  sql: string;
}

/** Store errors that come from the statement (ClickHouse exceptions), not from the connection. */
function isStatementError(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /DB::Exception|Code: \d+/.test(m);
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^Query failed: /, '').split('\n')[0].slice(0, 500);
}

const TIME_TYPES = /^(Nullable\()?(DateTime|DateTime64|Date|Date32)\b/;
const NUMBER_TYPES = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/;

export class QueryService {
  private readonly maxSqlRows: number;
  private readonly sqlTimeout: number;

  constructor(
    private readonly store: Store,
    private readonly options: QueryServiceOptions,
  ) {
    this.maxSqlRows = options.maxSqlRows ?? 100_000;
    this.sqlTimeout = options.sqlTimeoutSeconds ?? 30;
  }

  /** The SQL a structured query runs, for the editor's "show SQL". */
  explain(query: unknown): CompiledQuery {
    return compileQuery(validateQuery(query));
  }

  async structured(query: unknown): Promise<QueryResult> {
    const compiled = this.explain(query);
    const rows = await this.run(() => this.store.query<Record<string, unknown>>(compiled.sql, compiled.params), false);
    return { frames: toFrames(compiled, rows), sql: compiled.sql };
  }

  async sql(request: unknown): Promise<QueryResult> {
    const r = request as Partial<SqlRequest> | null;
    if (!r || typeof r.sql !== 'string') throw new QueryError('sql (a string) is required');
    const from = Number(r.from);
    const to = Number(r.to);
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) throw new QueryError('from and to (epoch milliseconds, from ≤ to) are required');
    const intervalSeconds = r.intervalSeconds !== undefined ? Number(r.intervalSeconds) : Math.max(1, (to - from) / 1000 / 1000);
    if (!Number.isFinite(intervalSeconds) || intervalSeconds <= 0) throw new QueryError('intervalSeconds must be a positive number');
    const expanded = expandMacros(r.sql, { fromSec: Math.floor(from / 1000), toSec: Math.ceil(to / 1000), intervalSec: intervalSeconds });
    const statement = checkStatementText(expanded);
    const explain = 'EXPLAIN AST ';
    const ast = await this.run(() => this.store.query<{ explain: string }>(explain + statement), true).catch((e: unknown) => {
      // Positions in parse errors count from the start of what the user wrote.
      if (e instanceof QueryError) throw new QueryError(e.message.replace(/position (\d+)/, (_m, n: string) => `position ${Math.max(0, Number(n) - explain.length)}`));
      throw e;
    });
    checkAst(ast.map((l) => l.explain).join('\n'));
    const described = await this.run(() => this.store.query<{ name: string; type: string }>(`DESCRIBE TABLE (${statement})`), true);
    const select = described.map((c) => {
      const name = '`' + c.name.replace(/`/g, '\\`') + '`';
      return TIME_TYPES.test(c.type) ? `toUnixTimestamp64Milli(toDateTime64(${name}, 3)) AS ${name}` : name;
    });
    const wrapped =
      `SELECT ${select.join(', ')} FROM (\n${statement}\n) LIMIT ${this.maxSqlRows + 1}\n` +
      `SETTINGS readonly = 1, max_execution_time = ${this.sqlTimeout}, max_result_rows = ${this.maxSqlRows + 1}, result_overflow_mode = 'break'`;
    const rows = await this.run(() => this.store.query<Record<string, unknown>>(wrapped), true);
    const truncated = rows.length > this.maxSqlRows;
    if (truncated) rows.length = this.maxSqlRows;
    const frames = sqlFrames(described, rows, r.format ?? 'table', expanded);
    if (truncated) frames[0].meta = { ...frames[0].meta, notices: [{ severity: 'warning', text: `only the first ${this.maxSqlRows} rows are shown` }] };
    return { frames, sql: expanded };
  }

  /**
   * The service map of a time range (SPEC §6): nodes at the chosen level and client → server
   * edges, one observation point per edge unless `tapSideMode` is `all`.
   */
  async map(request: unknown): Promise<QueryResult & { edges: number; nodes: number }> {
    const r = (request ?? {}) as { level?: string; tapSideMode?: string; from?: unknown; to?: unknown; filters?: unknown; interval?: string };
    const level = (r.level ?? 'service') as MapLevel;
    if (!MAP_LEVELS.includes(level)) throw new QueryError(`level must be one of ${MAP_LEVELS.join(', ')}`);
    if (r.tapSideMode !== undefined && r.tapSideMode !== 'preferred' && r.tapSideMode !== 'all') throw new QueryError('tapSideMode must be preferred or all');
    // The filters and range are validated as a query of the application map would be.
    const valid = validateQuery({ dataType: 'application_map', from: r.from, to: r.to, interval: r.interval ?? 'auto', filters: r.filters, metrics: [{ metric: 'request' }], format: 'table' });
    const { where, params } = conditions(valid);
    const suffix = valid.interval;
    const side = (n: 0 | 1): Record<MapLevel, string> => ({
      service: `service_${n}`,
      process: `if(process_${n} != '', process_${n}, service_${n})`,
      ip: `ip_${n}`,
      container: `if(container_${n} != '', container_${n}, ip_${n})`,
      // The agent's host is the endpoint's host when it observed that side itself.
      host: `if(startsWith(tap_side, '${n === 0 ? 'c' : 's'}') OR tap_side = 'local', host, ip_${n})`,
    });
    const known = "service_1 != if(position(ip_1, ':') > 0, concat('[', ip_1, ']:', toString(port_1)), concat(ip_1, ':', toString(port_1))) OR process_1 != ''";
    const keys = `tap_side, ${side(0)[level]} AS client, ${side(1)[level]} AS server, max(${known}) AS server_known`;
    const appSql =
      `SELECT ${keys}, sum(request) AS request, sum(response) AS response, sum(error) AS error, sum(timeout) AS timeout,
              sum(rrt_sum) AS rrt_sum, sum(rrt_count) AS rrt_count, max(rrt_max) AS rrt_max, sumMap(rrt_hist) AS rrt_hist
       FROM flow_metrics.application_map_${suffix} WHERE ${where.join(' AND ')} GROUP BY tap_side, client, server`;
    // Network rows have no endpoint: the map's network numbers ignore an endpoint filter.
    const netFilters = Array.isArray(r.filters) ? (r.filters as Array<{ tag?: unknown }>).filter((f) => f?.tag !== 'endpoint') : undefined;
    const net = conditions(validateQuery({ dataType: 'network_map', from: r.from, to: r.to, interval: valid.interval, filters: netFilters, metrics: [{ metric: 'byte' }], format: 'table' }));
    const netSql =
      `SELECT ${keys}, sum(byte_tx + byte_rx) AS byte, sum(packet_tx + packet_rx) AS packet, sum(retrans_tx + retrans_rx) AS retrans,
              sum(rtt_sum) AS rtt_sum, sum(rtt_count) AS rtt_count, sum(client_establish_fail + server_establish_fail) AS establish_fail,
              sum(tcp_rst_fail) AS rst
       FROM flow_metrics.network_map_${suffix} WHERE ${net.where.join(' AND ')} GROUP BY tap_side, client, server`;
    const appRows = await this.run(() => this.store.query<ApplicationPairRow>(appSql, params), false);
    const netRows = await this.run(() => this.store.query<NetworkPairRow>(netSql, net.params), false);
    const map = buildServiceMap(appRows, netRows, valid.toSec - valid.fromSec, r.tapSideMode === 'all');
    return { frames: serviceMapFrames(map, level), sql: `${appSql};
${netSql}`, nodes: map.nodes.length, edges: map.edges.length };
  }

  tables(): { name: DataType; description: string; intervals: string[]; log: boolean }[] {
    return DATA_TYPES.map((d) => ({ name: d, description: CATALOG[d].description, intervals: CATALOG[d].log ? [] : ['1s', '1m'], log: CATALOG[d].log }));
  }

  metrics(dataType: unknown): { name: string; unit: string; description: string; aggregations: string[] }[] {
    return this.spec(dataType).metrics.map((m) => ({ name: m.name, unit: m.unit, description: m.description, aggregations: m.aggregations }));
  }

  tags(dataType: unknown): { name: string; type: string }[] {
    return this.spec(dataType).tags.map((t) => ({ name: t.name, type: t.type }));
  }

  /** Distinct values of a tag in the range, for autocompletion and template variables. */
  async tagValues(dataType: unknown, tagName: unknown, options: { prefix?: string; from?: number; to?: number; limit?: number }): Promise<string[]> {
    const spec = this.spec(dataType);
    if (typeof tagName !== 'string') throw new QueryError('tag is required');
    const tag = spec.tags.find((t) => t.name === canonicalTag(tagName));
    if (!tag) throw new QueryError(`${spec.name} has no tag "${tagName}"`);
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 1000)), 10_000);
    const to = options.to ?? Date.now();
    const from = options.from ?? to - 3600_000;
    const params: Record<string, unknown> = { from: Math.floor(from / 1000), to: Math.ceil(to / 1000), prefix: options.prefix ?? '' };
    const column = '`' + tag.name + '`';
    const tables = spec.log ? [spec.tables['1s']] : [spec.tables['1m'], spec.tables['1s']];
    for (const t of tables) {
      if (!t) continue;
      const rows = await this.run(
        () =>
          this.store.query<{ v: unknown }>(
            `SELECT DISTINCT toString(${column}) AS v FROM ${t.database}.${t.name}
             WHERE time >= toDateTime({from:UInt32}) AND time <= toDateTime({to:UInt32}) AND startsWith(toString(${column}), {prefix:String})
             ORDER BY v LIMIT ${limit}`,
            params,
          ),
        false,
      );
      if (rows.length) return rows.map((r) => String(r.v));
    }
    return [];
  }

  /** Version and data freshness: the newest second the agent stored, per kind of data. */
  async health(): Promise<{ status: 'ok'; version: string; store: string; newest: Record<string, number | null> }> {
    const newest: Record<string, number | null> = {};
    for (const [name, table] of [
      ['network', 'flow_metrics.network_map_1s'],
      ['application', 'flow_metrics.application_map_1s'],
      ['l7_flow_log', 'flow_log.l7_flow_log'],
    ]) {
      const rows = await this.run(() => this.store.query<{ t: number | string }>(`SELECT toUnixTimestamp(max(time)) AS t, count() AS n FROM ${table}`), false);
      const t = Number(rows[0]?.t ?? 0);
      newest[name] = t > 0 ? t * 1000 : null;
    }
    return { status: 'ok', version: this.options.version, store: this.store.description, newest };
  }

  private spec(dataType: unknown): (typeof CATALOG)[DataType] {
    if (!DATA_TYPES.includes(dataType as DataType)) throw new QueryError(`dataType must be one of ${DATA_TYPES.join(', ')}`);
    return CATALOG[dataType as DataType];
  }

  /** Runs a store call; statement errors become 400s when the user wrote the statement. */
  private async run<T>(call: () => Promise<T>, userStatement: boolean): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (e instanceof QueryError) throw e;
      if (isStatementError(e)) {
        if (userStatement) throw new QueryError(firstLine(e));
        throw new Error(`query failed: ${firstLine(e)}`);
      }
      throw new StoreUnavailable(`the store is not reachable: ${firstLine(e)}`);
    }
  }
}

/** SQL-mode rows → a table frame, or time series (one per combination of the text columns). */
function sqlFrames(columns: { name: string; type: string }[], rows: Record<string, unknown>[], format: 'table' | 'time_series', sql: string): Frame[] {
  const kind = (t: string): 'time' | 'number' | 'string' => (TIME_TYPES.test(t) ? 'time' : NUMBER_TYPES.test(t) ? 'number' : 'string');
  const value = (t: string, v: unknown): unknown => (v === null || v === undefined ? null : kind(t) === 'string' ? String(v) : Number(v));
  const timeColumn = columns.find((c) => kind(c.type) === 'time');
  if (format === 'table' || !timeColumn) {
    return [
      {
        fields: columns.map((c) => ({ name: c.name, type: kind(c.type), values: rows.map((r) => value(c.type, r[c.name])) })),
        meta: { executedQueryString: sql, preferredVisualisationType: 'table' },
      },
    ];
  }
  const labelColumns = columns.filter((c) => kind(c.type) === 'string');
  const valueColumns = columns.filter((c) => kind(c.type) === 'number');
  const series = new Map<string, { labels: Record<string, string>; rows: Record<string, unknown>[] }>();
  for (const r of rows) {
    const labels = Object.fromEntries(labelColumns.map((c) => [c.name, String(r[c.name] ?? '')]));
    const key = JSON.stringify(labels);
    let s = series.get(key);
    if (!s) series.set(key, (s = { labels, rows: [] }));
    s.rows.push(r);
  }
  return [...series.values()].map((s) => ({
    fields: [
      { name: timeColumn.name, type: 'time' as const, values: s.rows.map((r) => Number(r[timeColumn.name])) },
      ...valueColumns.map((c) => ({ name: c.name, type: 'number' as const, values: s.rows.map((r) => value(c.type, r[c.name])), ...(labelColumns.length ? { labels: s.labels } : {}) })),
    ],
    meta: { executedQueryString: sql },
  }));
}
