/** Options of the service map panel (saved in dashboards; `migrateOptions` brings older ones up to date). */

/** Version of the options model this plugin writes. */
export const OPTIONS_VERSION = 1;

/** How nodes are merged by the panel, on top of the level the query grouped by. */
export type Grouping = 'none' | 'address' | 'external';
/** One edge per client → server pair (the most trusted observation point) or one per observation point. */
export type TapSideMode = 'preferred' | 'all';
export type ColorMetric = 'errorRatio' | 'rrtAvg' | 'none';
export type SizeMetric = 'requestRate' | 'bytes' | 'none';
export type WidthMetric = 'requestRate' | 'bytes' | 'none';
export type LabelMode = 'auto' | 'always' | 'never';

export interface Thresholds {
  warning: number;
  critical: number;
}

export interface LinkOptions {
  /** Built-in links (request log in Explore, RED dashboard) in the click menu. */
  builtIn: boolean;
  /** Data source of the request-log link; empty: the one that answered the panel's query. May hold `$variables`. */
  datasourceUid: string;
  /** URL of the RED dashboard link of a service; may hold `$variables` and `${__data.fields.<name>}`. */
  redDashboardUrl: string;
}

export interface ServiceMapOptions {
  version: number;
  grouping: Grouping;
  tapSideMode: TapSideMode;
  colorBy: ColorMetric;
  /** Error ratio thresholds, in percent. */
  errorThresholds: Thresholds;
  /** Average response time thresholds, in milliseconds. */
  latencyThresholds: Thresholds;
  sizeBy: SizeMetric;
  widthBy: WidthMetric;
  labels: LabelMode;
  links: LinkOptions;
}

export const DEFAULT_RED_DASHBOARD_URL = '/d/metaflow-red/metaflow-red-overview?var-service=${__data.fields.id}&${__url_time_range}';

export const DEFAULT_OPTIONS: ServiceMapOptions = {
  version: OPTIONS_VERSION,
  grouping: 'none',
  tapSideMode: 'preferred',
  colorBy: 'errorRatio',
  errorThresholds: { warning: 1, critical: 5 },
  latencyThresholds: { warning: 100, critical: 500 },
  sizeBy: 'requestRate',
  widthBy: 'requestRate',
  labels: 'auto',
  links: { builtIn: true, datasourceUid: '', redDashboardUrl: DEFAULT_RED_DASHBOARD_URL },
};

export const GROUPINGS: Array<{ value: Grouping; label: string; description: string }> = [
  { value: 'none', label: 'As queried', description: 'one node per node of the query' },
  { value: 'address', label: 'Address', description: 'the ports of one address as one node' },
  { value: 'external', label: 'External clients', description: 'all external clients as one node' },
];
export const TAP_SIDE_MODES: Array<{ value: TapSideMode; label: string; description: string }> = [
  { value: 'preferred', label: 'One per edge', description: 'the most trusted observation point of each client → server pair' },
  { value: 'all', label: 'All', description: 'an edge per observation point, side by side' },
];
export const COLOR_METRICS: Array<{ value: ColorMetric; label: string }> = [
  { value: 'errorRatio', label: 'Error ratio' },
  { value: 'rrtAvg', label: 'Response time' },
  { value: 'none', label: 'None' },
];
export const SIZE_METRICS: Array<{ value: SizeMetric; label: string }> = [
  { value: 'requestRate', label: 'Request rate' },
  { value: 'bytes', label: 'Bytes' },
  { value: 'none', label: 'Fixed' },
];
export const WIDTH_METRICS: Array<{ value: WidthMetric; label: string }> = SIZE_METRICS;
export const LABEL_MODES: Array<{ value: LabelMode; label: string }> = [
  { value: 'auto', label: 'Auto' },
  { value: 'always', label: 'Always' },
  { value: 'never', label: 'Never' },
];
