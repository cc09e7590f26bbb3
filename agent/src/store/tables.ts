import { HISTOGRAM_DELAYS, NETWORK_METRICS } from '../aggregate/network-metrics';

/**
 * Every table of SPEC §2, as column lists. The DDL, the row writers and the query layer all read
 * these lists, so a column is declared once.
 */
export interface Column {
  name: string;
  type: string;
}

export interface TableDef {
  database: 'flow_metrics' | 'flow_log';
  name: string;
  columns: Column[];
  /**
   * Tables ClickHouse fills itself from another table through a materialized view: rows are
   * partial aggregates (AggregatingMergeTree) merged in the background, and queries sum them.
   */
  derivedFrom?: Derivation;
  orderBy: string[];
  /** Partition expression over `time`. */
  partitionBy: string;
  /**
   * Default retention in days, counted from when the row was stored (`inserted_at`), so a replayed
   * capture from years ago is kept as long as live data rather than dropped on arrival.
   */
  ttlDays: number;
  timeColumn: string;
}

const c = (name: string, type: string): Column => ({ name, type });
const lc = (name: string): Column => c(name, 'LowCardinality(String)');

const commonTags: Column[] = [
  lc('tap_side'),
  lc('signal_source'),
  lc('host'),
  lc('protocol'),
  lc('l7_protocol'),
];

const twoSidedTags: Column[] = [
  c('ip_0', 'String'),
  c('ip_1', 'String'),
  c('port_1', 'UInt16'),
  lc('service_0'),
  lc('service_1'),
  lc('process_0'),
  lc('process_1'),
  c('pid_0', 'UInt32'),
  c('pid_1', 'UInt32'),
  lc('container_0'),
  lc('container_1'),
];

const oneSidedTags: Column[] = [
  c('ip', 'String'),
  c('server_port', 'UInt16'),
  lc('role'),
  lc('service'),
  lc('process'),
  c('pid', 'UInt32'),
  lc('container'),
];

/** A derived table's source and how its rows are made from the source's rows. */
export interface Derivation {
  source: string;
  /** Truncate `time` to the minute. */
  toMinute: boolean;
  /**
   * `same`: the source's columns; `both`: one row per side of each two-sided source row (`role`
   * client / server, `_tx` from that endpoint's view); `server`: the server side only.
   */
  sides: 'same' | 'both' | 'server';
  /**
   * A materialized view into an AggregatingMergeTree table, or a plain view computed when
   * queried. Per-second single-sided tables are plain views: materializing them doubled the
   * store's write work (every map row becomes two endpoint rows) for data kept one day.
   */
  materialized: boolean;
}

/** Log2 µs bucket → count: a sparse histogram, merged with sumMap. */
const HISTOGRAM_TYPE = 'Map(UInt8, UInt64)';

const networkMetricColumns: Column[] = [
  ...NETWORK_METRICS.map((m) => c(m.name, 'UInt64')),
  ...HISTOGRAM_DELAYS.map((d) => c(`${d}_hist`, HISTOGRAM_TYPE)),
];

/** Application (RED) metrics per SPEC §3; `rrt_hist` keeps log2 µs buckets for percentiles. */
export const APPLICATION_METRICS = [
  'request',
  'response',
  'error',
  'client_error',
  'server_error',
  'timeout',
  'rrt_sum',
  'rrt_count',
  'rrt_max',
] as const;

const applicationMetricColumns: Column[] = [...APPLICATION_METRICS.map((m) => c(m, 'UInt64')), c('rrt_hist', HISTOGRAM_TYPE)];

function table(name: string, columns: Column[], identity: string[], perSecond: boolean, derivedFrom?: Derivation): TableDef {
  return {
    database: 'flow_metrics',
    name,
    columns: [c('time', 'DateTime'), ...columns],
    orderBy: ['time', ...identity],
    partitionBy: perSecond ? 'toStartOfHour(time)' : 'toYYYYMMDD(time)',
    ttlDays: perSecond ? 1 : 7,
    timeColumn: 'time',
    derivedFrom,
  };
}

/**
 * The agent writes the map tables (client → server pairs) per second and per minute; ClickHouse
 * derives the single-sided tables (one row per endpoint and role) from them: per second as a
 * plain view, per minute through a materialized view. Folding seconds into minutes in the agent
 * measured cheaper than a grouping view over every second row.
 */
