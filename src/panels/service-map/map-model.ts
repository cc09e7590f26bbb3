/**
 * Data frames → the graph the panel draws. Reads the Node Graph frames of the MetaFlow map query
 * (`nodes`: id, title, subtitle, mainstat, secondarystat, arc__*, detail__*; `edges`: id, source,
 * target, mainstat, secondarystat, detail__*), from any number of queries:
 *  - a node or edge that several frames hold is taken once (first seen), never added up;
 *  - with one edge per pair (`tapSideMode: preferred`), a pair seen at several observation points
 *    keeps the most trusted one (the agent's SPEC §6 order), again never added up;
 *  - nodes only seen on edges are kept (callers marked external), external clients are kept and
 *    marked;
 *  - grouping merges nodes; their numbers then come from the edges, each edge counted once.
 * The model carries frames in the shape of the input (field names, units, links) with one row per
 * drawn node / edge, for tooltips and data links.
 */
import { DataFrame, Field, FieldType, createDataFrame } from '@grafana/data';

import { Grouping, TapSideMode } from './types';

export type MapLevel = 'service' | 'process' | 'ip' | 'host' | 'container';
export const MAP_LEVELS: MapLevel[] = ['service', 'process', 'ip', 'host', 'container'];
export type NodeKind = 'external' | 'unknown' | 'known' | 'group';

/** The agent's order of trust of observation points (SPEC §6): server process first. */
export const TAP_SIDE_PREFERENCE = ['s-p', 's-app', 's', 's-nd', 's-hv', 's-gw-hv', 's-gw', 'c-p', 'c-app', 'c', 'c-nd', 'c-hv', 'c-gw-hv', 'c-gw', 'app', 'local', 'rest'];

export const EXTERNAL_GROUP_ID = '__external__';

export interface MapNode {
  id: string;
  title: string;
  subtitle: string;
  kind: NodeKind;
  /** Only ever a client: a caller from outside. */
  external: boolean;
  /** Not in any nodes frame: known from edges only. */
  inferred: boolean;
  /** Requests per second it serves, or sends when it serves none. */
  requestRate: number | null;
  errorRatio: number | null;
  /** Average response time as a server, µs. */
  rrtAvg: number | null;
  /** Bytes per second, as server and client. */
  bytes: number | null;
  /** Ids of the query's nodes in this node (one unless grouped). */
  members: string[];
  /** Row of this node in the model's nodeFrame. */
  row: number;
}

/** The health an edge carries (SPEC §6). */
export interface EdgeStats {
  requestRate: number | null;
  errorRatio: number | null;
  timeoutRatio: number | null;
  /** µs */
  rrtAvg: number | null;
  /** µs */
  rrtP99: number | null;
  bytes: number | null;
  /** µs */
  rtt: number | null;
  retransRatio: number | null;
  connectionFailures: number;
}

export interface MapEdge extends EdgeStats {
  id: string;
  source: string;
  target: string;
  tapSide: string;
  seenAt: string[];
  /** Ids of the query's edges in this edge (one unless grouped). */
  members: string[];
  row: number;
  /** Position among the edges between the same two nodes (either way), for drawing them apart. */
  parallel: { index: number; count: number };
}

export interface ServiceMapModel {
  nodes: MapNode[];
  edges: MapEdge[];
  nodeFrame: DataFrame;
  edgeFrame: DataFrame;
  /** What a node of the query is (from the node subtitles). */
  level: MapLevel;
  grouping: Grouping;
  /** Rows left out because another frame already had that id. */
  duplicates: number;
  /** Edges left out because the pair was seen at a more trusted observation point. */
  collapsed: number;
}

export interface ModelOptions {
  grouping: Grouping;
  tapSideMode: TapSideMode;
}

// ------------------------------------------------------------------ reading frames

type Values = Record<string, unknown>;

interface RawRow {
  id: string;
  values: Values;
}

const lower = (s: string | undefined) => (s ?? '').toLowerCase();

function fieldNamed(frame: DataFrame, name: string): Field | undefined {
  return frame.fields.find((f) => lower(f.name) === name);
}

