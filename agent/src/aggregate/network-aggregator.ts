import { FlowTable } from '../flow/flow-table';
import { TAP_SIDES } from '../flow/tap-side';
import { formatAddress } from '../util/ip-format';
import { HISTOGRAM_BUCKETS, HISTOGRAM_DELAYS, HISTOGRAM_OFFSET, MERGE_MAX, METRIC_COUNT, NETWORK_METRICS, ROW_WIDTH } from './network-metrics';
import { L7_PROTOCOL_NAMES } from './l7-protocols';

/** The tags of a network map row: one client → server pair seen at one point. */
export interface MapRowTags {
  tapSide: string;
  protocol: string;
  l7Protocol: string;
  ip0: string;
  ip1: string;
  port1: number;
  /** JSON members of the row after `time`, built once per row. */
  mapJson: string;
  /** Identity of the map row, and of its client and server endpoint rows. */
  key: string;
  clientKey: string;
  serverKey: string;
}

/**
 * Where finished rows go: the store's batch writer, or a test's collector. Rows arrive as
 * JSONEachRow lines listing only non-zero metrics (the table's defaults fill the rest), which
 * keeps the per-row cost proportional to what a flow did rather than to the column count.
 */
export interface RowSink {
  write(tableName: string, jsonLine: string): void;
}

/** Rows of one interval: a key → row index map, the tags per row and a slab of numbers. */
class IntervalRows {
  readonly index = new Map<string, number>();
  tags: MapRowTags[] = [];
  slab = new Float64Array(ROW_WIDTH * 256);

  get count(): number {
    return this.tags.length;
  }

  rowFor(key: string, makeTags: (key: string) => MapRowTags): number {
    let row = this.index.get(key);
    if (row === undefined) {
      row = this.tags.length;
      this.tags.push(makeTags(key));
      this.index.set(key, row);
      if ((row + 1) * ROW_WIDTH > this.slab.length) {
        const bigger = new Float64Array(this.slab.length * 2);
        bigger.set(this.slab);
        this.slab = bigger;
      }
    }
    return row;
  }

  clear(): void {
    this.index.clear();
    this.tags = [];
    this.slab.fill(0, 0, Math.min(this.slab.length, ROW_WIDTH * 256));
    if (this.slab.length > ROW_WIDTH * 256) this.slab = new Float64Array(ROW_WIDTH * 256);
  }
}

const METRIC_NAMES = NETWORK_METRICS.map((m) => m.name);
/** `,"name":` per metric, so a row's text is built by concatenation only. */
const METRIC_MEMBERS = METRIC_NAMES.map((n) => `,"${n}":`);
const HISTOGRAM_MEMBERS = HISTOGRAM_DELAYS.map((d) => `,"${d}_hist":[`);

/** Indexes of `_tx` metrics: a server endpoint's row swaps each with its `_rx`. */
const TX_INDEXES = METRIC_NAMES.flatMap((name, i) => (name.endsWith('_tx') ? [i] : []));

/**
 * Aggregates flow updates into the network map rows of the current second and folds them into the
 * minute and into the single-sided network rows. Flows add to a row slab directly (the flow table
 * caches its row per second), so closing a second costs one pass over its rows, not over flows.
 */
export class NetworkAggregator {
  private second = new IntervalRows();
  private minute = new IntervalRows();
  /** Current second and minute, in seconds since the epoch. */
  currentSecond = -1;
  currentMinute = -1;
  rowsWritten = 0;

  constructor(
    private readonly sink: RowSink,
    private readonly host: string,
    private readonly signalSource = 'packet',
  ) {}

  get slab(): Float64Array {
    return this.second.slab;
  }

  /** Base offset in `slab` of the row the flow adds to in the current second. */
  rowBase(flows: FlowTable, slot: number): number {
    if (flows.rowSecond[slot] === this.currentSecond) return flows.rowIndex[slot] * ROW_WIDTH;
    const row = this.second.rowFor(rowKey(flows, slot), (key) => this.mapTags(flows, slot, key));
    flows.rowIndex[slot] = row;
    flows.rowSecond[slot] = this.currentSecond;
    // A flow counts once per interval towards the active-flow load.
    this.second.slab[row * ROW_WIDTH + FLOW_LOAD]++;
    return row * ROW_WIDTH;
  }

  /** Starts a second; closes the previous one (and its minute when the minute changed). */
  beginSecond(second: number): void {
    if (this.currentSecond >= 0) this.closeSecond();
    const minute = second - (second % 60);
    if (this.currentMinute >= 0 && minute !== this.currentMinute) this.closeMinute();
    this.currentSecond = second;
    this.currentMinute = minute;
  }

  /** Emits everything still open (end of input or shutdown). */
  flush(): void {
    if (this.currentSecond >= 0) this.closeSecond();
    if (this.currentMinute >= 0) this.closeMinute();
    this.currentSecond = -1;
    this.currentMinute = -1;
  }

  private closeSecond(): void {
    const rows = this.second;
    const time = this.currentSecond;
    for (let r = 0; r < rows.count; r++) {
      const tags = rows.tags[r];
      const base = r * ROW_WIDTH;
      const target = this.minute.rowFor(tags.key, () => tags) * ROW_WIDTH;
      mergeRow(this.minute.slab, target, rows.slab, base);
      this.emitMap('network_map_1s', time, tags, rows.slab, base);
    }
    this.emitNetwork('network_1s', time, rows);
    rows.clear();
  }