export const NETWORK_MAP_TABLES: TableDef[] = [
  table('network_map_1s', [...commonTags, ...twoSidedTags, ...networkMetricColumns], ['ip_1', 'port_1', 'ip_0', 'tap_side'], true),
  table('network_map_1m', [...commonTags, ...twoSidedTags, ...networkMetricColumns], ['ip_1', 'port_1', 'ip_0', 'tap_side'], false),
];
export const NETWORK_TABLES: TableDef[] = [
  table('network_1s', [...commonTags, ...oneSidedTags, ...networkMetricColumns], ['ip', 'server_port', 'tap_side', 'role'], true, {
    source: 'network_map_1s',
    toMinute: false,
    sides: 'both',
    materialized: false,
  }),
  table('network_1m', [...commonTags, ...oneSidedTags, ...networkMetricColumns], ['ip', 'server_port', 'tap_side', 'role'], false, {
    source: 'network_map_1m',
    toMinute: false,
    sides: 'both',
    materialized: true,
  }),
];
const applicationTags = [...oneSidedTags.filter((col) => col.name !== 'role'), lc('endpoint')];
export const APPLICATION_MAP_TABLES: TableDef[] = [
  table('application_map_1s', [...commonTags, ...twoSidedTags, lc('endpoint'), ...applicationMetricColumns], ['service_1', 'endpoint', 'service_0', 'tap_side'], true),
  table('application_map_1m', [...commonTags, ...twoSidedTags, lc('endpoint'), ...applicationMetricColumns], ['service_1', 'endpoint', 'service_0', 'tap_side'], false, {
    source: 'application_map_1s',
    toMinute: true,
    sides: 'same',
    materialized: true,
  }),
];
export const APPLICATION_TABLES: TableDef[] = [
  table('application_1s', [...commonTags, ...applicationTags, ...applicationMetricColumns], ['service', 'endpoint', 'tap_side'], true, {
    source: 'application_map_1s',
    toMinute: false,
    sides: 'server',
    materialized: false,
  }),
  table('application_1m', [...commonTags, ...applicationTags, ...applicationMetricColumns], ['service', 'endpoint', 'tap_side'], false, {
    source: 'application_map_1s',
    toMinute: true,
    sides: 'server',
    materialized: true,
  }),
];

const flowTuple: Column[] = [
  c('flow_id', 'UInt64'),
  c('ip_0', 'String'),
  c('ip_1', 'String'),
  c('port_0', 'UInt16'),
  c('port_1', 'UInt16'),
];

export const L4_FLOW_LOG: TableDef = {
  database: 'flow_log',
  name: 'l4_flow_log',
  columns: [
    c('time', 'DateTime'),
    ...commonTags,
    ...flowTuple,
    lc('service_0'),
    lc('service_1'),
    lc('process_0'),
    lc('process_1'),
    c('pid_0', 'UInt32'),
    c('pid_1', 'UInt32'),
    lc('container_0'),
    lc('container_1'),
    c('vlan', 'UInt16'),
    c('start_time', 'DateTime64(6)'),
    c('end_time', 'DateTime64(6)'),
    c('duration', 'UInt64'),
    c('direction_score', 'UInt8'),
    c('tcp_flags_0', 'UInt8'),
    c('tcp_flags_1', 'UInt8'),
    ...NETWORK_METRICS.slice(0, NETWORK_METRICS.findIndex((m) => m.name === 'cit_max') + 1)
      .filter((m) => !['new_flow', 'closed_flow', 'flow_load'].includes(m.name))
      .map((m) => c(m.name, 'UInt64')),
    lc('close_type'),
    lc('status'),
    c('is_new_flow', 'UInt8'),
    c('is_closed', 'UInt8'),
  ],
  orderBy: ['time', 'ip_1', 'port_1', 'ip_0', 'flow_id'],
  partitionBy: 'toYYYYMMDD(time)',
  ttlDays: 3,
  timeColumn: 'time',
};