/** The nodes and edges frames among the series: by name, else by Node Graph field names. */
export function findMapFrames(series: DataFrame[]): { nodes: DataFrame[]; edges: DataFrame[] } {
  const nodes: DataFrame[] = [];
  const edges: DataFrame[] = [];
  for (const frame of series) {
    const name = lower(frame.name);
    const hasId = fieldNamed(frame, 'id') !== undefined;
    const isEdges = hasId && fieldNamed(frame, 'source') !== undefined && fieldNamed(frame, 'target') !== undefined;
    if (name === 'edges' || (name !== 'nodes' && isEdges)) {
      if (isEdges) {
        edges.push(frame);
      }
    } else if (hasId && (name === 'nodes' || frame.meta?.preferredVisualisationType === 'nodeGraph')) {
      nodes.push(frame);
    }
  }
  return { nodes, edges };
}

function rowsOf(frames: DataFrame[]): { rows: RawRow[]; duplicates: number } {
  const seen = new Set<string>();
  const rows: RawRow[] = [];
  let duplicates = 0;
  for (const frame of frames) {
    const idField = fieldNamed(frame, 'id');
    if (!idField) {
      continue;
    }
    for (let i = 0; i < frame.length; i++) {
      const id = idField.values[i];
      if (id === null || id === undefined || id === '') {
        continue;
      }
      const key = String(id);
      if (seen.has(key)) {
        duplicates++;
        continue;
      }
      seen.add(key);
      const values: Values = {};
      for (const f of frame.fields) {
        values[lower(f.name)] = f.values[i];
      }
      rows.push({ id: key, values });
    }
  }
  return { rows, duplicates };
}

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') {
    return null;
  }
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function str(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

/** Factor from a time unit to microseconds (the agent's response times are in µs). */
export function microsecondsPer(unit: string | undefined): number {
  switch (unit) {
    case 'ns':
      return 0.001;
    case 'ms':
      return 1000;
    case 's':
      return 1_000_000;
    default:
      return 1;
  }
}

function unitOf(frames: DataFrame[], name: string): string | undefined {
  for (const frame of frames) {
    const f = fieldNamed(frame, name);
    if (f?.config.unit) {
      return f.config.unit;
    }
  }
  return undefined;
}

function rank(tapSide: string): number {
  const i = TAP_SIDE_PREFERENCE.indexOf(tapSide);
  return i < 0 ? TAP_SIDE_PREFERENCE.length : i;
}

/** The address of a node named `addr:port` / `[v6]:port`; other names as they are. */
export function addressOf(id: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(id);
  if (v6) {
    return v6[1];
  }
  const v4 = /^([^:[\]]+):\d+$/.exec(id);
  return v4 ? v4[1] : id;
}

/** The map level from the node subtitles (`service`, `unknown ip`, …); `service` when unsure. */
export function levelOf(subtitles: string[]): MapLevel {
  const votes = new Map<MapLevel, number>();
  for (const s of subtitles) {
    const word = s.replace(/^unknown /, '') as MapLevel;
    if (MAP_LEVELS.includes(word)) {
      votes.set(word, (votes.get(word) ?? 0) + 1);
    }
  }
  let best: MapLevel = 'service';
  let most = 0;
  for (const [level, count] of votes) {
    if (count > most) {
      best = level;
      most = count;
    }
  }
  return best;
}

// ------------------------------------------------------------------ edges

interface RawEdge extends EdgeStats {
  id: string;
  source: string;
  target: string;
  tapSide: string;
  seenAt: string[];
  values: Values;
}

function rawEdge(row: RawRow, rrtFactor: number, p99Factor: number, rttFactor: number): RawEdge | undefined {
  const v = row.values;
  const source = str(v.source);
  const target = str(v.target);
  if (!source || !target) {
    return undefined;
  }
  const scale = (x: number | null, f: number) => (x === null ? null : x * f);
  const tapSide = str(v.detail__tap_side);
  const seenAt = str(v.detail__seen_at).split(/[\s,]+/).filter(Boolean);
  return {
    id: row.id,
    source,
    target,
    tapSide,
    seenAt: seenAt.length ? seenAt : tapSide ? [tapSide] : [],
    requestRate: num(v.mainstat),
    errorRatio: num(v.secondarystat),
    timeoutRatio: num(v.detail__timeout_ratio),
    rrtAvg: scale(num(v.detail__rrt_avg), rrtFactor),
    rrtP99: scale(num(v.detail__rrt_p99), p99Factor),
    bytes: num(v.detail__bytes),
    rtt: scale(num(v.detail__rtt), rttFactor),
    retransRatio: num(v.detail__retrans_ratio),
    connectionFailures: num(v.detail__connection_failures) ?? 0,
    values: v,
  };
}

/** One edge per client → server pair: the most trusted observation point's, not a sum. */
function preferredPerPair(edges: RawEdge[]): { kept: RawEdge[]; collapsed: number } {
  const byPair = new Map<string, RawEdge>();
  for (const e of edges) {
    const key = `${e.source}\u0000${e.target}`;
    const best = byPair.get(key);
    if (!best || rank(e.tapSide) < rank(best.tapSide) || (rank(e.tapSide) === rank(best.tapSide) && e.id < best.id)) {
      if (best) {
        e.seenAt = [...new Set([...e.seenAt, ...best.seenAt])].sort((a, b) => rank(a) - rank(b));
      }
      byPair.set(key, e);
    } else {
      best.seenAt = [...new Set([...best.seenAt, ...e.seenAt])].sort((a, b) => rank(a) - rank(b));
    }
  }
  return { kept: [...byPair.values()], collapsed: edges.length - byPair.size };
}

const sumOf = (xs: Array<number | null>): number | null => {
  const present = xs.filter((x): x is number => x !== null);
  return present.length ? present.reduce((a, b) => a + b, 0) : null;
};

/** Weighted mean of the values that are there (weights of missing values left out). */
function weightedMean(values: Array<number | null>, weights: Array<number | null>): number | null {
  let sum = 0;
  let weight = 0;
  let plain = 0;
  let count = 0;
  values.forEach((v, i) => {
    if (v === null) {
      return;
    }
    const w = weights[i] ?? 0;
    sum += v * w;
    weight += w;
    plain += v;
    count++;
  });
  if (count === 0) {
    return null;
  }
  return weight > 0 ? sum / weight : plain / count;
}

/** Edges of distinct pairs between two groups: rates add up, ratios and times are weighted by traffic. */
function mergeEdges(parts: RawEdge[]): EdgeStats & { tapSide: string; seenAt: string[] } {
  const rates = parts.map((p) => p.requestRate);
  const bytes = parts.map((p) => p.bytes);
  const maxOf = (xs: Array<number | null>) => {
    const present = xs.filter((x): x is number => x !== null);
    return present.length ? Math.max(...present) : null;
  };
  const tapSides = [...new Set(parts.map((p) => p.tapSide).filter(Boolean))].sort((a, b) => rank(a) - rank(b));
  return {
    requestRate: sumOf(rates),
    errorRatio: weightedMean(
      parts.map((p) => p.errorRatio),
      rates,
    ),
    timeoutRatio: weightedMean(
      parts.map((p) => p.timeoutRatio),
      rates,
    ),
    rrtAvg: weightedMean(
      parts.map((p) => p.rrtAvg),
      rates,
    ),
    // Not a p99 of the merged traffic: the worst of the parts' p99s.
    rrtP99: maxOf(parts.map((p) => p.rrtP99)),
    bytes: sumOf(bytes),
    rtt: weightedMean(
      parts.map((p) => p.rtt),
      bytes,
    ),
    retransRatio: weightedMean(
      parts.map((p) => p.retransRatio),
      bytes,
    ),
    connectionFailures: parts.reduce((a, p) => a + p.connectionFailures, 0),
    tapSide: tapSides.join(' '),
    seenAt: [...new Set(parts.flatMap((p) => p.seenAt))].sort((a, b) => rank(a) - rank(b)),
  };
}

// ------------------------------------------------------------------ nodes

interface NodeStats {
  requestRate: number | null;
  errorRatio: number | null;
  rrtAvg: number | null;
  bytes: number | null;
  serverErrorRatio: number | null;
  clientRequestRate: number | null;
  clientErrorRatio: number | null;
}

/** A node's numbers from the edges it serves and calls, as the agent computes them. */
function statsFromEdges(id: string, edges: Array<{ source: string; target: string } & EdgeStats>): NodeStats {
  const s = { req: 0, resp: 0, err: 0, rrtW: 0, bytes: 0, any: false };
  const c = { req: 0, resp: 0, err: 0, bytes: 0, any: false };
  for (const e of edges) {
    const rate = e.requestRate ?? 0;
    const responses = e.errorRatio !== null ? rate : 0;
    const errors = e.errorRatio !== null ? e.errorRatio * rate : 0;
    if (e.target === id) {
      s.any = true;
      s.req += rate;
      s.resp += responses;
      s.err += errors;
      s.rrtW += (e.rrtAvg ?? 0) * rate;
      s.bytes += e.bytes ?? 0;
    }
    if (e.source === id) {
      c.any = true;
      c.req += rate;
      c.resp += responses;
      c.err += errors;
      c.bytes += e.bytes ?? 0;
    }
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  const serverErrorRatio = ratio(s.err, s.resp);
  const clientErrorRatio = ratio(c.err, c.resp);
  return {
    requestRate: s.req || c.req,
    errorRatio: serverErrorRatio ?? clientErrorRatio,
    rrtAvg: ratio(s.rrtW, s.req),
    bytes: s.any || c.any ? s.bytes + c.bytes : null,
    serverErrorRatio,
    clientRequestRate: c.any ? c.req : null,
    clientErrorRatio,
  };
}

/**
 * A node's error ratio from its row: as server, else as client, none without responses (the
 * MetaFlow detail fields); the Node Graph error arc for other sources.
 */
function frameErrorRatio(v: Values): number | null {
  if ('detail__server_error_ratio' in v || 'detail__client_error_ratio' in v) {
    return num(v.detail__server_error_ratio) ?? num(v.detail__client_error_ratio);
  }
  return num(v.arc__errors);
}

// ------------------------------------------------------------------ output frames

const NODE_FIELDS: Array<{ name: string; type: FieldType; unit?: string; displayName?: string }> = [
  { name: 'id', type: FieldType.string },
  { name: 'title', type: FieldType.string },
  { name: 'subtitle', type: FieldType.string },
  { name: 'mainstat', type: FieldType.number, unit: 'reqps', displayName: 'requests/s' },
  { name: 'secondarystat', type: FieldType.number, unit: 'µs', displayName: 'avg response time' },
  { name: 'arc__errors', type: FieldType.number, unit: 'percentunit', displayName: 'errors' },
  { name: 'detail__bytes', type: FieldType.number, unit: 'Bps', displayName: 'bytes/s' },
  { name: 'detail__kind', type: FieldType.string, displayName: 'kind' },
];

const EDGE_FIELDS: Array<{ name: string; type: FieldType; unit?: string; displayName?: string }> = [
  { name: 'id', type: FieldType.string },
  { name: 'source', type: FieldType.string },
  { name: 'target', type: FieldType.string },
  { name: 'mainstat', type: FieldType.number, unit: 'reqps', displayName: 'requests/s' },
  { name: 'secondarystat', type: FieldType.number, unit: 'percentunit', displayName: 'error ratio' },
  { name: 'detail__rrt_avg', type: FieldType.number, unit: 'µs', displayName: 'avg response time' },
  { name: 'detail__rrt_p99', type: FieldType.number, unit: 'µs', displayName: 'p99 response time' },
  { name: 'detail__bytes', type: FieldType.number, unit: 'Bps', displayName: 'bytes/s' },
  { name: 'detail__connection_failures', type: FieldType.number, unit: 'short', displayName: 'connection failures' },
  { name: 'detail__tap_side', type: FieldType.string, displayName: 'tap side' },
];

/** A frame with the fields of the source frames (else the standard ones) and the given rows. */
function outputFrame(name: string, sources: DataFrame[], standard: typeof NODE_FIELDS, rows: Values[]): DataFrame {
  const fields: Field[] = [];
  const seen = new Set<string>();
  for (const frame of sources) {
    for (const f of frame.fields) {
      const key = lower(f.name);
      if (seen.has(key)) {
        continue;
      }
      seen.add(key);
      const out: Field = { name: f.name, type: f.type, config: { ...f.config }, values: rows.map((r) => (key in r ? r[key] : null)) };
      if (f.display) {
        out.display = f.display;
      }
      fields.push(out);
    }
  }
  for (const s of standard) {
    if (!seen.has(s.name)) {
      fields.push({
        name: s.name,
        type: s.type,
        config: { ...(s.unit ? { unit: s.unit } : {}), ...(s.displayName ? { displayNameFromDS: s.displayName } : {}) },
        values: rows.map((r) => (s.name in r ? r[s.name] : null)),
      });
    }
  }
  const frame = createDataFrame({ name, fields });
  // createDataFrame keeps configs but not display processors: put them back.
  frame.fields.forEach((f, i) => {
    if (fields[i].display) {
      f.display = fields[i].display;
    }
  });
  return frame;
}

// ------------------------------------------------------------------ the model

export function buildMapModel(series: DataFrame[], options: ModelOptions): ServiceMapModel {
  const frames = findMapFrames(series);
  const nodeRows = rowsOf(frames.nodes);
  const edgeRows = rowsOf(frames.edges);
  const rrtFactor = microsecondsPer(unitOf(frames.edges, 'detail__rrt_avg'));
  const p99Factor = microsecondsPer(unitOf(frames.edges, 'detail__rrt_p99'));
  const rttFactor = microsecondsPer(unitOf(frames.edges, 'detail__rtt'));
  const nodeRrtFactor = microsecondsPer(unitOf(frames.nodes, 'secondarystat'));

  const allEdges = edgeRows.rows.map((r) => rawEdge(r, rrtFactor, p99Factor, rttFactor)).filter((e): e is RawEdge => e !== undefined);
  const { kept: preferred, collapsed } = preferredPerPair(allEdges.map((e) => ({ ...e })));
  const shown = options.tapSideMode === 'all' ? allEdges : preferred;
  // The agent's node numbers add up every edge; with a pair at several points that counts it twice.
  const nodesFromEdges = collapsed > 0;

  // Query nodes, plus those only edges name.
  const queryNodes = new Map<string, RawRow & { inferred: boolean }>();
  for (const r of nodeRows.rows) {
    queryNodes.set(r.id, { ...r, inferred: false });
  }
  const targets = new Set(allEdges.map((e) => e.target));
  for (const e of allEdges) {
    for (const id of [e.source, e.target]) {
      if (!queryNodes.has(id)) {
        const external = !targets.has(id);
        queryNodes.set(id, {
          id,
          inferred: true,
          values: { id, title: id, subtitle: external ? 'external client' : '', detail__kind: external ? 'external' : 'unknown' },
        });
      }
    }
  }
  const kindOf = (r: RawRow): NodeKind => {
    const kind = lower(str(r.values.detail__kind));
    const subtitle = lower(str(r.values.subtitle));
    if (kind === 'external' || subtitle === 'external client') {
      return 'external';
    }
    return kind === 'unknown' || subtitle.startsWith('unknown') ? 'unknown' : 'known';
  };
  const level = levelOf(nodeRows.rows.map((r) => str(r.values.subtitle)));

  // Groups.
  const groupOf = new Map<string, string>();
  for (const r of queryNodes.values()) {
    let g = r.id;
    if (options.grouping === 'address') {
      g = addressOf(r.id);
    } else if (options.grouping === 'external' && kindOf(r) === 'external') {
      g = EXTERNAL_GROUP_ID;
    }
    groupOf.set(r.id, g);
  }
  const groups = new Map<string, Array<RawRow & { inferred: boolean }>>();
  for (const r of [...queryNodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const g = groupOf.get(r.id) as string;
    const list = groups.get(g) ?? [];
    list.push(r);
    groups.set(g, list);
  }

  // Edges between groups: one per pair of groups (and observation point in `all` mode).
  const merged = new Map<string, RawEdge[]>();
  for (const e of shown) {
    const s = groupOf.get(e.source) as string;
    const t = groupOf.get(e.target) as string;
    const key = options.tapSideMode === 'all' ? `${s}\u0000${t}\u0000${e.tapSide}` : `${s}\u0000${t}`;
    const list = merged.get(key) ?? [];
    list.push(e);
    merged.set(key, list);
  }
  const edges: MapEdge[] = [];
  const edgeValues: Values[] = [];
  for (const unsorted of merged.values()) {
    const parts = unsorted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const first = parts[0];
    const source = groupOf.get(first.source) as string;
    const target = groupOf.get(first.target) as string;
    const single = parts.length === 1 && source === first.source && target === first.target;
    const stats = single ? first : mergeEdges(parts);
    const id = single ? first.id : options.tapSideMode === 'all' && stats.tapSide ? `${source}->${target}@${stats.tapSide}` : `${source}->${target}`;
    edges.push({
      id,
      source,
      target,
      requestRate: stats.requestRate,
      errorRatio: stats.errorRatio,
      timeoutRatio: stats.timeoutRatio,
      rrtAvg: stats.rrtAvg,
      rrtP99: stats.rrtP99,
      bytes: stats.bytes,
      rtt: stats.rtt,
      retransRatio: stats.retransRatio,
      connectionFailures: stats.connectionFailures,
      tapSide: stats.tapSide,
      seenAt: stats.seenAt,
      members: parts.map((p) => p.id),
      row: 0,
      parallel: { index: 0, count: 1 },
    });
    const scale = (x: number | null, f: number) => (x === null ? null : x / f);
    edgeValues.push(
      single
        ? first.values
        : {
            id,
            source,
            target,
            mainstat: stats.requestRate,
            secondarystat: stats.errorRatio,
            detail__rrt_avg: scale(stats.rrtAvg, rrtFactor),
            detail__rrt_p99: scale(stats.rrtP99, p99Factor),
            detail__timeout_ratio: stats.timeoutRatio,
            detail__bytes: stats.bytes,
            detail__rtt: scale(stats.rtt, rttFactor),
            detail__retrans_ratio: stats.retransRatio,
            detail__connection_failures: stats.connectionFailures,
            detail__tap_side: stats.tapSide,
            detail__seen_at: stats.seenAt.join(' '),
          },
    );
  }
  // Stable order: by id.
  const order = edges.map((_, i) => i).sort((a, b) => (edges[a].id < edges[b].id ? -1 : edges[a].id > edges[b].id ? 1 : 0));
  const sortedEdges = order.map((i, row) => ({ ...edges[i], row }));
  const sortedEdgeValues = order.map((i) => edgeValues[i]);

  // Parallel edges (both directions, and per observation point), numbered for drawing.
  const between = new Map<string, MapEdge[]>();
  for (const e of sortedEdges) {
    const key = e.source < e.target ? `${e.source}\u0000${e.target}` : `${e.target}\u0000${e.source}`;
    const list = between.get(key) ?? [];
    list.push(e);
    between.set(key, list);
  }
  for (const list of between.values()) {
    list.forEach((e, index) => (e.parallel = { index, count: list.length }));
  }

  // Node numbers from the edges each edge counted once: preferred edges, regrouped.
  const statEdges = preferred.map((e) => ({ ...e, source: groupOf.get(e.source) as string, target: groupOf.get(e.target) as string }));
  const nodes: MapNode[] = [];
  const nodeValues: Values[] = [];
  for (const [gid, members] of groups) {
    const first = members[0];
    const single = members.length === 1 && gid === first.id;
    const kinds = members.map(kindOf);
    const external = kinds.every((k) => k === 'external');
    const kind: NodeKind = single ? kinds[0] : external ? 'external' : 'group';
    const fromFrame = single && !first.inferred && !nodesFromEdges;
    const stats = statsFromEdges(gid, statEdges);
    const v = first.values;
    const title = single ? str(v.title) || gid : gid === EXTERNAL_GROUP_ID ? `external clients (${members.length})` : gid;
    const subtitle = single ? str(v.subtitle) : gid === EXTERNAL_GROUP_ID ? 'external clients' : `${members.length} ${level}s`;
    const node: MapNode = {
      id: gid,
      title,
      subtitle,
      kind,
      external,
      inferred: members.every((m) => m.inferred),
      requestRate: fromFrame ? num(v.mainstat) : stats.requestRate,
      errorRatio: fromFrame ? frameErrorRatio(v) : stats.errorRatio,
      rrtAvg: fromFrame ? (num(v.secondarystat) === null ? null : (num(v.secondarystat) as number) * nodeRrtFactor) : stats.rrtAvg,
      bytes: fromFrame ? num(v.detail__bytes) : stats.bytes,
      members: members.map((m) => m.id),
      row: 0,
    };
    nodes.push(node);
    nodeValues.push(
      fromFrame
        ? v
        : {
            // Fields all members agree on stay; the rest is computed or left empty.
            ...Object.fromEntries(Object.keys(v).map((k) => [k, members.every((m) => m.values[k] === v[k]) ? v[k] : null])),
            id: gid,
            title,
            subtitle,
            mainstat: node.requestRate,
            secondarystat: node.rrtAvg === null ? null : node.rrtAvg / nodeRrtFactor,
            arc__errors: node.errorRatio ?? 0,
            arc__ok: 1 - (node.errorRatio ?? 0),
            detail__server_error_ratio: stats.serverErrorRatio,
            detail__client_request_rate: stats.clientRequestRate,
            detail__client_error_ratio: stats.clientErrorRatio,
            detail__bytes: node.bytes,
            detail__kind: single ? v.detail__kind : external ? 'external' : 'group',
          },
    );
  }
  nodes.forEach((n, row) => (n.row = row));

  return {
    nodes,
    edges: sortedEdges,
    nodeFrame: outputFrame('nodes', frames.nodes, NODE_FIELDS, nodeValues),
    edgeFrame: outputFrame('edges', frames.edges, EDGE_FIELDS, sortedEdgeValues),
    level,
    grouping: options.grouping,
    duplicates: nodeRows.duplicates + edgeRows.duplicates,
    collapsed: options.tapSideMode === 'all' ? 0 : collapsed,
  };
}
