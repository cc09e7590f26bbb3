import { HANDSHAKE_FAILURES } from '../flow/close-type';
import { Store } from '../store/store';

export interface SummaryFilter {
  /** Only rows seen at this observation point (`observation_point` is accepted as an alias). */
  tapSide?: string;
  /** Only flows whose server listens on this port. */
  serverPort?: number;
}

/** The replay/summary report, read back from the store (documented in the README). */
/** Request/response counts of one application protocol (SPEC §3, §4), from the request log. */
export interface L7Summary {
  request: number;
  response: number;
  error: number;
  client_error: number;
  server_error: number;
  timeout: number;
  /** Response code → responses with it. */
  codes: Record<string, number>;
  rrt_us: { min: number | null; avg: number | null; max: number | null };
}

export interface Summary {
  packets: number;
  bytes: number;
  malformed: Record<string, number>;
  skipped: Record<string, number>;
  /** Request records whose endpoint was folded into `other` by the per-service endpoint cap. */
  endpoints_folded: number;
  flows: { tcp: number; udp: number };
  tcp: {
    syn: number;
    synack: number;
    rst: number;
    fin: number;
    /** All retransmissions: data (both directions), SYN and SYN-ACK. */
    retrans: number;
    retrans_data: number;
    retrans_syn: number;
    retrans_synack: number;
    ooo: number;
    zero_win: number;
    close_types: Record<string, number>;
    handshake_failures: Record<string, number>;
    rtt_us: { count: number; avg: number | null; max: number | null };
  };
  /** Per application protocol (`http1`, `http2`, `grpc`, `dubbo`, `mysql`, `redis`, `kafka`, `mqtt`, `dns`, `tls`). */
  l7: Record<string, L7Summary>;
  /** Times live capture was down (the loader died), from `flow_metrics.capture_gaps`; not filtered. */
  capture_gaps: { count: number; seconds: number };
}

const TAP_SIDE_VALUES = ['c', 's', 'c-nd', 's-nd', 'c-hv', 's-hv', 'c-gw-hv', 's-gw-hv', 'c-gw', 's-gw', 'local', 'rest', 'c-p', 's-p', 'c-app', 's-app', 'app'];

export function validateFilter(f: SummaryFilter): void {
  if (f.tapSide !== undefined && !TAP_SIDE_VALUES.includes(f.tapSide)) {
    throw new Error(`--tap-side: unknown observation point ${JSON.stringify(f.tapSide)} (one of ${TAP_SIDE_VALUES.join(', ')})`);
  }
  if (f.serverPort !== undefined && !(Number.isInteger(f.serverPort) && f.serverPort > 0 && f.serverPort < 65536)) {
    throw new Error(`--server-port: ${f.serverPort} is not a port number (1-65535)`);
  }
}

