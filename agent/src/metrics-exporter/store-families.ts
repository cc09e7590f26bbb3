/**
 * The families read from the store: RED per service endpoint and network per edge.
 *
 * Names follow OpenTelemetry's semantic conventions mapped to Prometheus where the concept is
 * the same — a `*_duration_seconds` histogram like `http.server.request.duration`, and the labels
 * `service_name`, `host_name`, `error_type`, `network_transport` — under the `metaflow_`
 * namespace, because one family covers every protocol MetaFlow parses (HTTP, gRPC, MySQL,
 * Redis, DNS …), not HTTP alone. `tap_side` is always a label: the same request is seen at
 * several observation points and a row is kept per point, so series must not be added across
 * tap sides (SPEC §1).
 *
 * The counters are totals over what the store holds, so `serve` on a store filled by `replay`
 * exposes them as well as a live agent does. When retention drops old data (TTL, by whole parts)
 * a total goes down, which Prometheus reads as a counter reset: `rate()` and `increase()` over a
 * window that contains the drop count the remaining total once more.
 */
import { AnyRegistry, collectedCounter, Sample } from './collected-metrics';
import { StoredHistogram } from './stored-histogram';
import { StoreScrape } from './store-scrape';
import { EDGE_LABELS, EdgeCount, EdgeLabel, NetworkRow, RED_LABELS, RedLabel } from './store-reader';

type Scrape = () => Promise<StoreScrape>;

/** SPEC §4 status classes that count as failed requests; `error` of SPEC §3 is the first two. */
const ERROR_TYPES = ['client_error', 'server_error', 'timeout'] as const;

export function registerApplicationFamilies(registry: AnyRegistry, scrape: Scrape): void {
  const rows = async (): Promise<StoreScrape['application']['rows']> => (await scrape()).application.rows;
  collectedCounter(registry, {
    name: 'metaflow_server_requests_total',
    help: 'Requests to the service endpoint (SPEC request), total over what the store holds.',
    labelNames: RED_LABELS,
    samples: async () => (await rows()).map((r) => ({ labels: r.labels, value: r.counts.request })),
  });
  collectedCounter(registry, {
    name: 'metaflow_server_responses_total',
    help: 'Responses from the service endpoint (SPEC response), the denominator of the error ratio.',
    labelNames: RED_LABELS,
    samples: async () => (await rows()).map((r) => ({ labels: r.labels, value: r.counts.response })),
  });
  collectedCounter(registry, {
    name: 'metaflow_server_errors_total',
    help: 'Failed requests by status class (SPEC status rules): client_error and server_error responses, and timeout for requests never answered.',
    labelNames: [...RED_LABELS, 'error_type'] as const,
    samples: async () => (await rows()).flatMap((r) => ERROR_TYPES.map((t) => ({ labels: { ...r.labels, error_type: t }, value: r.counts[t] }))),
  });
  new StoredHistogram<RedLabel>({
    name: 'metaflow_server_request_duration_seconds',
    help: 'Response time of answered requests (SPEC rrt: response minus its request), from the stored log2 buckets.',
    labelNames: RED_LABELS,
    registers: [registry],
    read: async () => (await rows()).map((r) => ({ labels: r.labels, histogram: r.histogram })),
  });
}

/** Map tables count `_tx` client → server and `_rx` server → client. */
function byDirection(rows: NetworkRow[], base: 'byte' | 'packet' | 'retrans'): Sample<EdgeLabel | 'direction'>[] {
  return rows.flatMap((r) => [
    { labels: { ...r.labels, direction: 'client_to_server' }, value: r.counts[`${base}_tx` as EdgeCount] },
    { labels: { ...r.labels, direction: 'server_to_client' }, value: r.counts[`${base}_rx` as EdgeCount] },
  ]);
}

/** SPEC §3 failure counters (flows), named as in the store. */
const CONNECTION_FAILURES = ['client_establish_fail', 'server_establish_fail', 'tcp_transfer_fail', 'tcp_rst_fail'] as const;

export function registerNetworkFamilies(registry: AnyRegistry, scrape: Scrape): void {
  const rows = async (): Promise<NetworkRow[]> => (await scrape()).network.rows;
  const directed = [...EDGE_LABELS, 'direction'] as const;
  collectedCounter(registry, {
    name: 'metaflow_network_bytes_total',
    help: 'Bytes of whole frames between client and server, by direction.',
    labelNames: directed,
    samples: async () => byDirection(await rows(), 'byte'),
  });
  collectedCounter(registry, {
    name: 'metaflow_network_packets_total',
    help: 'Packets between client and server, by direction.',
    labelNames: directed,
    samples: async () => byDirection(await rows(), 'packet'),
  });
  collectedCounter(registry, {
    name: 'metaflow_network_retransmissions_total',
    help: 'Retransmitted TCP data segments (overlapping data already sent), by direction.',
    labelNames: directed,
    samples: async () => byDirection(await rows(), 'retrans'),
  });
  collectedCounter(registry, {
    name: 'metaflow_network_connection_failures_total',
    help: 'Flows that failed (SPEC close types): handshakes failed by the client or the server, established flows that timed out or were reset.',
    labelNames: [...EDGE_LABELS, 'error_type'] as const,
    samples: async () => (await rows()).flatMap((r) => CONNECTION_FAILURES.map((t) => ({ labels: { ...r.labels, error_type: t }, value: r.counts[t] }))),
  });
  new StoredHistogram<EdgeLabel>({
    name: 'metaflow_network_rtt_seconds',
    help: 'Round trip time of TCP handshakes (first SYN to the handshake ACK), from the stored log2 buckets.',
    labelNames: EDGE_LABELS,
    registers: [registry],
    read: async () => (await rows()).map((r) => ({ labels: r.labels, histogram: r.histogram })),
  });
}
