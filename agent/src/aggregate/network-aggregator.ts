import { FlowTable } from '../flow/flow-table';
import { TAP_SIDES } from '../flow/tap-side';
import { HISTOGRAM_BUCKETS, HISTOGRAM_DELAYS, HISTOGRAM_OFFSET, MERGE_MAX, METRIC_COUNT, NETWORK_METRICS, ROW_WIDTH } from './network-metrics';
import { L7_PROTOCOL_NAMES } from './l7-protocols';
import { JsonRowBuffer } from '../store/json-row-buffer';
import { formatEndpoint } from '../util/ip-format';
import { defaultWidth, encodeString, expectColumnType, fixedWidth, MAX_ADDRESS_TEXT, putAddressText, putBytes, putDecimalText, putU16, putU32, putU64, RowBinaryBuffer } from '../store/row-binary';
import { fileColumnType, NativeBlock } from '../store/native-block';
import { NETWORK_MAP_TABLES, TableDef } from '../store/tables';

/**
 * Where finished rows go: the store's batch writer, or a test's collector. A producer asks for
 * the buffer of a table and appends one row: JSONEachRow listing only the columns that are not
 * at their default (the tables' defaults fill the rest), or, for the tables written per flow,
 * per request and per second, RowBinary (see store/row-binary.ts) or a Native block's columns
 * (store/native-block.ts).
 */
export interface RowSink {
  rowBuffer(tableName: string): JsonRowBuffer;
  binaryRows(tableName: string): RowBinaryBuffer;
  nativeBlock(tableName: string): NativeBlock;
}

/** A map row's identity: tap side, protocol and l7 protocol in one word, both addresses, server port. */
const KEY_WORDS = 10;
const INITIAL_ROWS = 256;

/**
 * Rows of one interval: an open-addressing index over the rows' numeric keys, each row's tag
 * columns already in RowBinary (in one byte arena) and a slab of numbers. Hand-written instead
 * of a Map keyed by strings: finding a flow's row is a hash of ten numbers, and a new row costs
 * no string or object.
 */
class IntervalRows {
  count = 0;
  keys = new Uint32Array(KEY_WORDS * INITIAL_ROWS);
  hashes = new Int32Array(INITIAL_ROWS);
  /** Slot → row + 1 (0: empty), a power of two at least twice the rows. */
  index = new Int32Array(INITIAL_ROWS * 2);
  /** Tag bytes of row r: tags[tagStart[r], tagStart[r + 1]); zero beyond the last row's end. */
  tags = new Uint8Array(INITIAL_ROWS * 128);
  tagStart = new Int32Array(INITIAL_ROWS + 1);
  slab = new Float64Array(ROW_WIDTH * INITIAL_ROWS);

