/**
 * What the query API offers: the data types a user picks from (SPEC §2), the metrics of each with
 * unit, description and aggregations (SPEC §3), and the tags to group and filter by. Everything
 * is derived from the table definitions, so a column added to the store shows up here.
 */
import { HISTOGRAM_DELAYS, NETWORK_METRICS } from '../aggregate/network-metrics';
import { ALL_TABLES, APPLICATION_METRICS, mergeFunction, TableDef } from '../store/tables';

export type DataType = 'application' | 'application_map' | 'network' | 'network_map' | 'l7_flow_log' | 'l4_flow_log';
export const DATA_TYPES: readonly DataType[] = ['application', 'application_map', 'network', 'network_map', 'l7_flow_log', 'l4_flow_log'];

export type Interval = '1s' | '1m';

export type Aggregation = 'sum' | 'rate' | 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p95' | 'p99' | 'ratio' | 'count';
export const PERCENTILES: Partial<Record<Aggregation, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/**
 * How a metric is computed from stored columns:
 * - `counter`: a sum of columns (`a + b`); per bucket summed, as a rate, or avg/min/max of the
 *   per-interval sums;
 * - `delay`: `x_sum`/`x_count`/`x_max` (+ `x_hist` for percentiles): avg, max, percentiles;
 * - `ratio`: sum(numerator) / sum(denominator);
 * - `log`: an expression over request/flow log rows (count, quantiles of a column).
 */
export type MetricKind =
  | { kind: 'counter'; columns: string[] }
  | { kind: 'delay'; base: string; histogram: boolean }
  | { kind: 'ratio'; numerator: string[]; denominator: string[] }
  | { kind: 'log'; column?: string; condition?: string };

export interface MetricSpec {
  name: string;
  /** Grafana unit id of the value, and of its rate per second. */
  unit: string;
  rateUnit: string;
  description: string;
  aggregations: Aggregation[];
  how: MetricKind;
}

export interface TagSpec {
  name: string;
  /** ClickHouse type, for typed query parameters. */
  type: string;
}

export interface DataTypeSpec {
  name: DataType;
  description: string;
  /** Table per interval; log types have one table and no interval. */
  tables: Partial<Record<Interval, TableDef>>;
  /** Whether rows are per-interval aggregates (metrics) or single events (logs). */
  log: boolean;
  metrics: MetricSpec[];
  tags: TagSpec[];
}

const COUNTER_AGGS: Aggregation[] = ['sum', 'rate', 'avg', 'min', 'max'];

type Counted = 'bytes' | 'packets' | 'flows' | 'count' | 'requests';
const UNITS: Record<Counted, [string, string]> = {
  bytes: ['bytes', 'Bps'],
  packets: ['short', 'pps'],
  flows: ['short', 'cps'],
  count: ['short', 'cps'],
  requests: ['short', 'reqps'],
};

function counter(name: string, columns: string[], counted: Counted, description: string): MetricSpec {
  const [unit, rateUnit] = UNITS[counted];
  return { name, unit, rateUnit, description, aggregations: COUNTER_AGGS, how: { kind: 'counter', columns } };
}

function delay(base: string, description: string, histogram: boolean): MetricSpec {
  return {
    name: base,
    unit: 'µs',
    rateUnit: 'µs',
    description,
    aggregations: histogram ? ['avg', 'max', 'p50', 'p90', 'p95', 'p99'] : ['avg', 'max'],
    how: { kind: 'delay', base, histogram },
  };
}

function ratio(name: string, numerator: string[], denominator: string[], description: string): MetricSpec {
  return { name, unit: 'percentunit', rateUnit: 'percentunit', description, aggregations: ['ratio'], how: { kind: 'ratio', numerator, denominator } };
}

/** RED metrics of SPEC §3 and their derived ratios. */
function applicationMetrics(): MetricSpec[] {
  const descriptions: Record<string, string> = {
    request: 'requests seen',
    response: 'responses seen',
    error: 'responses with an error status (client and server)',
    client_error: 'responses with a client error status',
    server_error: 'responses with a server error status',
    timeout: 'requests without a response',
  };
  const counters = APPLICATION_METRICS.filter((m) => !m.startsWith('rrt_')).map((m) => counter(m, [m], 'requests', descriptions[m] ?? m));
  return [
    ...counters,
    delay('rrt', 'response time: response − its request', true),
    ratio('error_ratio', ['error'], ['response'], 'errors ÷ responses'),
    ratio('client_error_ratio', ['client_error'], ['response'], 'client errors ÷ responses'),
    ratio('server_error_ratio', ['server_error'], ['response'], 'server errors ÷ responses'),
    ratio('timeout_ratio', ['timeout'], ['request'], 'timeouts ÷ requests'),
  ];
}

