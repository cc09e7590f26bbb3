/**
 * MetaFlowQuery (as saved in a dashboard) → the JSON the query API takes, as pure functions:
 * template variables and ad-hoc filters are resolved here through the functions the data source
 * passes in, so these rules are tested without Grafana.
 */
import { FilterOperator, MetaFlowQuery, TagFilter } from './types';

export interface BuildContext {
  from: number;
  to: number;
  intervalMs: number;
  /** Replaces variables in a text meant as one value. */
  replace: (text: string) => string;
  /** Expands a text that may name a multi-value variable into its values. */
  expand: (text: string) => string[];
  adhocFilters?: Array<{ key: string; operator: string; value: string }>;
  defaultTapSide?: string[];
}

export interface StructuredRequest {
  dataType: string;
  interval: string;
  from: number;
  to: number;
  step: number;
  metrics: Array<{ metric: string; aggregation?: string; alias?: string }>;
  groupBy: string[];
  filters: Array<{ tag: string; op: FilterOperator; value?: string; values?: string[] }>;
  tapSide: string[];
  orderBy: Array<{ by: string; desc: boolean }>;
  limit?: number;
  format: string;
}

export interface SqlRequest {
  sql: string;
  from: number;
  to: number;
  intervalSeconds: number;
  format: 'table' | 'time_series';
}

const ADHOC_OPERATORS: Record<string, FilterOperator> = { '=': '=', '!=': '!=', '=~': 'regex', '!~': 'not regex' };

const unique = (values: string[]): string[] => [...new Set(values)];

/** A filter with its variables expanded: several values turn = into in and != into not in. */
export function resolveFilter(f: TagFilter, ctx: BuildContext): StructuredRequest['filters'][number] | undefined {
  const tag = ctx.replace(f.tag).trim();
  if (tag === '') return undefined;
  const values = unique(f.values.flatMap((v) => ctx.expand(v)));
  if (values.length === 0) return undefined;
  if (f.op === 'in' || f.op === 'not in') return { tag, op: f.op, values };
  if (values.length > 1 && (f.op === '=' || f.op === '!=')) return { tag, op: f.op === '=' ? 'in' : 'not in', values };
  if (values.length > 1 && (f.op === 'regex' || f.op === 'not regex')) return { tag, op: f.op, value: values.map(escapeRegex).join('|') };
  return { tag, op: f.op, value: values[0] };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function buildStructuredRequest(q: MetaFlowQuery, ctx: BuildContext): StructuredRequest {
  const filters = q.filters.map((f) => resolveFilter(f, ctx)).filter((f): f is NonNullable<typeof f> => f !== undefined);
  for (const a of ctx.adhocFilters ?? []) {
    const op = ADHOC_OPERATORS[a.operator];
    if (op) filters.push({ tag: a.key, op, value: a.value });
  }
  const tapSide = unique((q.tapSide.length ? q.tapSide : ctx.defaultTapSide ?? []).flatMap((t) => ctx.expand(t))).filter((t) => t !== '');
  return {
    dataType: q.dataType,
    interval: q.interval,
    from: ctx.from,
    to: ctx.to,
    step: Math.max(1, Math.round(ctx.intervalMs / 1000)),
    metrics: q.metrics.filter((m) => m.metric).map((m) => ({ metric: m.metric, ...(m.aggregation ? { aggregation: m.aggregation } : {}), ...(m.alias ? { alias: m.alias } : {}) })),
    groupBy: unique(q.groupBy.flatMap((g) => ctx.expand(g))).filter((g) => g !== ''),
    filters,
    tapSide,
    orderBy: q.orderBy.filter((o) => o.by),
    ...(q.limit ? { limit: q.limit } : {}),
    format: q.format,
  };
}

export interface MapRequest {
  from: number;
  to: number;
  level: string;
  tapSideMode: 'preferred' | 'all';
  filters: StructuredRequest['filters'];
}

/** The service map of the range (the API's /map): the query's filters with variables resolved. */
export function buildMapRequest(q: MetaFlowQuery, ctx: BuildContext): MapRequest {
  const filters = q.filters.map((f) => resolveFilter(f, ctx)).filter((f): f is NonNullable<typeof f> => f !== undefined);
  return { from: ctx.from, to: ctx.to, level: ctx.replace(q.mapLevel ?? 'service'), tapSideMode: q.mapTapSideMode ?? 'preferred', filters };
}

export function buildSqlRequest(q: MetaFlowQuery, ctx: BuildContext): SqlRequest {
  return {
    sql: ctx.replace(q.sql ?? ''),
    from: ctx.from,
    to: ctx.to,
    intervalSeconds: Math.max(1, ctx.intervalMs / 1000),
    format: q.sqlFormat ?? 'table',
  };
}

/** `${tag}` and `${metric}` in a legend, from a series' labels and its field name. */
export function legendName(template: string, labels: Record<string, string> | undefined, metric: string): string {
  return template.replace(/\$\{([^}]+)\}/g, (m, key: string) => (key === 'metric' ? metric : labels?.[key] ?? m));
}