  /** The row whose key is `keys[at, at + KEY_WORDS)`, or -1. */
  find(keys: Uint32Array, at: number, hash: number): number {
    const index = this.index;
    const mask = index.length - 1;
    const mine = this.keys;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const r = index[i] - 1;
      if (r < 0) return -1;
      if (this.hashes[r] !== hash) continue;
      const b = r * KEY_WORDS;
      let k = 0;
      while (k < KEY_WORDS && mine[b + k] === keys[at + k]) k++;
      if (k === KEY_WORDS) return r;
    }
  }

  /** Adds a row for a key not present; the caller then writes its tags (`tagsEnd`). */
  add(keys: Uint32Array, at: number, hash: number): number {
    const row = this.count++;
    if (this.count > this.hashes.length) this.growRows();
    // The slab may have been shrunk back by clear() while the other columns kept their size.
    if (this.count * ROW_WIDTH > this.slab.length) {
      const slab = new Float64Array(Math.max(this.slab.length * 2, this.count * ROW_WIDTH));
      slab.set(this.slab);
      this.slab = slab;
    }
    const mine = this.keys;
    for (let k = 0; k < KEY_WORDS; k++) mine[row * KEY_WORDS + k] = keys[at + k];
    this.hashes[row] = hash;
    if (this.count * 2 > this.index.length) this.rehash(this.index.length * 2);
    else this.place(row);
    return row;
  }

  /** Room for `bytes` more tag bytes; returns where the new row's tags start. */
  reserveTags(bytes: number): number {
    const at = this.tagStart[this.count - 1];
    if (at + bytes > this.tags.length) {
      const bigger = new Uint8Array(Math.max(this.tags.length * 2, at + bytes));
      bigger.set(this.tags.subarray(0, at));
      this.tags = bigger;
    }
    return at;
  }

  /** Ends the tags of the row added last. */
  tagsEnd(end: number): void {
    this.tagStart[this.count] = end;
  }

  clear(): void {
    this.tags.fill(0, 0, this.tagStart[this.count]);
    this.index.fill(0);
    // The slab keeps its room while intervals fill a good part of it and halves after one that
    // used under a quarter. Shrinking it after every interval had each second regrow it by
    // doubling into fresh memory: at 24,000 rows (27 MB) that was a third of a replay's page
    // faults.
    const room = this.slab.length / ROW_WIDTH;
    if (room > INITIAL_ROWS && this.count < room / 4) this.slab = new Float64Array(ROW_WIDTH * Math.max(INITIAL_ROWS, room / 2));
    else this.slab.fill(0, 0, this.count * ROW_WIDTH);
    this.count = 0;
  }

  private place(row: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.hashes[row] & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = row + 1;
  }

  private rehash(size: number): void {
    this.index = new Int32Array(size);
    for (let r = 0; r < this.count; r++) this.place(r);
  }

  private growRows(): void {
    const n = this.hashes.length * 2;
    const keys = new Uint32Array(n * KEY_WORDS);
    keys.set(this.keys);
    this.keys = keys;
    const hashes = new Int32Array(n);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const tagStart = new Int32Array(n + 1);
    tagStart.set(this.tagStart);
    this.tagStart = tagStart;
  }
}

// ---------------------------------------------------------------- the map tables' RowBinary layout

const enum Tag {
  Skip,
  TapSide,
  SignalSource,
  Host,
  Protocol,
  L7Protocol,
  Ip0,
  Ip1,
  Port1,
  Service0,
  Service1,
  // Process tags: only rows of sockets (the eBPF path) fill them; flows leave their defaults.
  Process0,
  Process1,
  Pid0,
  Pid1,
  Container0,
  Container1,
}

/**
 * The columns of the network map tables, from their definition: `time`, then the tags (written
 * once per row and interval), then the metrics and histograms (per row). A tag this code does not
 * fill (process, pid, container: packet data has none) is left at its default.
 */
interface MapLayout {
  tagOps: Int32Array;
  /** Bytes a `Skip` tag takes. */
  tagWidths: Int32Array;
  /** Per value column: its slab offset, and whether it is a histogram (else a UInt64 metric). */
  valueOffset: Int32Array;
  valueIsHistogram: Uint8Array;
}