/** Network metrics of SPEC §3: every stored counter, the delays, and sums and ratios of pairs. */
function networkMetrics(): MetricSpec[] {
  const out: MetricSpec[] = [];
  // A delay is stored as x_sum, x_count and x_max; `syn_count` and the like are plain counters.
  const delays = new Set(NETWORK_METRICS.filter((m) => m.name.endsWith('_sum')).map((m) => m.name.slice(0, -4)));
  for (const m of NETWORK_METRICS) {
    const d = /^(.*)_(sum|count|max)$/.exec(m.name);
    if (d && delays.has(d[1])) continue;
    out.push(counter(m.name, [m.name], m.unit === 'µs' ? 'count' : m.unit, m.description));
  }
  for (const base of delays) {
    const sum = NETWORK_METRICS.find((m) => m.name === `${base}_sum`);
    out.push(delay(base, (sum?.description ?? base).replace(/: sum of samples$/, ''), (HISTOGRAM_DELAYS as readonly string[]).includes(base)));
  }
  for (const [base, unit, what] of [
    ['byte', 'bytes', 'frame bytes, both directions'],
    ['l4_byte', 'bytes', 'payload bytes, both directions'],
    ['packet', 'packets', 'packets, both directions'],
    ['retrans', 'packets', 'retransmitted segments, both directions'],
    ['zero_win', 'packets', 'zero-window segments, both directions'],
    ['ooo', 'packets', 'out-of-order segments, both directions'],
  ] as const) {
    out.push(counter(base, [`${base}_tx`, `${base}_rx`], unit, what));
  }
  out.push(
    counter('establish_fail', ['client_establish_fail', 'server_establish_fail'], 'flows', 'handshakes failed by either side'),
    ratio('retrans_ratio', ['retrans_tx', 'retrans_rx'], ['packet_tx', 'packet_rx'], 'retransmitted ÷ all packets'),
    ratio('zero_win_ratio', ['zero_win_tx', 'zero_win_rx'], ['packet_tx', 'packet_rx'], 'zero-window ÷ all packets'),
    ratio('establish_fail_ratio', ['client_establish_fail', 'server_establish_fail'], ['new_flow'], 'failed handshakes ÷ new flows'),
    ratio('l7_error_ratio', ['l7_error'], ['l7_response'], 'application errors ÷ responses'),
  );
  return out;
}

const LOG_VALUE_AGGS: Aggregation[] = ['avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99'];

/** Rows of a log matching `condition` (all rows without one), per bucket or per second. */
function logCount(name: string, rateUnit: string, description: string, condition?: string): MetricSpec {
  return { name, unit: 'short', rateUnit, description, aggregations: ['count', 'rate'], how: { kind: 'log', condition } };
}

/** A numeric column of the log rows matching `condition`: mean, extremes and exact quantiles. */
function logValue(name: string, description: string, condition: string): MetricSpec {
  return { name, unit: 'µs', rateUnit: 'µs', description, aggregations: LOG_VALUE_AGGS, how: { kind: 'log', column: name, condition } };
}

function l7LogMetrics(): MetricSpec[] {
  return [
    logCount('log_count', 'reqps', 'request log rows'),
    logCount('error_count', 'reqps', 'requests answered with an error status', "response_status IN ('client_error', 'server_error')"),
    logCount('timeout_count', 'reqps', 'requests that timed out', "response_status = 'timeout'"),
    logValue('response_duration', 'response time of answered requests', "type = 'session'"),
  ];
}

function l4LogMetrics(): MetricSpec[] {
  return [
    logCount('log_count', 'cps', 'flow log rows'),
    logCount('closed_flows', 'cps', 'flows that ended', 'is_closed = 1'),
    logValue('duration', 'flow duration at its last report', 'is_closed = 1'),
  ];
}

function tagsOf(t: TableDef): TagSpec[] {
  return t.columns.filter((c) => c.name !== 'time' && mergeFunction(c.name) === undefined && !c.type.startsWith('Map(')).map((c) => ({ name: c.name, type: c.type }));
}

function logTags(t: TableDef): TagSpec[] {
  const metricColumns = new Set(NETWORK_METRICS.map((m) => m.name));
  return t.columns.filter((c) => c.name !== 'time' && !metricColumns.has(c.name) && !c.type.startsWith('Map(')).map((c) => ({ name: c.name, type: c.type }));
}

const table = (name: string): TableDef => {
  const t = ALL_TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`no table ${name}`);
  return t;
};

function metricType(name: DataType, description: string, base: string, metrics: MetricSpec[]): DataTypeSpec {
  const tables = { '1s': table(`${base}_1s`), '1m': table(`${base}_1m`) };
  return { name, description, tables, log: false, metrics, tags: tagsOf(tables['1m']) };
}

export const CATALOG: Record<DataType, DataTypeSpec> = {
  application: metricType('application', 'RED metrics per service endpoint (server side)', 'application', applicationMetrics()),
  application_map: metricType('application_map', 'RED metrics per client → server pair and endpoint', 'application_map', applicationMetrics()),
  network: metricType('network', 'network metrics per endpoint and role', 'network', networkMetrics()),
  network_map: metricType('network_map', 'network metrics per client → server pair', 'network_map', networkMetrics()),
  l7_flow_log: {
    name: 'l7_flow_log',
    description: 'request log: one row per request/response session',
    tables: { '1s': table('l7_flow_log') },
    log: true,
    metrics: l7LogMetrics(),
    tags: logTags(table('l7_flow_log')),
  },
  l4_flow_log: {
    name: 'l4_flow_log',
    description: 'flow log: one row per flow and minute, and at close',
    tables: { '1s': table('l4_flow_log') },
    log: true,
    metrics: l4LogMetrics(),
    tags: logTags(table('l4_flow_log')),
  },
};

/** `observation_point` is accepted wherever `tap_side` is (SPEC §1). */
export function canonicalTag(name: string): string {
  return name === 'observation_point' ? 'tap_side' : name;
}
