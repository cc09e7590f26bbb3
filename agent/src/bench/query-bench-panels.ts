/**
 * The RED overview dashboard's panels for the query benchmark: each panel's builder query, read
 * from the provisioned dashboard and resolved the way the datasource's request builder resolves
 * it ($service = All → every service, $tap_side = s, the panel's step), next to the same query
 * written by hand in ClickHouse SQL against `application_1m`, and how to compare their results.
 */
import { readFileSync } from 'node:fs';
import { StructuredQuery } from '../query/structured-query';
import { Frame } from '../query/frames';
import { sqlString } from '../util/sql-string';
import { APPLICATION_1M } from './query-bench-data';

export interface Panel {
  title: string;
  /** The request the datasource sends, with the dashboard's own (default) limit. */
  asSent: StructuredQuery;
  /** The same with the limit raised to hold the whole result (see `truncates` in the report). */
  query: StructuredQuery;
  /** The same question in hand-written ClickHouse SQL with literal values. */
  hand: string;
  /** Group-by tags (the row key besides time), and our metric name → the hand query's column. */
  tags: string[];
  metrics: [string, string][];
  series: boolean;
  /** Rows ordered by a metric: the order is part of the answer. */
  ordered: boolean;
}

interface DashboardTarget {
  dataType: string;
  interval: string;
  metrics: { metric: string; aggregation?: string; alias?: string }[];
  groupBy: string[];
  filters: { tag: string; op: string; values: string[] }[];
  tapSide: string[];
  orderBy: { by: string; desc?: boolean }[];
  format: 'time_series' | 'table';
  limit?: number;
}

interface Dashboard {
  panels: { title: string; targets?: DashboardTarget[] }[];
}

export interface PanelContext {
  fromSec: number;
  toSec: number;
  step: number;
  services: string[];
  tapSide: string;
  /** The limit the benchmark runs time series with so they return every row. */
  fullLimit: number;
}

const lit = sqlString;

/**
 * The p-quantile of a histogram (a Map of log2 µs bucket → count) in SQL: the bucket where the
 * rank falls by a cumulative sum, then linear interpolation inside it — the estimate
 * the API computes (compile-query.ts histogramQuantileSql), written as an expert would with WITH.
 */
function histQuantileSql(map: string, q: number): { with: string[]; expr: string } {
  return {
    with: [
      `${map} AS __h`,
      'mapValues(__h) AS __n',
      'arrayCumSum(__n) AS __cum',
      `${q} * arraySum(__n) AS __rank`,
      'arrayFirstIndex(x -> x >= __rank, __cum) AS __i',
      'mapKeys(__h)[__i] AS __k',
      'if(__k = 0, 0, exp2(__k - 1)) AS __lo',
      'if(__k = 0, 1, exp2(__k)) AS __hi',
    ],
    expr: 'if(arraySum(__n) = 0, NULL, __lo + ((__rank - (__cum[__i] - __n[__i])) / __n[__i]) * (__hi - __lo))',
  };
}

/** Hand-written SQL per panel title; a panel without one fails the benchmark loudly. */
function handSql(title: string, c: PanelContext): { sql: string; metrics: [string, string][] } | undefined {
  const table = `${APPLICATION_1M.database}.${APPLICATION_1M.name}`;
  const where =
    `time >= toDateTime(${c.fromSec}) AND time < toDateTime(${c.toSec}) AND tap_side = ${lit(c.tapSide)}` +
    ` AND service IN (${c.services.map(lit).join(', ')})`;
  const t = `toUnixTimestamp(toStartOfInterval(time, INTERVAL ${c.step} SECOND)) AS t`;
  const s = c.step;
  switch (title) {
    case 'Requests per second':
      return {
        sql: `SELECT ${t}, service, sum(request) / ${s} AS rps FROM ${table} WHERE ${where} GROUP BY t, service ORDER BY t`,
        metrics: [['request_rate', 'rps']],
      };
    case 'Error ratio':
      return {
        sql: `SELECT ${t}, service, sum(error) / nullIf(sum(response), 0) AS ratio FROM ${table} WHERE ${where} GROUP BY t, service ORDER BY t`,
        metrics: [['error_ratio', 'ratio']],
      };
    case 'Response time (avg and p99)': {
      const p = histQuantileSql('sumMap(rrt_hist)', 0.99);
      return {
        sql:
          `WITH ${p.with.join(', ')} SELECT ${t}, service, sum(rrt_sum) / nullIf(sum(rrt_count), 0) AS avg_rrt, ${p.expr} AS p99_rrt ` +
          `FROM ${table} WHERE ${where} GROUP BY t, service ORDER BY t`,
        metrics: [
          ['avg', 'avg_rrt'],
          ['p99', 'p99_rrt'],
        ],
      };
    }
    case 'Timeouts per second':
      return {
        sql: `SELECT ${t}, service, sum(timeout) / ${s} AS tps FROM ${table} WHERE ${where} GROUP BY t, service ORDER BY t`,
        metrics: [['timeout_rate', 'tps']],
      };
    case 'Errors by side':
      return {
        sql: `SELECT ${t}, sum(client_error) / ${s} AS client, sum(server_error) / ${s} AS server FROM ${table} WHERE ${where} GROUP BY t ORDER BY t`,
        metrics: [
          ['client_error_rate', 'client'],
          ['server_error_rate', 'server'],
        ],
      };
    case 'Requests by protocol':
      return {
        sql: `SELECT l7_protocol, sum(request) AS requests FROM ${table} WHERE ${where} GROUP BY l7_protocol ORDER BY requests DESC`,
        metrics: [['request', 'requests']],
      };
    case 'Endpoints': {
      const p = histQuantileSql('sumMap(rrt_hist)', 0.99);
      // A table is one bucket: its rate is per second of the whole range.
      return {
        sql:
          `WITH ${p.with.join(', ')} SELECT service, l7_protocol, endpoint, sum(request) AS requests, sum(request) / ${c.toSec - c.fromSec} AS rps, ` +
          `sum(error) / nullIf(sum(response), 0) AS err_ratio, sum(timeout) AS timeouts, sum(rrt_sum) / nullIf(sum(rrt_count), 0) AS avg_rrt, ${p.expr} AS p99_rrt ` +
          `FROM ${table} WHERE ${where} GROUP BY service, l7_protocol, endpoint ORDER BY requests DESC LIMIT 200`,
        metrics: [
          ['request', 'requests'],
          ['req/s', 'rps'],
          ['error_ratio', 'err_ratio'],
          ['timeout', 'timeouts'],
          ['avg rrt', 'avg_rrt'],
          ['p99 rrt', 'p99_rrt'],
        ],
      };
    }
    default:
      return undefined;
  }
}