function mapLayout(table: TableDef): MapLayout {
  const cols = table.columns;
  if (cols[0].name !== 'time') throw new Error(`${table.name}: the first column must be time`);
  expectColumnType(table, cols[0], 'DateTime');
  const tagOps: number[] = [];
  const tagWidths: number[] = [];
  const valueOffset: number[] = [];
  const valueIsHistogram: number[] = [];
  const metricIndex = new Map(NETWORK_METRICS.map((m, i) => [m.name, i]));
  const histogram = new Map<string, number>(HISTOGRAM_DELAYS.map((d) => [`${d}_hist`, HISTOGRAM_OFFSET[d]]));
  const stringTags: Record<string, Tag> = {
    tap_side: Tag.TapSide,
    signal_source: Tag.SignalSource,
    host: Tag.Host,
    protocol: Tag.Protocol,
    l7_protocol: Tag.L7Protocol,
    ip_0: Tag.Ip0,
    ip_1: Tag.Ip1,
    service_0: Tag.Service0,
    service_1: Tag.Service1,
    process_0: Tag.Process0,
    process_1: Tag.Process1,
    container_0: Tag.Container0,
    container_1: Tag.Container1,
  };
  for (const c of cols.slice(1)) {
    const metric = metricIndex.get(c.name);
    const hist = histogram.get(c.name);
    if (metric !== undefined || hist !== undefined) {
      valueOffset.push(metric ?? (hist as number));
      valueIsHistogram.push(hist !== undefined ? 1 : 0);
      expectColumnType(table, c, hist !== undefined ? 'Map(UInt8, UInt64)' : 'UInt64');
      continue;
    }
    if (valueOffset.length > 0) throw new Error(`${table.name}.${c.name}: tag columns must come before the metrics`);
    const op = c.name === 'port_1' ? Tag.Port1 : c.name === 'pid_0' ? Tag.Pid0 : c.name === 'pid_1' ? Tag.Pid1 : (stringTags[c.name] ?? Tag.Skip);
    if (op === Tag.Pid0 || op === Tag.Pid1) expectColumnType(table, c, 'UInt32');
    if (op === Tag.Port1) expectColumnType(table, c, 'UInt16');
    else if (op !== Tag.Skip && op !== Tag.Pid0 && op !== Tag.Pid1 && c.type !== 'String') expectColumnType(table, c, 'LowCardinality(String)');
    tagOps.push(op);
    const sentAs = fileColumnType(c.type);
    if (fixedWidth(sentAs) === 0 && sentAs !== 'String') throw new Error(`${table.name}.${c.name}: a tag column must be a String or fixed-width`);
    // Flows write a process tag as its default, like a column they do not know.
    tagWidths.push(op === Tag.Skip || op >= Tag.Process0 ? defaultWidth(c.type) : 0);
  }
  return {
    tagOps: Int32Array.from(tagOps),
    tagWidths: Int32Array.from(tagWidths),
    valueOffset: Int32Array.from(valueOffset),
    valueIsHistogram: Uint8Array.from(valueIsHistogram),
  };
}

const MAP_LAYOUT = mapLayout(NETWORK_MAP_TABLES[0]);
for (const t of NETWORK_MAP_TABLES.slice(1)) {
  if (JSON.stringify(t.columns) !== JSON.stringify(NETWORK_MAP_TABLES[0].columns)) throw new Error(`${t.name} must have the columns of network_map_1s`);
}

