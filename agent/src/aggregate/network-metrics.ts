import { CLOSE_TYPES } from '../flow/close-type';

/**
 * The metrics of the network tables (SPEC §3), in the order of the aggregation slab and of the
 * table columns. Every `_tx` is immediately followed by its `_rx`, so code adds a direction
 * (0 = client→server, 1 = server→client) to the `_tx` index. Delays are stored as
 * `_sum`/`_count`/`_max` in µs; averages are computed at query time.
 */
export interface MetricDef {
  name: string;
  /** How rows merge: counters add up, maxima take the larger value. */
  merge: 'sum' | 'max';
  unit: 'count' | 'bytes' | 'packets' | 'flows' | 'µs' | 'requests';
  description: string;
}

const pair = (base: string, unit: MetricDef['unit'], what: string): MetricDef[] => [
  { name: `${base}_tx`, merge: 'sum', unit, description: `${what}, client→server (map) / sent by the endpoint` },
  { name: `${base}_rx`, merge: 'sum', unit, description: `${what}, server→client (map) / received by the endpoint` },
];

const delay = (base: string, what: string): MetricDef[] => [
  { name: `${base}_sum`, merge: 'sum', unit: 'µs', description: `${what}: sum of samples` },
  { name: `${base}_count`, merge: 'sum', unit: 'count', description: `${what}: number of samples` },
  { name: `${base}_max`, merge: 'max', unit: 'µs', description: `${what}: largest sample` },
];

const counter = (name: string, unit: MetricDef['unit'], description: string): MetricDef => ({ name, merge: 'sum', unit, description });

/** Delays that also keep a fixed log2 histogram for percentiles. */
export const HISTOGRAM_DELAYS = ['rtt', 'srt', 'art'] as const;
/** Bucket k counts samples below 2^k µs (and at least 2^(k-1)); the last bucket is open-ended. */
export const HISTOGRAM_BUCKETS = 24;

export const NETWORK_METRICS: readonly MetricDef[] = [
  ...pair('byte', 'bytes', 'frame bytes'),
  ...pair('l3_byte', 'bytes', 'IP bytes (header and payload)'),
  ...pair('l4_byte', 'bytes', 'transport payload bytes'),
  ...pair('packet', 'packets', 'packets'),
  counter('new_flow', 'flows', 'flows that started in the interval'),
  counter('closed_flow', 'flows', 'flows that ended in the interval'),
  counter('flow_load', 'flows', 'flows active in the interval'),
  counter('syn_count', 'packets', 'SYN segments (without ACK)'),
  counter('synack_count', 'packets', 'SYN-ACK segments'),
  ...pair('retrans', 'packets', 'retransmitted data segments'),
  counter('retrans_syn', 'packets', 'retransmitted SYN segments'),
  counter('retrans_synack', 'packets', 'retransmitted SYN-ACK segments'),
  ...pair('zero_win', 'packets', 'segments advertising a zero window'),
  ...pair('ooo', 'packets', 'out-of-order data segments (filling a gap)'),
  counter('rst_count', 'packets', 'RST segments'),
  counter('fin_count', 'packets', 'FIN segments'),
  ...delay('rtt', 'round trip time of the handshake, first SYN → handshake ACK'),
  ...delay('rtt_client', 'client-side RTT, SYN-ACK → handshake ACK'),
  ...delay('rtt_server', 'server-side RTT, last SYN → SYN-ACK'),
  ...delay('srt', 'system response time, client data → server pure ACK'),
  ...delay('art', 'application response time, last request data → first response data'),
  ...delay('cit', 'client idle time, last response data → next request data'),
  counter('client_establish_fail', 'flows', 'handshakes failed by the client'),
  counter('server_establish_fail', 'flows', 'handshakes failed by the server'),
  counter('tcp_transfer_fail', 'flows', 'established flows that timed out'),
  counter('tcp_rst_fail', 'flows', 'established flows reset by either side'),
  counter('client_half_close_flow', 'flows', 'flows closed by the client only'),
  counter('server_half_close_flow', 'flows', 'flows closed by the server only'),
  ...CLOSE_TYPES.filter((t) => t !== 'none').map((t) => counter(`close_${t}`, 'flows', `flows that ended with close type ${t}`)),
  counter('l7_request', 'requests', 'application requests'),
  counter('l7_response', 'requests', 'application responses'),
  counter('l7_error', 'requests', 'responses with an error status'),
  counter('l7_client_error', 'requests', 'responses with a client error status'),
  counter('l7_server_error', 'requests', 'responses with a server error status'),
  counter('l7_timeout', 'requests', 'requests without a response'),
  ...delay('l7_rrt', 'application response time of requests'),
];

export const METRIC_COUNT = NETWORK_METRICS.length;

function indexByName(defs: readonly MetricDef[]): Record<string, number> {
  const out: Record<string, number> = {};
  defs.forEach((d, i) => (out[d.name] = i));
  return out;
}

/** Slab offsets by metric name. */
export const NM = indexByName(NETWORK_METRICS);

/** Slab offset of the first histogram bucket of each histogram delay; buckets follow the metrics. */
export const HISTOGRAM_OFFSET: Record<(typeof HISTOGRAM_DELAYS)[number], number> = {
  rtt: METRIC_COUNT,
  srt: METRIC_COUNT + HISTOGRAM_BUCKETS,
  art: METRIC_COUNT + 2 * HISTOGRAM_BUCKETS,
};

/** Numbers per row in an aggregation slab: the metrics, then the histograms. */
export const ROW_WIDTH = METRIC_COUNT + HISTOGRAM_DELAYS.length * HISTOGRAM_BUCKETS;

export function histogramBucket(us: number): number {
  if (us < 1) return 0;
  const k = 32 - Math.clz32(Math.floor(us));
  return k < HISTOGRAM_BUCKETS ? k : HISTOGRAM_BUCKETS - 1;
}

export const MERGE_MAX = NETWORK_METRICS.map((d) => d.merge === 'max');
