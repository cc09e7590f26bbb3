import { FlowTable } from '../flow/flow-table';
import { TAP_SIDES } from '../flow/tap-side';
import { formatAddress, formatEndpoint } from '../util/ip-format';
import { HISTOGRAM_BUCKETS, HISTOGRAM_DELAYS, HISTOGRAM_OFFSET, MERGE_MAX, METRIC_COUNT, NETWORK_METRICS, ROW_WIDTH } from './network-metrics';
import { L7_PROTOCOL_NAMES } from './l7-protocols';
import { JsonRowBuffer } from '../store/json-row-buffer';

/** The tags of a network map row (one client → server pair seen at one point). */
export interface MapRowTags {
  /** JSON members after `time`. */
  mapJson: string;
  /** The row's identity, shared by its second and minute rows. */
  key: string;
}

/**
 * Where finished rows go: the store's batch writer, or a test's collector. A producer asks for
 * the buffer of a table, appends one JSONEachRow row listing only non-zero metrics (the table's
 * defaults fill the rest) and ends it, so a row costs what the flow did, not the column count.
 */
export interface RowSink {
  rowBuffer(tableName: string): JsonRowBuffer;
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
const HISTOGRAM_MEMBERS = HISTOGRAM_DELAYS.map((d) => `,"${d}_hist":{`);

/**
 * Aggregates flow updates into the network map rows (client → server pair × tap_side ×
 * protocol) of the current second and minute. Flows add to the second's row slab directly (the
 * flow table caches its row per second); closing a second folds its rows into the minute's, so
 * the cost is one pass over rows, not over flows. The single-sided tables are derived from these
 * rows by ClickHouse (see store/schema.ts).
 */
export class NetworkAggregator {
  private second = new IntervalRows();
  private minute = new IntervalRows();
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
    const row = this.second.rowFor(rowKey(flows, slot), (key) => this.mapTags(flows, slot, key));
    flows.rowIndex[slot] = row;
    flows.rowSecond[slot] = this.currentSecond;
    // A flow counts once per second towards the active-flow load (flow-seconds).
    this.second.slab[row * ROW_WIDTH + FLOW_LOAD]++;
    return row * ROW_WIDTH;
  }

  /** Starts a second, emitting the previous one (and its minute when the minute changed). */
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
    for (let r = 0; r < rows.count; r++) {
      const tags = rows.tags[r];
      mergeRow(this.minute.slab, this.minute.rowFor(tags.key, () => tags) * ROW_WIDTH, rows.slab, r * ROW_WIDTH);
    }
    this.emit('network_map_1s', this.currentSecond, rows);
  }

  private closeMinute(): void {
    this.emit('network_map_1m', this.currentMinute, this.minute);
  }

  private emit(table: string, time: number, rows: IntervalRows): void {
    for (let r = 0; r < rows.count; r++) {
      const b = this.sink.rowBuffer(table);
      b.ascii('{"time":').int(time).utf8(rows.tags[r].mapJson);
      writeMetrics(b, rows.slab, r * ROW_WIDTH);
      b.endRow();
      this.rowsWritten++;
    }
    rows.clear();
  }

  /** Tags of a map row from a flow: computed once per row and second. */
  private mapTags(flows: FlowTable, slot: number, key: string): MapRowTags {
    const v = flows.ipVersion[slot];
    const ip0 = formatAddress(v, flows.addr, slot * 8);
    const ip1 = formatAddress(v, flows.addr, slot * 8 + 4);
    const port1 = flows.port[slot * 2 + 1];
    return {
      key,
      mapJson:
        `,"tap_side":"${TAP_SIDES[flows.tapSide[slot]]}","signal_source":"${this.signalSource}","host":${this.hostJson},` +
        `"protocol":"${flows.proto[slot] === 6 ? 'tcp' : 'udp'}","l7_protocol":"${L7_PROTOCOL_NAMES[flows.l7Protocol[slot]] ?? ''}",` +
        `"ip_0":"${ip0}","ip_1":"${ip1}","port_1":${port1},"service_0":"${ip0}","service_1":"${formatEndpoint(ip1, port1)}"`,
    };
  }
}

/** Adds one slab row into another: counters add up, maxima keep the larger value. */
function mergeRow(dst: Float64Array, dstBase: number, src: Float64Array, srcBase: number): void {
  for (let i = 0; i < ROW_WIDTH; i++) {
    const v = src[srcBase + i];
    if (v === 0) continue;
    if (i < METRIC_COUNT && MERGE_MAX[i]) {
      if (v > dst[dstBase + i]) dst[dstBase + i] = v;
    } else {
      dst[dstBase + i] += v;
    }
  }
}

const FLOW_LOAD = METRIC_NAMES.indexOf('flow_load');

/** The non-zero metrics of a slab row as JSON members (omitted columns take their default 0). */
function writeMetrics(b: JsonRowBuffer, slab: Float64Array, base: number): void {
  for (let i = 0; i < METRIC_COUNT; i++) {
    const v = slab[base + i];
    if (v !== 0) b.ascii(METRIC_MEMBERS[i]).int(v);
  }
  for (let d = 0; d < HISTOGRAM_DELAYS.length; d++) {
    const start = base + HISTOGRAM_OFFSET[HISTOGRAM_DELAYS[d]];
    let first = true;
    for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
      const n = slab[start + k];
      if (n === 0) continue;
      b.ascii(first ? HISTOGRAM_MEMBERS[d] : ',').ascii(BUCKET_KEYS[k]).int(n);
      first = false;
    }
    if (!first) b.ascii('}');
  }
}

/** `"k":` for each histogram bucket. */
const BUCKET_KEYS = Array.from({ length: HISTOGRAM_BUCKETS }, (_, k) => `"${k}":`);

function rowKey(flows: FlowTable, slot: number): string {
  const a = slot * 8;
  const w = flows.addr;
  return `${flows.tapSide[slot]}|${flows.proto[slot]}|${flows.l7Protocol[slot]}|${w[a]},${w[a + 1]},${w[a + 2]},${w[a + 3]}|${w[a + 4]},${w[a + 5]},${w[a + 6]},${w[a + 7]}|${flows.port[slot * 2 + 1]}`;
}
