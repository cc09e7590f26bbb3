import { DataQuery, DataSourceJsonData } from '@grafana/schema';

/**
 * Version of the MetaFlowQuery model. Saved queries carry it (and the plugin version that saved
 * them) so that `migrateQuery` can bring any older query up to date.
 */
export const QUERY_MODEL_VERSION = 2;

export type DataType = 'application' | 'application_map' | 'network' | 'network_map' | 'l7_flow_log' | 'l4_flow_log';
export const DATA_TYPES: Array<{ value: DataType; label: string; description: string }> = [
  { value: 'application', label: 'Application (RED)', description: 'requests, errors and response time per service endpoint' },
  { value: 'application_map', label: 'Application map', description: 'RED per client → server pair' },
  { value: 'network', label: 'Network', description: 'throughput, delays, retransmissions, failures per endpoint' },
  { value: 'network_map', label: 'Network map', description: 'network metrics per client → server pair' },
  { value: 'l7_flow_log', label: 'Request log', description: 'one row per request/response' },
  { value: 'l4_flow_log', label: 'Flow log', description: 'one row per flow and minute' },
];

export const LOG_DATA_TYPES: DataType[] = ['l7_flow_log', 'l4_flow_log'];

export type Aggregation = 'sum' | 'rate' | 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p95' | 'p99' | 'ratio' | 'count';
export type FilterOperator = '=' | '!=' | 'in' | 'not in' | 'like' | 'not like' | 'regex' | 'not regex';
export const FILTER_OPERATORS: FilterOperator[] = ['=', '!=', 'in', 'not in', 'like', 'not like', 'regex', 'not regex'];

export interface MetricSelection {
  metric: string;
  aggregation?: Aggregation;
  alias?: string;
}

export interface TagFilter {
  tag: string;
  op: FilterOperator;
  /** One value, or several for `in` / `not in`; may hold `$variables`. */
  values: string[];
}

export type QueryMode = 'builder' | 'sql' | 'map';
export type MapLevel = 'service' | 'process' | 'ip' | 'host' | 'container';
export type ResultFormat = 'time_series' | 'table' | 'logs';

/** A query of the MetaFlow data source, as stored in dashboards. */
export interface MetaFlowQuery extends DataQuery {
  version: number;
  /** Plugin version that last saved the query. */
  pluginVersion?: string;
  mode: QueryMode;
  dataType: DataType;
  interval: 'auto' | '1s' | '1m';
  metrics: MetricSelection[];
  groupBy: string[];
  filters: TagFilter[];
  /** Observation points to read; empty: the data source's default. */
  tapSide: string[];
  orderBy: Array<{ by: string; desc: boolean }>;
  limit?: number;
  format: ResultFormat;
  /** Series name with `${tag}` and `${metric}` placeholders. */
  legend?: string;
  sql?: string;
  sqlFormat?: 'table' | 'time_series';
  /** Service map: what a node is, and one observation point per edge or all of them. */
  mapLevel?: MapLevel;
  mapTapSideMode?: 'preferred' | 'all';
  /**
   * Values for template variables where no dashboard supplies them: alert rules, recorded
   * queries, Explore. A dashboard's own variables take precedence.
   */
  variables?: Record<string, string | string[]>;
}

export const DEFAULT_QUERY: Omit<MetaFlowQuery, 'refId'> = {
  version: QUERY_MODEL_VERSION,
  mode: 'builder',
  dataType: 'application',
  interval: 'auto',
  metrics: [{ metric: 'request', aggregation: 'rate' }],
  groupBy: ['service'],
  filters: [],
  tapSide: [],
  orderBy: [],
  format: 'time_series',
};

/** Settings stored in the data source's jsonData (the token lives in secureJsonData). */
export interface MetaFlowDataSourceOptions extends DataSourceJsonData {
  /** Address of the MetaFlow query API, e.g. http://127.0.0.1:20416. */
  apiUrl?: string;
  /** Observation points a query reads when it names none (SPEC §1), e.g. ['s'] or ['s-p', 's']. */
  defaultTapSide?: string[];
}

export interface MetaFlowSecureJsonData {
  apiToken?: string;
}

/** What a template variable query asks for: the values of a tag. */
export interface MetaFlowVariableQuery {
  dataType: DataType;
  tag: string;
  /** Only values starting with this text. */
  prefix?: string;
}

/** The data frames the query API returns (Grafana's DataFrameDTO shape). */
export interface ApiFrame {
  name?: string;
  fields: Array<{ name: string; type: string; values: unknown[]; config?: Record<string, unknown>; labels?: Record<string, string> }>;
  meta?: Record<string, unknown>;
}

export interface MetricInfo {
  name: string;
  unit: string;
  description: string;
  aggregations: Aggregation[];
}