const TAP_SIDE_BYTES = TAP_SIDES.map(encodeString);
const PROTOCOL_BYTES = { tcp: encodeString('tcp'), udp: encodeString('udp') };
const L7_PROTOCOL_BYTES = Array.from({ length: 256 }, (_, i) => encodeString(L7_PROTOCOL_NAMES[i] ?? ''));

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
  private readonly hostBytes: Buffer;
  private readonly signalSourceBytes: Buffer;
  /** Longest tag bytes of a row. */
  private readonly tagBytesMax: number;
  private readonly key = new Uint32Array(KEY_WORDS);

  constructor(
    private readonly sink: RowSink,
    host: string,
    signalSource = 'packet',
  ) {
    this.hostBytes = encodeString(host);
    this.signalSourceBytes = encodeString(signalSource);
    this.tagBytesMax = this.hostBytes.length + this.signalSourceBytes.length + 4 * (MAX_ADDRESS_TEXT + 16) + 64;
    for (let i = 0; i < MAP_LAYOUT.tagOps.length; i++) this.tagBytesMax += MAP_LAYOUT.tagWidths[i] + 16;
  }

  get slab(): Float64Array {
    return this.second.slab;
  }

  /** Base offset in `slab` of the row the flow adds to in the current second. */
  rowBase(flows: FlowTable, slot: number): number {
    if (flows.rowSecond[slot] === this.currentSecond) return flows.rowIndex[slot] * ROW_WIDTH;
    const key = this.key;
    const a = slot * 8;
    const w = flows.addr;
    key[0] = flows.tapSide[slot] | (flows.proto[slot] << 8) | (flows.l7Protocol[slot] << 16);
    for (let k = 0; k < 8; k++) key[1 + k] = w[a + k];
    key[9] = flows.port[slot * 2 + 1];
    const hash = hashKey(key);
    const second = this.second;
    let row = second.find(key, 0, hash);
    if (row < 0) {
      row = second.add(key, 0, hash);
      this.writeTags(second, flows, slot);
    }
    flows.rowIndex[slot] = row;
    flows.rowSecond[slot] = this.currentSecond;
    // A flow counts once per second towards the active-flow load (flow-seconds).
    second.slab[row * ROW_WIDTH + FLOW_LOAD]++;
    return row * ROW_WIDTH;
  }

  /** Ids of the socket rows' tags in the current minute (see socketRowBase). */
  private socketKeys = new Map<string, number>();

  /**
   * Base offset in `slab` of the current second's row with these tags, for counters that come
   * from sockets rather than flows (the TCP tracepoints at `c-p` / `s-p`, with the socket's
   * process): the same rows, folding into minutes and output as flows' rows. Such rows have no
   * `flow_load` (nothing follows a socket's activity per second).
   */
  socketRowBase(t: SocketRowTags): number {
    const text = socketTagText(t);
    let id = this.socketKeys.get(text);
    if (id === undefined) this.socketKeys.set(text, (id = this.socketKeys.size));
    // Flows' first key word stays below 2^24 (tap side, protocol and l7 protocol bytes): no clash.
    const key = this.key;
    key.fill(0);
    key[0] = SOCKET_ROW;
    key[1] = id;
    const hash = hashKey(key);
    const second = this.second;
    let row = second.find(key, 0, hash);
    if (row < 0) {
      row = second.add(key, 0, hash);
      this.writeSocketTags(second, t);
    }
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

  /*
   * The per-interval work is split so that each loop ends its function: V8 compiles a hot loop
   * while it runs (on-stack replacement), before the code after it ever ran, and that code, run
   * without type feedback, made the compiled loop bail out at its end and be compiled again. A
   * replay of the HTTP/1 bench capture compiled the per-second functions (these and L7Output's)
   * 19-25 times before, 14 times after.
   */
  private closeSecond(): void {
    this.foldIntoMinute(this.second, this.minute);
    this.emit('network_map_1s', this.currentSecond, this.second);
    this.second.clear();
  }

  private foldIntoMinute(rows: IntervalRows, minute: IntervalRows): void {
    for (let r = 0; r < rows.count; r++) {
      const hash = rows.hashes[r];
      let m = minute.find(rows.keys, r * KEY_WORDS, hash);
      if (m < 0) {
        m = minute.add(rows.keys, r * KEY_WORDS, hash);
        const from = rows.tagStart[r];
        const n = rows.tagStart[r + 1] - from;
        const at = minute.reserveTags(n);
        minute.tags.set(rows.tags.subarray(from, from + n), at);
        minute.tagsEnd(at + n);
      }
      mergeRow(minute.slab, m * ROW_WIDTH, rows.slab, r * ROW_WIDTH);
    }
  }

  private closeMinute(): void {
    this.emit('network_map_1m', this.currentMinute, this.minute);
    this.minute.clear();
    // Every row is out: socket rows' ids start again (they only need to hold within a minute).
    this.socketKeys.clear();
  }

  /**
   * The rows of an interval into the table's Native block: `time`, the tag columns (kept per row
   * as RowBinary values, split here into their columns), then the metrics and histograms. The
   * caller clears the rows.
   */
  private emit(table: string, time: number, rows: IntervalRows): void {
    const { tagOps, valueOffset, valueIsHistogram } = MAP_LAYOUT;
    const tagCount = tagOps.length;
    const values = valueOffset.length;
    const slab = rows.slab;
    const tags = rows.tags;
    const seconds = time > 0 ? time : 0;
    for (let r = 0; r < rows.count; r++) {
      const b = this.sink.nativeBlock(table);
      const row = b.beginRow();
      putU32(b.data[0], row * 4, seconds);
      b.putRowBinaryRun(1, tagCount, tags, rows.tagStart[r]);
      const base = r * ROW_WIDTH;
      const first = 1 + tagCount;
      for (let v = 0; v < values; v++) {
        const offset = base + valueOffset[v];
        if (valueIsHistogram[v] === 0) {
          const x = slab[offset];
          if (x !== 0) putU64(b.data[first + v], row * 8, x);
          continue;
        }
        for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
          const x = slab[offset + k];
          if (x !== 0) b.mapEntry(first + v, k, x);
        }
        b.mapEnd(first + v, row);
      }
      b.endRow();
      this.rowsWritten++;
    }
  }

  /** The tag columns of a new socket row: written once per row and interval. */
  private writeSocketTags(rows: IntervalRows, t: SocketRowTags): void {
    const { tagOps, tagWidths } = MAP_LAYOUT;
    const parts: Uint8Array[] = [];
    const u32 = (v: number): Uint8Array => {
      const b = new Uint8Array(4);
      putU32(b, 0, v);
      return b;
    };
    for (let i = 0; i < tagOps.length; i++) {
      switch (tagOps[i]) {
        case Tag.TapSide:
          parts.push(encodeString(t.tapSide));
          break;
        case Tag.SignalSource:
          parts.push(this.signalSourceBytes);
          break;
        case Tag.Host:
          parts.push(this.hostBytes);
          break;
        case Tag.Protocol:
          parts.push(PROTOCOL_BYTES[t.protocol]);
          break;
        case Tag.L7Protocol:
          parts.push(encodeString(t.l7Protocol));
          break;
        case Tag.Ip0:
          parts.push(encodeString(t.ip0));
          break;
        case Tag.Ip1:
          parts.push(encodeString(t.ip1));
          break;
        case Tag.Port1: {
          const b = new Uint8Array(2);
          putU16(b, 0, t.port1);
          parts.push(b);
          break;
        }
        case Tag.Service0:
          parts.push(encodeString(t.side0?.service ?? t.ip0));
          break;
        case Tag.Service1:
          parts.push(encodeString(t.side1?.service ?? formatEndpoint(t.ip1, t.port1)));
          break;
        case Tag.Process0:
        case Tag.Process1:
          parts.push(encodeString((tagOps[i] === Tag.Process0 ? t.side0 : t.side1)?.process ?? ''));
          break;
        case Tag.Container0:
        case Tag.Container1:
          parts.push(encodeString((tagOps[i] === Tag.Container0 ? t.side0 : t.side1)?.container ?? ''));
          break;
        case Tag.Pid0:
        case Tag.Pid1:
          parts.push(u32((tagOps[i] === Tag.Pid0 ? t.side0 : t.side1)?.pid ?? 0));
          break;
        default:
          // Zero bytes are every other column's default.
          parts.push(new Uint8Array(tagWidths[i]));
      }
    }
    const n = parts.reduce((sum, p) => sum + p.length, 0);
    let at = rows.reserveTags(n);
    for (const p of parts) at = putBytes(rows.tags, at, p);
    rows.tagsEnd(at);
  }

  /** The tag columns of a new row, from a flow: written once per row and interval. */
  private writeTags(rows: IntervalRows, flows: FlowTable, slot: number): void {
    const { tagOps, tagWidths } = MAP_LAYOUT;
    let at = rows.reserveTags(this.tagBytesMax);
    const d = rows.tags;
    const v = flows.ipVersion[slot];
    const addr = flows.addr;
    const port1 = flows.port[slot * 2 + 1];
    for (let i = 0; i < tagOps.length; i++) {
      switch (tagOps[i]) {
        case Tag.TapSide:
          at = putBytes(d, at, TAP_SIDE_BYTES[flows.tapSide[slot]]);
          break;
        case Tag.SignalSource:
          at = putBytes(d, at, this.signalSourceBytes);
          break;
        case Tag.Host:
          at = putBytes(d, at, this.hostBytes);
          break;
        case Tag.Protocol:
          at = putBytes(d, at, flows.proto[slot] === 6 ? PROTOCOL_BYTES.tcp : PROTOCOL_BYTES.udp);
          break;
        case Tag.L7Protocol:
          at = putBytes(d, at, L7_PROTOCOL_BYTES[flows.l7Protocol[slot]]);
          break;
        case Tag.Ip0:
        case Tag.Service0:
          at = putAddressString(d, at, v, addr, slot * 8);
          break;
        case Tag.Ip1:
          at = putAddressString(d, at, v, addr, slot * 8 + 4);
          break;
        case Tag.Port1:
          at = putU16(d, at, port1);
          break;
        case Tag.Service1: {
          // ip:port, an IPv6 address in brackets (formatEndpoint).
          let end = at + 1;
          if (v !== 4) d[end++] = 0x5b;
          end = putAddressText(d, end, v, addr, slot * 8 + 4);
          if (v !== 4) d[end++] = 0x5d;
          d[end++] = 0x3a;
          end = putDecimalText(d, end, port1);
          d[at] = end - at - 1;
          at = end;
          break;
        }
        default:
          at += tagWidths[i];
      }
    }
    rows.tagsEnd(at);
  }
}