  private closeMinute(): void {
    const rows = this.minute;
    for (let r = 0; r < rows.count; r++) this.emitMap('network_map_1m', this.currentMinute, rows.tags[r], rows.slab, r * ROW_WIDTH);
    this.emitNetwork('network_1m', this.currentMinute, rows);
    rows.clear();
  }

  private emitMap(table: string, time: number, t: MapRowTags, slab: Float64Array, base: number): void {
    this.sink.write(table, `{"time":${time}${t.mapJson}${metricsJson(slab, base)}}`);
    this.rowsWritten++;
  }

  /** Folds map rows into one row per endpoint and role: the client's and the server's view. */
  private emitNetwork(table: string, time: number, rows: IntervalRows): void {
    const endpoints = this.endpoints;
    for (let r = 0; r < rows.count; r++) {
      const t = rows.tags[r];
      for (let server = 0; server < 2; server++) {
        const e = endpoints.rowFor(server ? t.serverKey : t.clientKey, () => this.endpointTags(t, server === 1));
        mergeRow(endpoints.slab, e * ROW_WIDTH, rows.slab, r * ROW_WIDTH, server === 1);
      }
    }
    for (let e = 0; e < endpoints.count; e++) {
      this.sink.write(table, `{"time":${time}${endpoints.tags[e].mapJson}${metricsJson(endpoints.slab, e * ROW_WIDTH)}}`);
      this.rowsWritten++;
    }
    endpoints.clear();
  }

  private readonly endpoints = new IntervalRows();

  /** Tags of a single-sided row; `mapJson` holds that row's members. */
  private endpointTags(t: MapRowTags, server: boolean): MapRowTags {
    const ip = server ? t.ip1 : t.ip0;
    const service = server ? `${t.ip1}:${t.port1}` : t.ip0;
    const mapJson =
      `,"tap_side":"${t.tapSide}","signal_source":"${this.signalSource}","host":${JSON.stringify(this.host)},"protocol":"${t.protocol}",` +
      `"l7_protocol":"${t.l7Protocol}","ip":"${ip}","server_port":${t.port1},"role":"${server ? 'server' : 'client'}","service":${JSON.stringify(service)}`;
    return { ...t, mapJson };
  }

  /** Tags of a map row from a flow: computed once per row and interval. */
  mapTags(flows: FlowTable, slot: number, key: string): MapRowTags {
    const v = flows.ipVersion[slot];
    const tapSide = TAP_SIDES[flows.tapSide[slot]];
    const protocol = flows.proto[slot] === 6 ? 'tcp' : 'udp';
    const l7Protocol = L7_PROTOCOL_NAMES[flows.l7Protocol[slot]] ?? '';
    const ip0 = formatAddress(v, flows.addr, slot * 8);
    const ip1 = formatAddress(v, flows.addr, slot * 8 + 4);
    const port1 = flows.port[slot * 2 + 1];
    const mapJson =
      `,"tap_side":"${tapSide}","signal_source":"${this.signalSource}","host":${JSON.stringify(this.host)},"protocol":"${protocol}",` +
      `"l7_protocol":"${l7Protocol}","ip_0":"${ip0}","ip_1":"${ip1}","port_1":${port1},"service_0":"${ip0}","service_1":"${ip1}:${port1}"`;
    const common = `${tapSide}|${protocol}|${l7Protocol}|`;
    return { tapSide, protocol, l7Protocol, ip0, ip1, port1, mapJson, key, clientKey: `c|${common}${ip0}|${port1}`, serverKey: `s|${common}${ip1}|${port1}` };
  }
}

const FLOW_LOAD = METRIC_NAMES.indexOf('flow_load');

function mergeRow(dst: Float64Array, dstBase: number, src: Float64Array, srcBase: number, swapDirections = false): void {
  for (let i = 0; i < ROW_WIDTH; i++) {
    const v = src[srcBase + i];
    if (v === 0) continue;
    if (i < METRIC_COUNT && MERGE_MAX[i]) {
      if (v > dst[dstBase + i]) dst[dstBase + i] = v;
    } else {
      dst[dstBase + i] += v;
    }
  }
  if (swapDirections) {
    for (const tx of TX_INDEXES) {
      // Added unswapped above; exchange only what this row contributed.
      const a = src[srcBase + tx];
      const b = src[srcBase + tx + 1];
      dst[dstBase + tx] += b - a;
      dst[dstBase + tx + 1] += a - b;
    }
  }
}

/** The non-zero metrics of a slab row as JSON members (omitted columns take their default 0). */
function metricsJson(slab: Float64Array, base: number): string {
  let out = '';
  for (let i = 0; i < METRIC_COUNT; i++) {
    const v = slab[base + i];
    if (v !== 0) out += METRIC_MEMBERS[i] + Math.round(v);
  }
  for (let d = 0; d < HISTOGRAM_DELAYS.length; d++) {
    const start = base + HISTOGRAM_OFFSET[HISTOGRAM_DELAYS[d]];
    let last = HISTOGRAM_BUCKETS;
    while (last > 0 && slab[start + last - 1] === 0) last--;
    if (last === 0) continue;
    out += HISTOGRAM_MEMBERS[d];
    for (let k = 0; k < last; k++) out += (k ? ',' : '') + slab[start + k];
    out += ']';
  }
  return out;
}

function rowKey(flows: FlowTable, slot: number): string {
  const a = slot * 8;
  const w = flows.addr;
  return `${flows.tapSide[slot]}|${flows.proto[slot]}|${flows.l7Protocol[slot]}|${w[a]},${w[a + 1]},${w[a + 2]},${w[a + 3]}|${w[a + 4]},${w[a + 5]},${w[a + 6]},${w[a + 7]}|${flows.port[slot * 2 + 1]}`;
}
