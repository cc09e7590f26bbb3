/**
 * The structured query of the API (what the datasource's builder sends), and its validation:
 * anything a user typed is checked against the catalog here, so the compiler only ever sees
 * known tables, metrics and tags, and every value goes to ClickHouse as a typed parameter.
 */
import { Aggregation, canonicalTag, CATALOG, DATA_TYPES, DataType, DataTypeSpec, MetricSpec, TagSpec } from './catalog';

export const FILTER_OPERATORS = ['=', '!=', 'in', 'not in', 'like', 'not like', 'regex', 'not regex'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface MetricRequest {
  metric: string;
  aggregation?: Aggregation;
  alias?: string;
}

export interface TagFilter {
  tag: string;
  op: FilterOperator;
  value?: string | number;
  values?: (string | number)[];
}

export interface StructuredQuery {
  dataType: DataType;
  /** Stored resolution to read; `auto` picks 1s for short recent ranges, else 1m. */
  interval?: '1s' | '1m' | 'auto';
  /** Time range, epoch milliseconds. */
  from: number;
  to: number;
  /** Seconds per time bucket (Grafana's interval); rounded up to the stored resolution. */
  step?: number;
  metrics?: MetricRequest[];
  groupBy?: string[];
  filters?: TagFilter[];
  /** Observation points to keep (SPEC §1); empty or absent: all. */
  tapSide?: string[];
  orderBy?: { by: string; desc?: boolean }[];
  limit?: number;
  /** `time_series`: one row per bucket and group; `table`: one row per group; `logs`: raw rows. */
  format?: 'time_series' | 'table' | 'logs';
  /** Log rows: the columns to return (default: a useful set per data type). */
  columns?: string[];
}

export class QueryError extends Error {
  readonly status = 400;
}

export const MAX_LIMIT = 100_000;
export const DEFAULT_LIMIT = 10_000;
export const DEFAULT_LOG_LIMIT = 1_000;

/** A validated query: every name resolved against the catalog. */
export interface ValidQuery {
  spec: DataTypeSpec;
  interval: '1s' | '1m';
  fromSec: number;
  toSec: number;
  bucketSeconds: number;
  metrics: { spec: MetricSpec; aggregation: Aggregation; alias: string }[];
  groupBy: TagSpec[];
  filters: { tag: TagSpec; op: FilterOperator; values: (string | number)[] }[];
  tapSide: string[];
  orderBy: { by: string; desc: boolean }[];
  limit: number;
  format: 'time_series' | 'table' | 'logs';
  columns: TagSpec[];
}

/** Default log columns: what a reader of the request or flow log wants to see first. */
const DEFAULT_LOG_COLUMNS: Partial<Record<DataType, string[]>> = {
  l7_flow_log: [
    'start_time',
    'tap_side',
    'l7_protocol',
    'service_0',
    'service_1',
    'request_type',
    'request_domain',
    'request_resource',
    'endpoint',
    'response_status',
    'response_code',
    'response_exception',
    'response_duration',
    'type',
    'trace_id',
    'span_id',
    'x_request_id',
    'flow_id',
  ],
  l4_flow_log: [
    'start_time',
    'end_time',
    'tap_side',
    'protocol',
    'l7_protocol',
    'ip_0',
    'port_0',
    'ip_1',
    'port_1',
    'close_type',
    'status',
    'duration',
    'flow_id',
  ],
};

function fail(message: string): never {
  throw new QueryError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tagOf(spec: DataTypeSpec, name: unknown, what: string): TagSpec {
  if (typeof name !== 'string') fail(`${what}: a tag name is required`);
  const canonical = canonicalTag(name);
  const tag = spec.tags.find((t) => t.name === canonical);
  if (!tag) fail(`${what}: ${spec.name} has no tag "${name}" (tags: ${spec.tags.map((t) => t.name).join(', ')})`);
  return tag;
}

function timeOf(v: unknown, what: string): number {
  const n = typeof v === 'string' && !/^\d+$/.test(v) ? Date.parse(v) : Number(v);
  if (!Number.isFinite(n) || n < 0) fail(`${what} must be a time (epoch milliseconds or ISO 8601), got ${JSON.stringify(v)}`);
  return n;
}

/** Seconds of the range above which (or older than a day) per-second data is not read. */
const AUTO_1S_MAX_RANGE = 3600;
const ONE_DAY = 86_400;
/** Points per series a time-series query aims at when no step is given. */
const TARGET_POINTS = 1000;

export function validateQuery(input: unknown, nowMs = Date.now()): ValidQuery {
  if (!isObject(input)) fail('the query must be a JSON object');
  const q = input as Partial<StructuredQuery> & Record<string, unknown>;
  if (!DATA_TYPES.includes(q.dataType as DataType)) fail(`dataType must be one of ${DATA_TYPES.join(', ')}, got ${JSON.stringify(q.dataType)}`);
  const spec = CATALOG[q.dataType as DataType];
  const fromMs = timeOf(q.from, 'from');
  const toMs = timeOf(q.to, 'to');
  if (toMs < fromMs) fail('to must not be before from');
  const fromSec = Math.floor(fromMs / 1000);
  const toSec = Math.ceil(toMs / 1000);

  let interval: '1s' | '1m';
  const requested = q.interval ?? 'auto';
  if (spec.log) interval = '1s';
  else if (requested === '1s' || requested === '1m') interval = requested;
  else if (requested === 'auto') interval = toSec - fromSec <= AUTO_1S_MAX_RANGE && fromSec >= Math.floor(nowMs / 1000) - ONE_DAY ? '1s' : '1m';
  else fail(`interval must be 1s, 1m or auto, got ${JSON.stringify(requested)}`);
  const native = spec.log ? 1 : interval === '1s' ? 1 : 60;

  const format = q.format ?? (spec.log && !(q.metrics && q.metrics.length) ? 'logs' : 'time_series');
  if (!['time_series', 'table', 'logs'].includes(format)) fail(`format must be time_series, table or logs, got ${JSON.stringify(format)}`);
  if (format === 'logs' && !spec.log) fail(`format logs is for the request and flow logs, not ${spec.name}`);

  let step = q.step === undefined ? undefined : Number(q.step);
  if (step !== undefined && (!Number.isFinite(step) || step <= 0)) fail(`step must be a positive number of seconds, got ${JSON.stringify(q.step)}`);
  step ??= Math.max(native, (toSec - fromSec) / TARGET_POINTS);
  const bucketSeconds = Math.max(native, Math.ceil(step / native) * native);

  const metrics: ValidQuery['metrics'] = [];
  const aliases = new Set<string>();
  if (q.metrics !== undefined && !Array.isArray(q.metrics)) fail('metrics must be a list');
  for (const [i, m] of (q.metrics ?? []).entries()) {
    if (!isObject(m) || typeof m.metric !== 'string') fail(`metrics[${i}]: { metric, aggregation?, alias? } expected`);
    const metric = spec.metrics.find((x) => x.name === m.metric);
    if (!metric) fail(`metrics[${i}]: ${spec.name} has no metric "${m.metric}" (metrics: ${spec.metrics.map((x) => x.name).join(', ')})`);
    const aggregation = (m.aggregation ?? metric.aggregations[0]) as Aggregation;
    if (!metric.aggregations.includes(aggregation)) fail(`metrics[${i}]: ${metric.name} takes ${metric.aggregations.join(', ')}, not ${JSON.stringify(m.aggregation)}`);
    const alias = typeof m.alias === 'string' && m.alias !== '' ? m.alias : aggregation === metric.aggregations[0] ? metric.name : `${metric.name}_${aggregation}`;
    if (!/^[A-Za-z_][A-Za-z0-9_ .:/-]{0,63}$/.test(alias)) fail(`metrics[${i}]: alias ${JSON.stringify(alias)} must start with a letter and use letters, digits, spaces or _ . : / -`);
    if (aliases.has(alias)) fail(`metrics[${i}]: alias ${alias} is used twice`);
    aliases.add(alias);
    metrics.push({ spec: metric, aggregation, alias });
  }
  if (format !== 'logs' && metrics.length === 0) fail(`at least one metric is required for format ${format}`);

  if (q.groupBy !== undefined && !Array.isArray(q.groupBy)) fail('groupBy must be a list of tags');
  const groupBy = (q.groupBy ?? []).map((g, i) => tagOf(spec, g, `groupBy[${i}]`));
  if (new Set(groupBy.map((g) => g.name)).size !== groupBy.length) fail('groupBy lists a tag twice');

  if (q.filters !== undefined && !Array.isArray(q.filters)) fail('filters must be a list');
  const filters = (q.filters ?? []).map((f, i) => {
    if (!isObject(f)) fail(`filters[${i}]: { tag, op, value | values } expected`);
    const tag = tagOf(spec, f.tag, `filters[${i}]`);
    const op = f.op as FilterOperator;
    if (!FILTER_OPERATORS.includes(op)) fail(`filters[${i}]: op must be one of ${FILTER_OPERATORS.join(', ')}, got ${JSON.stringify(f.op)}`);
    const multi = op === 'in' || op === 'not in';
    const raw = multi ? f.values ?? (f.value !== undefined ? [f.value] : undefined) : f.value !== undefined ? [f.value] : undefined;
    if (!Array.isArray(raw) || (!multi && raw.length !== 1)) fail(`filters[${i}]: ${multi ? 'values (a list)' : 'value'} is required for ${op}`);
    const values = raw.map((v) => {
      if (typeof v !== 'string' && typeof v !== 'number') fail(`filters[${i}]: values must be strings or numbers`);
      if (isNumericType(tag.type) && op !== 'like' && op !== 'not like' && op !== 'regex' && op !== 'not regex' && !/^-?\d+$/.test(String(v))) {
        fail(`filters[${i}]: ${tag.name} is a number, got ${JSON.stringify(v)}`);
      }
      return v;
    });
    return { tag, op, values };
  });

  if (q.tapSide !== undefined && !(Array.isArray(q.tapSide) && q.tapSide.every((t) => typeof t === 'string'))) fail('tapSide must be a list of observation points');
  const tapSide = (q.tapSide as string[] | undefined) ?? [];

  if (q.orderBy !== undefined && !Array.isArray(q.orderBy)) fail('orderBy must be a list');
  const orderBy = (q.orderBy ?? []).map((o, i) => {
    if (!isObject(o) || typeof o.by !== 'string') fail(`orderBy[${i}]: { by, desc? } expected`);
    const by = canonicalTag(o.by);
    const metric = metrics.find((m) => m.alias === by);
    const known = by === 'time' || metric !== undefined || spec.tags.some((t) => t.name === by);
    if (!known) fail(`orderBy[${i}]: "${o.by}" is neither time, a metric alias of this query nor a tag of ${spec.name}`);
    if (format !== 'logs' && !metric && by !== 'time' && !groupBy.some((g) => g.name === by)) fail(`orderBy[${i}]: ${by} must be grouped by to order by it`);
    return { by, desc: o.desc === true };
  });

  // A time series is cut only by an explicit limit: a dashboard's series must not end early.
  const limit = q.limit === undefined ? (format === 'logs' ? DEFAULT_LOG_LIMIT : format === 'time_series' ? MAX_LIMIT : DEFAULT_LIMIT) : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) fail(`limit must be an integer from 1 to ${MAX_LIMIT}`);

  if (q.columns !== undefined && !Array.isArray(q.columns)) fail('columns must be a list');
  const columnNames = q.columns ?? DEFAULT_LOG_COLUMNS[spec.name] ?? [];
  const columns = format === 'logs' ? columnNames.map((c, i) => tagOf(spec, c, `columns[${i}]`)) : [];

  return { spec, interval, fromSec, toSec, bucketSeconds, metrics, groupBy, filters, tapSide, orderBy, limit, format, columns };
}

export function isNumericType(type: string): boolean {
  return /^U?Int\d+$/.test(type);
}