/** An address as a String value: its text (shorter than 128 bytes) after a one-byte length. */
export function putAddressString(d: Uint8Array, at: number, ipVersion: number, words: Uint32Array, offset: number): number {
  const end = putAddressText(d, at + 1, ipVersion, words, offset);
  d[at] = end - at - 1;
  return end;
}

/** Adds one slab row into another: counters add up, maxima keep the larger value. */
function mergeRow(dst: Float64Array, dstBase: number, src: Float64Array, srcBase: number): void {
  for (let i = 0; i < METRIC_COUNT; i++) {
    const v = src[srcBase + i];
    if (v === 0) continue;
    if (IS_MAX[i] === 1) {
      if (v > dst[dstBase + i]) dst[dstBase + i] = v;
    } else {
      dst[dstBase + i] += v;
    }
  }
  // Histogram buckets all add up.
  for (let i = METRIC_COUNT; i < ROW_WIDTH; i++) {
    const v = src[srcBase + i];
    if (v !== 0) dst[dstBase + i] += v;
  }
}

const IS_MAX = Uint8Array.from(MERGE_MAX, (max) => (max ? 1 : 0));

const FLOW_LOAD = NETWORK_METRICS.findIndex((m) => m.name === 'flow_load');

/** First key word of a socket row (flows' stay below 2^24). */
const SOCKET_ROW = 0xff000000;

/** Process tags of one side of a socket row. */
export interface RowSideTags {
  pid: number;
  process: string;
  container: string;
  /** SPEC §2 service name: configured, else process name, else ip:port. */
  service: string;
}

/** The tags of a map row that no flow backs: one socket's process and peer (the eBPF path). */
export interface SocketRowTags {
  tapSide: string;
  protocol: 'tcp' | 'udp';
  l7Protocol: string;
  ip0: string;
  ip1: string;
  port1: number;
  side0?: RowSideTags;
  side1?: RowSideTags;
}

function socketTagText(t: SocketRowTags): string {
  const side = (s: RowSideTags | undefined): string => (s ? `${s.pid}\u0000${s.process}\u0000${s.container}\u0000${s.service}` : '');
  return `${t.tapSide}\u0000${t.protocol}\u0000${t.l7Protocol}\u0000${t.ip0}\u0000${t.ip1}\u0000${t.port1}\u0001${side(t.side0)}\u0001${side(t.side1)}`;
}

function hashKey(key: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < KEY_WORDS; k++) {
    h = Math.imul(h ^ key[k], 0x01000193);
    h ^= h >>> 15;
  }
  return Math.imul(h, 0x85ebca6b) & 0x7fffffff;
}
