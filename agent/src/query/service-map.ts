/**
 * The universal service map (SPEC §6) from per-pair rows: who calls whom, with RED and network
 * health on every edge and node. A pair seen at several observation points is counted at one of
 * them (the most trusted present, SPEC §6 order), never added up; the edge says which it used.
 * Output frames are the ones Grafana's Node Graph panel reads as they are.
 */
import { Frame, FrameField } from './frames';
import { histogramQuantile, Histogram } from './histogram-quantile';

export type MapLevel = 'service' | 'process' | 'ip' | 'host' | 'container';
export const MAP_LEVELS: readonly MapLevel[] = ['service', 'process', 'ip', 'host', 'container'];

/** SPEC §6: the server process first, then the server side, then the client side, then the rest. */
export const TAP_SIDE_PREFERENCE = ['s-p', 's-app', 's', 's-nd', 's-hv', 's-gw-hv', 's-gw', 'c-p', 'c-app', 'c', 'c-nd', 'c-hv', 'c-gw-hv', 'c-gw', 'app', 'local', 'rest'];

function rank(tapSide: string): number {
  const i = TAP_SIDE_PREFERENCE.indexOf(tapSide);
  return i < 0 ? TAP_SIDE_PREFERENCE.length : i;
}

/** One client → server pair at one observation point, RED columns summed over the range. */
export interface ApplicationPairRow {
  tap_side: string;
  client: string;
  server: string;
  /** Whether the server has a name beyond its address (a known process or configured service). */
  server_known: number | string;
  request: number | string;
  response: number | string;
  error: number | string;
  timeout: number | string;
  rrt_sum: number | string;
  rrt_count: number | string;
  rrt_max: number | string;
  rrt_hist: Histogram;
}

/** One client → server pair at one observation point, network columns summed over the range. */
export interface NetworkPairRow {
  tap_side: string;
  client: string;
  server: string;
  server_known: number | string;
  byte: number | string;
  packet: number | string;
  retrans: number | string;
  rtt_sum: number | string;
  rtt_count: number | string;
  establish_fail: number | string;
  rst: number | string;
}

export interface MapEdge {
  id: string;
  source: string;
  target: string;
  /** Observation point the RED numbers come from (undefined without application data). */
  tapSide?: string;
  /** Observation point the network numbers come from. */
  networkTapSide?: string;
  /** Every observation point the pair was seen at. */
  seenAt: string[];
  requestRate: number;
  errorRatio: number | null;
  timeoutRatio: number | null;
  rrtAvg: number | null;
  rrtP99: number | null;
  bytesPerSecond: number;
  rttAvg: number | null;
  retransRatio: number | null;
  connectionFailures: number;
  /** The server has no name beyond its address: an unknown or external service. */
  unknownServer: boolean;
}

export interface MapNode {
  id: string;
  /** Seen only as a client (an external caller). */
  external: boolean;
  unknown: boolean;
  asServer: { requestRate: number; errorRatio: number | null; rrtAvg: number | null; bytesPerSecond: number };
  asClient: { requestRate: number; errorRatio: number | null; bytesPerSecond: number };
}

export interface ServiceMap {
  nodes: MapNode[];
  edges: MapEdge[];
}

const n = (v: number | string | undefined): number => Number(v ?? 0);
const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Rows of each pair at the chosen observation point(s). */
function choose<T extends { tap_side: string; client: string; server: string }>(rows: T[], allTapSides: boolean): Map<string, { chosen: T[]; seenAt: Set<string> }> {
  const byPair = new Map<string, { chosen: T[]; seenAt: Set<string> }>();
  for (const r of rows) {
    const key = allTapSides ? `${r.client}\u0000${r.server}\u0000${r.tap_side}` : `${r.client}\u0000${r.server}`;
    let e = byPair.get(key);
    if (!e) byPair.set(key, (e = { chosen: [], seenAt: new Set() }));
    e.seenAt.add(r.tap_side);
    if (e.chosen.length === 0 || rank(r.tap_side) < rank(e.chosen[0].tap_side)) e.chosen = [r];
    else if (r.tap_side === e.chosen[0].tap_side) e.chosen.push(r);
  }
  return byPair;
}