/** The panels of the dashboard file, resolved like the datasource resolves them. */
export function loadPanels(dashboardPath: string, c: PanelContext): Panel[] {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
  const panels: Panel[] = [];
  for (const p of dashboard.panels) {
    for (const target of p.targets ?? []) {
      const hand = handSql(p.title, c);
      if (!hand) throw new Error(`panel "${p.title}" of ${dashboardPath} has no hand-written SQL in query-bench-panels.ts`);
      const expand = (v: string): string[] => (v === '$service' ? c.services : v === '$tap_side' ? [c.tapSide] : [v]);
      const asSent: StructuredQuery = {
        dataType: target.dataType as StructuredQuery['dataType'],
        interval: target.interval as StructuredQuery['interval'],
        from: c.fromSec * 1000,
        to: c.toSec * 1000,
        step: c.step,
        metrics: target.metrics.map((m) => ({ metric: m.metric, ...(m.aggregation ? { aggregation: m.aggregation as never } : {}), ...(m.alias ? { alias: m.alias } : {}) })),
        groupBy: target.groupBy,
        filters: target.filters.map((f) => ({ tag: f.tag, op: f.op as 'in', values: f.values.flatMap(expand) })),
        tapSide: target.tapSide.flatMap(expand),
        orderBy: target.orderBy.map((o) => ({ by: o.by, desc: o.desc === true })),
        ...(target.limit ? { limit: target.limit } : {}),
        format: target.format,
      };
      panels.push({
        title: p.title,
        asSent,
        query: { ...asSent, limit: target.limit ?? c.fullLimit },
        hand: hand.sql,
        tags: target.groupBy,
        metrics: hand.metrics,
        series: target.format === 'time_series',
        ordered: target.format === 'table' && target.orderBy.length > 0,
      });
    }
  }
  return panels;
}

type Values = (number | null)[];

/** Rows keyed by time and tags, in result order: from our frames. */
export function keyedFrames(panel: Panel, frames: Frame[]): Map<string, Values> {
  const out = new Map<string, Values>();
  const names = panel.metrics.map(([ours]) => ours);
  if (panel.series) {
    for (const f of frames) {
      const time = f.fields[0].values as number[];
      const labels = f.fields[1]?.labels ?? {};
      const tagKey = panel.tags.map((t) => labels[t] ?? '').join('|');
      const columns = names.map((n) => f.fields.find((x) => x.name === n)?.values ?? []);
      time.forEach((ms, i) => out.set(`${ms / 1000}|${tagKey}`, columns.map((col) => num(col[i]))));
    }
    return out;
  }
  const f = frames[0];
  const field = (n: string): unknown[] => f.fields.find((x) => x.name === n)?.values ?? [];
  const n = f.fields[0]?.values.length ?? 0;
  for (let i = 0; i < n; i++) {
    out.set(panel.tags.map((t) => String(field(t)[i])).join('|'), names.map((m) => num(field(m)[i])));
  }
  return out;
}

/** Rows keyed the same way: from the hand-written query's rows. */
export function keyedRows(panel: Panel, rows: Record<string, unknown>[]): Map<string, Values> {
  const out = new Map<string, Values>();
  for (const r of rows) {
    const tagKey = panel.tags.map((t) => String(r[t])).join('|');
    out.set(panel.series ? `${Number(r.t)}|${tagKey}` : tagKey, panel.metrics.map(([, hand]) => num(r[hand])));
  }
  return out;
}

function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Differences between the two answers, as readable lines (empty: the same numbers). */
export function compareResults(panel: Panel, ours: Map<string, Values>, hand: Map<string, Values>, tolerance = 1e-9): string[] {
  const problems: string[] = [];
  if (ours.size !== hand.size) problems.push(`row count: ours ${ours.size}, hand-written ${hand.size}`);
  let shown = 0;
  for (const [key, h] of hand) {
    const o = ours.get(key);
    if (!o) {
      if (shown++ < 5) problems.push(`row ${key}: missing from ours`);
      continue;
    }
    h.forEach((hv, i) => {
      const ov = o[i];
      const same = hv === null || ov === null ? hv === ov : Math.abs(ov - hv) <= tolerance * Math.max(1, Math.abs(hv));
      if (!same && shown++ < 5) problems.push(`row ${key} ${panel.metrics[i][0]}: ours ${ov}, hand-written ${hv}`);
    });
  }
  for (const key of ours.keys()) if (!hand.has(key) && shown++ < 5) problems.push(`row ${key}: only in ours`);
  if (panel.ordered && problems.length === 0) {
    const a = [...ours.keys()];
    const b = [...hand.keys()];
    const at = a.findIndex((k, i) => k !== b[i]);
    if (at >= 0) problems.push(`order differs from row ${at} (${a[at]} vs ${b[at]})`);
  }
  return problems;
}
