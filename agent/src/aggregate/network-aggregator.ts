import { FlowTable } from '../flow/flow-table';
import { TAP_SIDES } from '../flow/tap-side';
import { formatAddress } from '../util/ip-format';
import { HISTOGRAM_BUCKETS, HISTOGRAM_DELAYS, HISTOGRAM_OFFSET, METRIC_COUNT, NETWORK_METRICS, ROW_WIDTH } from './network-metrics';
import { L7_PROTOCOL_NAMES } from './l7-protocols';

/** The tags of a network map row (one client → server pair seen at one point) as JSON members. */
export interface MapRowTags {
  mapJson: string;
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
/** `,"name":` per metric, so a row's text is built by concatenation only. */
const METRIC_MEMBERS = METRIC_NAMES.map((n) => `,"${n}":`);
const HISTOGRAM_MEMBERS = HISTOGRAM_DELAYS.map((d) => `,"${d}_hist":{`);

/**
 * Aggregates flow updates into the network map rows of the current second (client → server pair
 * × tap_side × protocol). Flows add to a row slab directly (the flow table caches its row per
 * second), so closing a second costs one pass over its rows, not over flows. The single-sided
 * and minute tables are derived from these rows by ClickHouse (see store/schema.ts).
 */
export class NetworkAggregator {
  private second = new IntervalRows();
  /** Current second and its minute, in seconds since the epoch. */
  currentSecond = -1;
  currentMinute = -1;
  rowsWritten = 0;
  private readonly hostJson: string;

  constructor(
    private readonly sink: RowSink,
    host: string,
    private readonly signalSource = 'packet',
  ) {
    this.hostJson = JSON.stringify(host);
  }

  get slab(): Float64Array {
    return this.second.slab;
  }

  /** Base offset in `slab` of the row the flow adds to in the current second. */
  rowBase(flows: FlowTable, slot: number): number {
    if (flows.rowSecond[slot] === this.currentSecond) return flows.rowIndex[slot] * ROW_WIDTH;
    const row = this.second.rowFor(rowKey(flows, slot), () => this.mapTags(flows, slot));
    flows.rowIndex[slot] = row;
    flows.rowSecond[slot] = this.currentSecond;
    // A flow counts once per interval towards the active-flow load.
    this.second.slab[row * ROW_WIDTH + FLOW_LOAD]++;
    return row * ROW_WIDTH;
  }

  /** Starts a second, emitting the rows of the previous one. */
  beginSecond(second: number): void {
    if (this.currentSecond >= 0) this.closeSecond();
    this.currentSecond = second;
    this.currentMinute = second - (second % 60);
  }

  /** Emits everything still open (end of input or shutdown). */
  flush(): void {
    if (this.currentSecond >= 0) this.closeSecond();
    this.currentSecond = -1;
    this.currentMinute = -1;
  }

  private closeSecond(): void {
    const rows = this.second;
    const time = this.currentSecond;
    for (let r = 0; r < rows.count; r++) {
      this.sink.write('network_map_1s', `{"time":${time}${rows.tags[r].mapJson}${metricsJson(rows.slab, r * ROW_WIDTH)}}`);
      this.rowsWritten++;
    }
    rows.clear();
  }

  /** Tags of a map row from a flow: computed once per row and second. */
  private mapTags(flows: FlowTable, slot: number): MapRowTags {
    const v = flows.ipVersion[slot];
    const ip0 = formatAddress(v, flows.addr, slot * 8);
    const ip1 = formatAddress(v, flows.addr, slot * 8 + 4);
    const port1 = flows.port[slot * 2 + 1];
    return {
      mapJson:
        `,"tap_side":"${TAP_SIDES[flows.tapSide[slot]]}","signal_source":"${this.signalSource}","host":${this.hostJson},` +
        `"protocol":"${flows.proto[slot] === 6 ? 'tcp' : 'udp'}","l7_protocol":"${L7_PROTOCOL_NAMES[flows.l7Protocol[slot]] ?? ''}",` +
        `"ip_0":"${ip0}","ip_1":"${ip1}","port_1":${port1},"service_0":"${ip0}","service_1":"${ip1}:${port1}"`,
    };
  }
}

const FLOW_LOAD = METRIC_NAMES.indexOf('flow_load');

/** The non-zero metrics of a slab row as JSON members (omitted columns take their default 0). */
function metricsJson(slab: Float64Array, base: number): string {
  let out = '';
  for (let i = 0; i < METRIC_COUNT; i++) {
    const v = slab[base + i];
    if (v !== 0) out += METRIC_MEMBERS[i] + Math.round(v);
  }
  for (let d = 0; d < HISTOGRAM_DELAYS.length; d++) {
    const start = base + HISTOGRAM_OFFSET[HISTOGRAM_DELAYS[d]];
    let members = '';
    for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
      const n = slab[start + k];
      if (n !== 0) members += `${members ? ',' : ''}"${k}":${n}`;
    }
    if (members) out += HISTOGRAM_MEMBERS[d] + members + '}';
  }
  return out;
}

function rowKey(flows: FlowTable, slot: number): string {
  const a = slot * 8;
  const w = flows.addr;
  return `${flows.tapSide[slot]}|${flows.proto[slot]}|${flows.l7Protocol[slot]}|${w[a]},${w[a + 1]},${w[a + 2]},${w[a + 3]}|${w[a + 4]},${w[a + 5]},${w[a + 6]},${w[a + 7]}|${flows.port[slot * 2 + 1]}`;
}