export function buildServiceMap(app: ApplicationPairRow[], net: NetworkPairRow[], seconds: number, allTapSides = false): ServiceMap {
  const span = Math.max(1, seconds);
  const edges = new Map<string, MapEdge>();
  const edgeOf = (client: string, server: string, tapSide: string, unknown: boolean): MapEdge => {
    const id = allTapSides ? `${client}->${server}@${tapSide}` : `${client}->${server}`;
    let e = edges.get(id);
    if (!e) {
      e = {
        id,
        source: client,
        target: server,
        seenAt: [],
        requestRate: 0,
        errorRatio: null,
        timeoutRatio: null,
        rrtAvg: null,
        rrtP99: null,
        bytesPerSecond: 0,
        rttAvg: null,
        retransRatio: null,
        connectionFailures: 0,
        unknownServer: unknown,
      };
      edges.set(id, e);
    }
    e.unknownServer &&= unknown;
    return e;
  };
  for (const { chosen, seenAt } of choose(app, allTapSides).values()) {
    const first = chosen[0];
    const e = edgeOf(first.client, first.server, first.tap_side, !n(first.server_known));
    let request = 0, response = 0, error = 0, timeout = 0, rrtSum = 0, rrtCount = 0;
    const hist: Record<string, number> = {};
    for (const r of chosen) {
      request += n(r.request);
      response += n(r.response);
      error += n(r.error);
      timeout += n(r.timeout);
      rrtSum += n(r.rrt_sum);
      rrtCount += n(r.rrt_count);
      for (const [k, v] of Object.entries(r.rrt_hist ?? {})) hist[k] = (hist[k] ?? 0) + n(v);
    }
    e.tapSide = first.tap_side;
    e.seenAt = [...new Set([...e.seenAt, ...seenAt])].sort((a, b) => rank(a) - rank(b));
    e.requestRate = request / span;
    e.errorRatio = ratio(error, response);
    e.timeoutRatio = ratio(timeout, request);
    e.rrtAvg = ratio(rrtSum, rrtCount);
    e.rrtP99 = histogramQuantile(hist, 0.99);
  }
  for (const { chosen, seenAt } of choose(net, allTapSides).values()) {
    const first = chosen[0];
    const e = edgeOf(first.client, first.server, first.tap_side, !n(first.server_known));
    let bytes = 0, packets = 0, retrans = 0, rttSum = 0, rttCount = 0, failures = 0;
    for (const r of chosen) {
      bytes += n(r.byte);
      packets += n(r.packet);
      retrans += n(r.retrans);
      rttSum += n(r.rtt_sum);
      rttCount += n(r.rtt_count);
      failures += n(r.establish_fail) + n(r.rst);
    }
    e.networkTapSide = first.tap_side;
    e.seenAt = [...new Set([...e.seenAt, ...seenAt])].sort((a, b) => rank(a) - rank(b));
    e.bytesPerSecond = bytes / span;
    e.rttAvg = ratio(rttSum, rttCount);
    e.retransRatio = ratio(retrans, packets);
    e.connectionFailures = failures;
  }

  const nodes = new Map<string, MapNode & { s: { req: number; resp: number; err: number; rrtW: number; bytes: number }; c: { req: number; resp: number; err: number; bytes: number } }>();
  const nodeOf = (id: string) => {
    let node = nodes.get(id);
    if (!node) {
      node = {
        id,
        external: true,
        unknown: false,
        asServer: { requestRate: 0, errorRatio: null, rrtAvg: null, bytesPerSecond: 0 },
        asClient: { requestRate: 0, errorRatio: null, bytesPerSecond: 0 },
        s: { req: 0, resp: 0, err: 0, rrtW: 0, bytes: 0 },
        c: { req: 0, resp: 0, err: 0, bytes: 0 },
      };
      nodes.set(id, node);
    }
    return node;
  };
  // With every observation point shown, a pair has an edge per point: nodes still count each
  // pair once, at its most trusted point.
  const counted = new Map<string, MapEdge>();
  for (const e of edges.values()) {
    const pair = `${e.source}\u0000${e.target}`;
    const best = counted.get(pair);
    if (!best || rank(e.tapSide ?? e.networkTapSide ?? '') < rank(best.tapSide ?? best.networkTapSide ?? '')) counted.set(pair, e);
  }
  for (const e of counted.values()) {
    const responses = e.errorRatio !== null ? e.requestRate : 0;
    const errors = e.errorRatio !== null ? e.errorRatio * e.requestRate : 0;
    const server = nodeOf(e.target);
    server.external = false;
    server.unknown ||= e.unknownServer;
    server.s.req += e.requestRate;
    server.s.resp += responses;
    server.s.err += errors;
    server.s.rrtW += (e.rrtAvg ?? 0) * e.requestRate;
    server.s.bytes += e.bytesPerSecond;
    const client = nodeOf(e.source);
    client.c.req += e.requestRate;
    client.c.resp += responses;
    client.c.err += errors;
    client.c.bytes += e.bytesPerSecond;
  }
  const out: MapNode[] = [];
  for (const node of nodes.values()) {
    const { s, c, ...rest } = node;
    out.push({
      ...rest,
      asServer: { requestRate: s.req, errorRatio: ratio(s.err, s.resp), rrtAvg: ratio(s.rrtW, s.req), bytesPerSecond: s.bytes },
      asClient: { requestRate: c.req, errorRatio: ratio(c.err, c.resp), bytesPerSecond: c.bytes },
    });
  }
  out.sort((a, b) => a.id.localeCompare(b.id));
  return { nodes: out, edges: [...edges.values()].sort((a, b) => a.id.localeCompare(b.id)) };
}

