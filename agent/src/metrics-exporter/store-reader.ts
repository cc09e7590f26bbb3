/**
 * What `/metrics` reads from the store: RED totals per service endpoint from `application_1m`,
 * network totals per client → server edge from `network_map_1m`, and the newest stored second of
 * each kind of data. The minute tables are read because they hold everything the store keeps
 * (seven days by default) in a sixtieth of the per-second rows; the live agent's minute rows are
 * filled as its seconds are inserted (application) or when a minute closes (network).
 */
import { Store } from '../store/store';
import { qualified, tableByName, TableDef } from '../store/tables';
import { GroupedRow } from './series-cap';
import { histogramFromStore } from './log2-histogram';

/**
 * Labels of the RED families: OpenTelemetry's attribute names where the concept is the same
 * (`service.name`, `host.name`), MetaFlow's own otherwise (SPEC §1–§2).
 */
export const RED_LABELS = ['host_name', 'service_name', 'endpoint', 'l7_protocol', 'tap_side'] as const;
export type RedLabel = (typeof RED_LABELS)[number];
export const RED_COUNTS = ['request', 'response', 'client_error', 'server_error', 'timeout'] as const;
export type RedCount = (typeof RED_COUNTS)[number];
export type ApplicationRow = GroupedRow<RedLabel, RedCount>;

/** Labels of the per-edge network families (`network.transport` for tcp/udp). */
export const EDGE_LABELS = ['host_name', 'client_service_name', 'server_service_name', 'network_transport', 'tap_side'] as const;
export type EdgeLabel = (typeof EDGE_LABELS)[number];
export const EDGE_COUNTS = [
  'byte_tx',
  'byte_rx',
  'packet_tx',
  'packet_rx',
  'retrans_tx',
  'retrans_rx',
  'client_establish_fail',
  'server_establish_fail',
  'tcp_transfer_fail',
  'tcp_rst_fail',
] as const;
export type EdgeCount = (typeof EDGE_COUNTS)[number];
export type NetworkRow = GroupedRow<EdgeLabel, EdgeCount>;

/** Kinds of data whose freshness is exported, with the per-second table that shows it first. */
export const DATA_KINDS = { network: 'network_map_1s', application: 'application_map_1s', l7_flow_log: 'l7_flow_log' } as const;
export type DataKind = keyof typeof DATA_KINDS;

const RED_COLUMNS: Record<RedLabel, string> = { host_name: 'host', service_name: 'service', endpoint: 'endpoint', l7_protocol: 'l7_protocol', tap_side: 'tap_side' };
const EDGE_COLUMNS: Record<EdgeLabel, string> = {
  host_name: 'host',
  client_service_name: 'service_0',
  server_service_name: 'service_1',
  network_transport: 'protocol',
  tap_side: 'tap_side',
};

interface GroupedQuery<L extends string, C extends string> {
  table: TableDef;
  columns: Record<L, string>;
  counts: readonly C[];
  /** The delay whose `_sum` and `_hist` columns make the family's histogram. */
  histogram: string;
  /** Busiest first, so the series cap keeps the label sets that matter most. */
  busiest: string;
}

const APPLICATION_QUERY: GroupedQuery<RedLabel, RedCount> = {
  table: tableByName('application_1m'),
  columns: RED_COLUMNS,
  counts: RED_COUNTS,
  histogram: 'rrt',
  busiest: 'request + response',
};

const NETWORK_QUERY: GroupedQuery<EdgeLabel, EdgeCount> = {
  table: tableByName('network_map_1m'),
  columns: EDGE_COLUMNS,
  counts: EDGE_COUNTS,
  histogram: 'rtt',
  busiest: 'byte_tx + byte_rx',
};

/** Only this agent's rows when `host` is set (a ClickHouse server shared by several agents). */
function hostCondition(host: string | undefined): string {
  return host === undefined ? '' : '\nWHERE host = {host:String}';
}

export function groupedSql<L extends string, C extends string>(q: GroupedQuery<L, C>, host?: string): string {
  const labels = Object.entries<string>(q.columns).map(([label, column]) => `${column} AS ${label}`);
  const sums = q.counts.map((c) => `sum(${c}) AS ${c}`);
  const keys = Object.keys(q.columns).join(', ');
  return (
    `SELECT ${[...labels, ...sums, `sum(${q.histogram}_sum) AS hist_sum`, `sumMap(${q.histogram}_hist) AS hist`].join(', ')}\n` +
    `FROM ${qualified(q.table)}${hostCondition(host)}\n` +
    `GROUP BY ${keys}\n` +
    `ORDER BY ${q.busiest} DESC, ${keys}`
  );
}

type StoredRow = Record<string, string | number | Record<string, number | string>>;

async function readGrouped<L extends string, C extends string>(store: Store, q: GroupedQuery<L, C>, host?: string): Promise<GroupedRow<L, C>[]> {
  const rows = await store.query<StoredRow>(groupedSql(q, host), host === undefined ? undefined : { host });
  return rows.map((r) => ({
    labels: Object.fromEntries(Object.keys(q.columns).map((label) => [label, String(r[label] ?? '')])) as Record<L, string>,
    // UInt64 sums arrive as strings from a ClickHouse server (JSON quotes 64-bit integers).
    counts: Object.fromEntries(q.counts.map((c) => [c, Number(r[c] ?? 0)])) as Record<C, number>,
    histogram: histogramFromStore(r.hist as Record<string, number | string>, r.hist_sum as number | string),
  }));
}

export function readApplicationRows(store: Store, host?: string): Promise<ApplicationRow[]> {
  return readGrouped(store, APPLICATION_QUERY, host);
}

export function readNetworkRows(store: Store, host?: string): Promise<NetworkRow[]> {
  return readGrouped(store, NETWORK_QUERY, host);
}

/** Epoch seconds of the newest stored second per kind of data; kinds without rows are left out. */
export async function readNewestData(store: Store, host?: string): Promise<Partial<Record<DataKind, number>>> {
  const sql = Object.entries(DATA_KINDS)
    .map(([kind, table]) => `SELECT '${kind}' AS kind, toUnixTimestamp(max(time)) AS newest FROM ${qualified(tableByName(table))}${hostCondition(host)}`)
    .join('\nUNION ALL\n');
  const rows = await store.query<{ kind: DataKind; newest: number | string }>(sql, host === undefined ? undefined : { host });
  const out: Partial<Record<DataKind, number>> = {};
  // max() over no rows is the epoch itself.
  for (const r of rows) if (Number(r.newest) > 0) out[r.kind] = Number(r.newest);
  return out;
}