function where(f: SummaryFilter, portColumn: string, extra: string[] = []): string {
  const parts = [...extra];
  if (f.tapSide !== undefined) parts.push('tap_side = {tap:String}');
  if (f.serverPort !== undefined) parts.push(`${portColumn} = {port:UInt16}`);
  return parts.length ? `WHERE ${parts.join(' AND ')}` : '';
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export async function readSummary(store: Store, filter: SummaryFilter = {}): Promise<Summary> {
  validateFilter(filter);
  const params: Record<string, unknown> = {};
  if (filter.tapSide !== undefined) params.tap = filter.tapSide;
  if (filter.serverPort !== undefined) params.port = filter.serverPort;
  const filtered = filter.tapSide !== undefined || filter.serverPort !== undefined;

  const [capture] = await store.query<Record<string, unknown>>(
    'SELECT sum(packets) AS packets, sum(bytes) AS bytes, sumMap(malformed) AS malformed, sumMap(skipped) AS skipped, sum(l7_endpoints_folded) AS folded FROM flow_metrics.capture_stats_1m',
  );
  const flowRows = await store.query<{ protocol: string; n: string }>(
    `SELECT protocol, uniqExact(flow_id) AS n FROM flow_log.l4_flow_log ${where(filter, 'port_1')} GROUP BY protocol`,
    params,
  );
  const [t] = await store.query<Record<string, unknown>>(
    `SELECT sum(packet_tx + packet_rx) AS packets, sum(byte_tx + byte_rx) AS bytes,
            sumIf(syn_count, protocol = 'tcp') AS syn, sumIf(synack_count, protocol = 'tcp') AS synack,
            sumIf(rst_count, protocol = 'tcp') AS rst, sumIf(fin_count, protocol = 'tcp') AS fin,
            sum(retrans_tx + retrans_rx) AS retrans_data, sum(retrans_syn) AS retrans_syn, sum(retrans_synack) AS retrans_synack,
            sum(ooo_tx + ooo_rx) AS ooo, sum(zero_win_tx + zero_win_rx) AS zero_win,
            sum(rtt_count) AS rtt_count, sum(rtt_sum) AS rtt_sum, max(rtt_max) AS rtt_max
     FROM flow_metrics.network_map_1m ${where(filter, 'port_1')}`,
    params,
  );
  const closeRows = await store.query<{ close_type: string; n: string }>(
    `SELECT close_type, count() AS n FROM flow_log.l4_flow_log ${where(filter, 'port_1', ['is_closed = 1', "protocol = 'tcp'"])} GROUP BY close_type ORDER BY close_type`,
    params,
  );
  const closeTypes: Record<string, number> = {};
  for (const r of closeRows) closeTypes[r.close_type] = num(r.n);
  const handshakeFailures: Record<string, number> = {};
  for (const name of HANDSHAKE_FAILURES) if (closeTypes[name]) handshakeFailures[name] = closeTypes[name];
  const flows = { tcp: 0, udp: 0 };
  for (const r of flowRows) if (r.protocol === 'tcp' || r.protocol === 'udp') flows[r.protocol] = num(r.n);
  const rttCount = num(t?.rtt_count);
  const counted = "attributes['counts_as_request'] = '1'";
  const l7Rows = await store.query<Record<string, unknown>>(
    `SELECT l7_protocol, countIf(${counted} AND type != 'response') AS request,
            countIf(${counted} AND type != 'request') AS response,
            countIf(${counted} AND response_status = 'client_error') AS client_error,
            countIf(${counted} AND response_status = 'server_error') AS server_error,
            countIf(${counted} AND response_status = 'timeout') AS timeout,
            countIf(${counted} AND type = 'session') AS timed,
            minIf(response_duration, ${counted} AND type = 'session') AS rrt_min,
            avgIf(response_duration, ${counted} AND type = 'session') AS rrt_avg,
            maxIf(response_duration, ${counted} AND type = 'session') AS rrt_max
     FROM flow_log.l7_flow_log ${where(filter, 'port_1')} GROUP BY l7_protocol ORDER BY l7_protocol`,
    params,
  );
  const codeRows = await store.query<{ l7_protocol: string; code: number; n: string }>(
    `SELECT l7_protocol, response_code AS code, count() AS n FROM flow_log.l7_flow_log
     ${where(filter, 'port_1', [counted, "type != 'request'"])} GROUP BY l7_protocol, code ORDER BY code`,
    params,
  );
  const l7: Record<string, L7Summary> = {};
  for (const r of l7Rows) {
    const response = num(r.response);
    l7[String(r.l7_protocol)] = {
      request: num(r.request),
      response,
      error: num(r.client_error) + num(r.server_error),
      client_error: num(r.client_error),
      server_error: num(r.server_error),
      timeout: num(r.timeout),
      codes: {},
      rrt_us: num(r.timed) ? { min: num(r.rrt_min), avg: num(r.rrt_avg), max: num(r.rrt_max) } : { min: null, avg: null, max: null },
    };
  }
  for (const c of codeRows) {
    const entry = l7[c.l7_protocol];
    if (entry) entry.codes[String(c.code)] = num(c.n);
  }
  // A store written before the table existed (and not migrated since) has no gaps to report.
  const [hasGaps] = await store.query<{ n: string }>("SELECT count() AS n FROM system.tables WHERE database = 'flow_metrics' AND name = 'capture_gaps'");
  const [gaps] = num(hasGaps?.n) ? await store.query<Record<string, unknown>>('SELECT count() AS n, sum(duration_us) AS us FROM flow_metrics.capture_gaps') : [];
  return {
    packets: filtered ? num(t?.packets) : num(capture?.packets),
    bytes: filtered ? num(t?.bytes) : num(capture?.bytes),
    malformed: toCounts(capture?.malformed),
    skipped: toCounts(capture?.skipped),
    endpoints_folded: num(capture?.folded),
    flows,
    tcp: {
      syn: num(t?.syn),
      synack: num(t?.synack),
      rst: num(t?.rst),
      fin: num(t?.fin),
      retrans: num(t?.retrans_data) + num(t?.retrans_syn) + num(t?.retrans_synack),
      retrans_data: num(t?.retrans_data),
      retrans_syn: num(t?.retrans_syn),
      retrans_synack: num(t?.retrans_synack),
      ooo: num(t?.ooo),
      zero_win: num(t?.zero_win),
      close_types: closeTypes,
      handshake_failures: handshakeFailures,
      rtt_us: { count: rttCount, avg: rttCount ? num(t?.rtt_sum) / rttCount : null, max: rttCount ? num(t?.rtt_max) : null },
    },
    l7,
    capture_gaps: { count: num(gaps?.n), seconds: num(gaps?.us) / 1e6 },
  };
}

function toCounts(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (v && typeof v === 'object') for (const [k, n] of Object.entries(v as Record<string, unknown>)) if (num(n) > 0) out[k] = num(n);
  return out;
}

export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  const kv = (obj: Record<string, number>): string =>
    Object.keys(obj).length ? Object.entries(obj).map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
  lines.push(`packets        ${s.packets}   bytes ${s.bytes}`);
  lines.push(`malformed      ${kv(s.malformed)}`);
  lines.push(`skipped        ${kv(s.skipped)}`);
  lines.push(`flows          tcp ${s.flows.tcp}, udp ${s.flows.udp}`);
  lines.push(`tcp            syn ${s.tcp.syn}, syn-ack ${s.tcp.synack}, rst ${s.tcp.rst}, fin ${s.tcp.fin}`);
  lines.push(
    `retransmitted  ${s.tcp.retrans} (data ${s.tcp.retrans_data}, syn ${s.tcp.retrans_syn}, syn-ack ${s.tcp.retrans_synack}); out of order ${s.tcp.ooo}; zero window ${s.tcp.zero_win}`,
  );
  lines.push(`handshake rtt  ${s.tcp.rtt_us.count ? `${s.tcp.rtt_us.avg?.toFixed(1)} µs avg, ${s.tcp.rtt_us.max} µs max over ${s.tcp.rtt_us.count}` : 'none'}`);
  lines.push(`close types    ${kv(s.tcp.close_types)}`);
  lines.push(`handshake fail ${kv(s.tcp.handshake_failures)}`);
  for (const [protocol, l] of Object.entries(s.l7)) {
    const rrt = l.rrt_us.avg === null ? '' : `, rrt ${l.rrt_us.avg.toFixed(0)} µs avg (${l.rrt_us.min}–${l.rrt_us.max})`;
    lines.push(
      `${protocol.padEnd(14)} ${l.request} requests, ${l.response} responses, ${l.client_error} client errors, ${l.server_error} server errors, ${l.timeout} timeouts${rrt}; codes ${kv(l.codes)}`,
    );
  }
  if (s.capture_gaps.count) lines.push(`capture gaps   ${s.capture_gaps.count}, ${Number(s.capture_gaps.seconds.toFixed(3))} s without capture (rows in flow_metrics.capture_gaps)`);
  return lines.join('\n');
}