const num = (name: string, values: (number | null)[], unit?: string, displayName?: string): FrameField => ({
  name,
  type: 'number',
  values,
  config: { ...(unit ? { unit } : {}), ...(displayName ? { displayNameFromDS: displayName } : {}) },
});
const str = (name: string, values: string[], displayName?: string): FrameField => ({ name, type: 'string', values, ...(displayName ? { config: { displayNameFromDS: displayName } } : {}) });

/** The map as Node Graph frames: `nodes` and `edges` with the field names that panel reads. */
export function serviceMapFrames(map: ServiceMap, level: MapLevel): Frame[] {
  const nodes = map.nodes;
  const edges = map.edges;
  const nodeFrame: Frame = {
    name: 'nodes',
    fields: [
      str('id', nodes.map((x) => x.id)),
      str('title', nodes.map((x) => x.id)),
      str('subtitle', nodes.map((x) => (x.external ? 'external client' : x.unknown ? `unknown ${level}` : level))),
      num('mainstat', nodes.map((x) => x.asServer.requestRate || x.asClient.requestRate), 'reqps', 'requests/s'),
      num('secondarystat', nodes.map((x) => x.asServer.rrtAvg), 'µs', 'avg response time'),
      num('arc__errors', nodes.map((x) => (x.asServer.errorRatio ?? x.asClient.errorRatio ?? 0)), undefined, 'errors'),
      num('arc__ok', nodes.map((x) => 1 - (x.asServer.errorRatio ?? x.asClient.errorRatio ?? 0)), undefined, 'ok'),
      num('detail__server_error_ratio', nodes.map((x) => x.asServer.errorRatio), 'percentunit', 'error ratio as server'),
      num('detail__client_request_rate', nodes.map((x) => x.asClient.requestRate), 'reqps', 'requests/s as client'),
      num('detail__client_error_ratio', nodes.map((x) => x.asClient.errorRatio), 'percentunit', 'error ratio as client'),
      num('detail__bytes', nodes.map((x) => x.asServer.bytesPerSecond + x.asClient.bytesPerSecond), 'Bps', 'bytes/s'),
      str('detail__kind', nodes.map((x) => (x.external ? 'external' : x.unknown ? 'unknown' : 'known')), 'kind'),
    ],
    meta: { preferredVisualisationType: 'nodeGraph' },
  };
  (nodeFrame.fields[3].config as Record<string, unknown>).color = { mode: 'fixed', fixedColor: 'green' };
  (nodeFrame.fields[5].config as Record<string, unknown>).color = { mode: 'fixed', fixedColor: 'red' };
  (nodeFrame.fields[6].config as Record<string, unknown>).color = { mode: 'fixed', fixedColor: 'green' };
  const edgeFrame: Frame = {
    name: 'edges',
    fields: [
      str('id', edges.map((e) => e.id)),
      str('source', edges.map((e) => e.source)),
      str('target', edges.map((e) => e.target)),
      num('mainstat', edges.map((e) => e.requestRate), 'reqps', 'requests/s'),
      num('secondarystat', edges.map((e) => e.errorRatio), 'percentunit', 'error ratio'),
      num('detail__rrt_avg', edges.map((e) => e.rrtAvg), 'µs', 'avg response time'),
      num('detail__rrt_p99', edges.map((e) => e.rrtP99), 'µs', 'p99 response time'),
      num('detail__timeout_ratio', edges.map((e) => e.timeoutRatio), 'percentunit', 'timeout ratio'),
      num('detail__bytes', edges.map((e) => e.bytesPerSecond), 'Bps', 'bytes/s'),
      num('detail__rtt', edges.map((e) => e.rttAvg), 'µs', 'rtt'),
      num('detail__retrans_ratio', edges.map((e) => e.retransRatio), 'percentunit', 'retransmission ratio'),
      num('detail__connection_failures', edges.map((e) => e.connectionFailures), 'short', 'connection failures'),
      str('detail__tap_side', edges.map((e) => e.tapSide ?? e.networkTapSide ?? ''), 'tap side'),
      str('detail__seen_at', edges.map((e) => e.seenAt.join(' ')), 'seen at'),
    ],
    meta: { preferredVisualisationType: 'nodeGraph' },
  };
  return [nodeFrame, edgeFrame];
}
