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
}

/** Where finished rows go: the store's batch writer, or a test's collector. */
export interface RowSink {
  write(tableName: string, columns: readonly string[], row: unknown[]): void;
}

/** Rows of one interval: a key → row index map, the tags per row and a slab of numbers. */
class IntervalRows {
  readonly index = new Map<string, number>();
  tags: MapRowTags[] = [];
  slab = new Float64Array(ROW_WIDTH * 256);

  get count(): number {
    return this.tags.length;
  }

  rowFor(key: string, makeTags: () => MapRowTags): number {
    let row = this.index.get(key);
    if (row === undefined) {
      row = this.tags.length;
      this.tags.push(makeTags());
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
const HISTOGRAM_NAMES = HISTOGRAM_DELAYS.map((d) => `${d}_hist`);
const MAP_TAG_COLUMNS = ['time', 'tap_side', 'signal_source', 'host', 'protocol', 'l7_protocol', 'ip_0', 'ip_1', 'port_1', 'service_0', 'service_1'];
const NETWORK_TAG_COLUMNS = ['time', 'tap_side', 'signal_source', 'host', 'protocol', 'l7_protocol', 'ip', 'server_port', 'role', 'service'];
export const MAP_COLUMNS = [...MAP_TAG_COLUMNS, ...METRIC_NAMES, ...HISTOGRAM_NAMES];
export const NETWORK_COLUMNS = [...NETWORK_TAG_COLUMNS, ...METRIC_NAMES, ...HISTOGRAM_NAMES];

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
    const row = this.second.rowFor(rowKey(flows, slot), () => rowTags(flows, slot));
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
      const target = this.minute.rowFor(mapKey(tags), () => tags) * ROW_WIDTH;
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
    const row: unknown[] = [time, t.tapSide, this.signalSource, this.host, t.protocol, t.l7Protocol, t.ip0, t.ip1, t.port1, t.ip0, `${t.ip1}:${t.port1}`];
    pushMetrics(row, slab, base);
    this.sink.write(table, MAP_COLUMNS, row);
    this.rowsWritten++;
  }

  /** Folds map rows into one row per endpoint and role: the client's and the server's view. */
  private emitNetwork(table: string, time: number, rows: IntervalRows): void {
    const endpoints = new IntervalRows();
    const roles: boolean[] = [];
    for (let r = 0; r < rows.count; r++) {
      const t = rows.tags[r];
      for (const server of [false, true]) {
        const ip = server ? t.ip1 : t.ip0;
        const key = `${t.tapSide}|${t.protocol}|${t.l7Protocol}|${ip}|${t.port1}|${server ? 's' : 'c'}`;
        const e = endpoints.rowFor(key, () => ({ ...t, ip0: ip, ip1: ip }));
        roles[e] = server;
        mergeRow(endpoints.slab, e * ROW_WIDTH, rows.slab, r * ROW_WIDTH, server);
      }
    }
    for (let e = 0; e < endpoints.count; e++) {
      const t = endpoints.tags[e];
      const server = roles[e];
      const row: unknown[] = [time, t.tapSide, this.signalSource, this.host, t.protocol, t.l7Protocol, t.ip0, t.port1, server ? 'server' : 'client', server ? `${t.ip0}:${t.port1}` : t.ip0];
      pushMetrics(row, endpoints.slab, e * ROW_WIDTH);
      this.sink.write(table, NETWORK_COLUMNS, row);
      this.rowsWritten++;
    }
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

function pushMetrics(row: unknown[], slab: Float64Array, base: number): void {
  for (let i = 0; i < METRIC_COUNT; i++) row.push(Math.round(slab[base + i]));
  for (const d of HISTOGRAM_DELAYS) {
    const start = base + HISTOGRAM_OFFSET[d];
    let last = HISTOGRAM_BUCKETS;
    while (last > 0 && slab[start + last - 1] === 0) last--;
    row.push(Array.from(slab.subarray(start, start + last)));
  }
}

function mapKey(t: MapRowTags): string {
  return `${t.tapSide}|${t.protocol}|${t.l7Protocol}|${t.ip0}|${t.ip1}|${t.port1}`;
}

function rowKey(flows: FlowTable, slot: number): string {
  const a = slot * 8;
  const w = flows.addr;
  return `${flows.tapSide[slot]}|${flows.proto[slot]}|${flows.l7Protocol[slot]}|${w[a]},${w[a + 1]},${w[a + 2]},${w[a + 3]}|${w[a + 4]},${w[a + 5]},${w[a + 6]},${w[a + 7]}|${flows.port[slot * 2 + 1]}`;
}

function rowTags(flows: FlowTable, slot: number): MapRowTags {
  const v = flows.ipVersion[slot];
  return {
    tapSide: TAP_SIDES[flows.tapSide[slot]],
    protocol: flows.proto[slot] === 6 ? 'tcp' : 'udp',
    l7Protocol: L7_PROTOCOL_NAMES[flows.l7Protocol[slot]] ?? '',
    ip0: formatAddress(v, flows.addr, slot * 8),
    ip1: formatAddress(v, flows.addr, slot * 8 + 4),
    port1: flows.port[slot * 2 + 1],
  };
}