export const L7_FLOW_LOG: TableDef = {
  database: 'flow_log',
  name: 'l7_flow_log',
  columns: [
    c('time', 'DateTime'),
    ...commonTags,
    ...flowTuple,
    lc('service_0'),
    lc('service_1'),
    lc('process_0'),
    lc('process_1'),
    c('pid_0', 'UInt32'),
    c('pid_1', 'UInt32'),
    lc('container_0'),
    lc('container_1'),
    c('start_time', 'DateTime64(6)'),
    c('end_time', 'DateTime64(6)'),
    // 'session' (request and response), 'request' (no response seen) or 'response' (its request
    // was not captured), so a log reader knows which of start/end time was observed.
    lc('type'),
    lc('version'),
    lc('request_type'),
    c('request_domain', 'String'),
    c('request_resource', 'String'),
    lc('endpoint'),
    c('request_id', 'UInt64'),
    lc('response_status'),
    c('response_code', 'Int32'),
    c('response_exception', 'String'),
    c('response_duration', 'UInt64'),
    c('request_length', 'Int64'),
    c('response_length', 'Int64'),
    c('trace_id', 'String'),
    c('span_id', 'String'),
    c('parent_span_id', 'String'),
    c('x_request_id', 'String'),
    c('attributes', 'Map(String, String)'),
  ],
  orderBy: ['time', 'service_1', 'endpoint', 'flow_id'],
  partitionBy: 'toYYYYMMDD(time)',
  ttlDays: 3,
  timeColumn: 'time',
};

/** What each capture source read: packets, bytes and the reasons packets were not analysed. */
export const CAPTURE_STATS: TableDef = {
  database: 'flow_metrics',
  name: 'capture_stats_1m',
  columns: [
    c('time', 'DateTime'),
    lc('host'),
    lc('signal_source'),
    lc('source'),
    c('packets', 'UInt64'),
    c('bytes', 'UInt64'),
    c('malformed', 'Map(LowCardinality(String), UInt64)'),
    c('skipped', 'Map(LowCardinality(String), UInt64)'),
    c('flow_table_overflow', 'UInt64'),
    c('dropped_rows', 'UInt64'),
    c('l7_records', 'UInt64'),
    c('l7_endpoints_folded', 'UInt64'),
  ],
  orderBy: ['time', 'host', 'source'],
  partitionBy: 'toYYYYMMDD(time)',
  ttlDays: 7,
  timeColumn: 'time',
};

/**
 * Times the live capture was down: the loader died and was restarted (or the agent gave up or
 * stopped before it was back). One row per gap, written when it ends.
 */
export const CAPTURE_GAPS: TableDef = {
  database: 'flow_metrics',
  name: 'capture_gaps',
  columns: [
    c('time', 'DateTime'),
    lc('host'),
    lc('source'),
    // From the dead loader's last output (all it captured before was delivered; it writes at
    // least every second) to the next loader being ready, or the agent's stop.
    c('start_time', 'DateTime64(6)'),
    c('end_time', 'DateTime64(6)'),
    c('duration_us', 'UInt64'),
    // How the loader ended (`killed by SIGKILL`, `exit 1`); the first death of the gap.
    c('reason', 'String'),
    // Loader runs that ended in this gap: 1, more when a restarted loader died before it was ready.
    c('crashes', 'UInt32'),
    c('loader_pid', 'UInt32'),
    // The loader that ended the gap; 0 when capture did not resume (the agent stopped or gave up).
    c('next_loader_pid', 'UInt32'),
  ],
  orderBy: ['time', 'host'],
  partitionBy: 'toYYYYMMDD(time)',
  ttlDays: 7,
  timeColumn: 'time',
};

/** In creation order: a derived table after its source. */
export const ALL_TABLES: TableDef[] = [
  ...NETWORK_MAP_TABLES,
  ...NETWORK_TABLES,
  ...APPLICATION_MAP_TABLES,
  ...APPLICATION_TABLES,
  L4_FLOW_LOG,
  L7_FLOW_LOG,
  CAPTURE_STATS,
  CAPTURE_GAPS,
];

const METRIC_NAMES = new Set<string>([...NETWORK_METRICS.map((m) => m.name), ...APPLICATION_METRICS]);

/** How a column merges when rows roll up: tags do not, metrics by their function. */
export function mergeFunction(column: string): 'sum' | 'max' | 'sumMap' | undefined {
  if (column.endsWith('_hist')) return 'sumMap';
  if (!METRIC_NAMES.has(column)) return undefined;
  return column.endsWith('_max') ? 'max' : 'sum';
}

export function tableByName(name: string): TableDef {
  const t = ALL_TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`unknown table ${name}`);
  return t;
}

export function qualified(t: TableDef): string {
  return `${t.database}.${t.name}`;
}
