import { RowSink } from '../aggregate/network-aggregator';
import { histogramBucket, HISTOGRAM_BUCKETS } from '../aggregate/network-metrics';
import { columnOp, encodeString, putBytes, putDecimalText, putI64, putSecondsOfMicros, putString, putU16, putU32, putU64, putVarint, stringBound } from '../store/row-binary';
import { APPLICATION_METRICS, L7_FLOW_LOG, tableByName, TableDef } from '../store/tables';
import { formatEndpoint } from '../util/ip-format';
import { EndpointCap, OTHER_ENDPOINT } from './endpoint-cap';
import { L7Record } from './l7-parser';

/** Where a record was seen: the flow's identity and observation point. */
export interface FlowContext {
  tapSide: string;
  signalSource: string;
  transport: 'tcp' | 'udp';
  flowId: number;
  ip0: string;
  ip1: string;
  port0: number;
  port1: number;
  /** Process tags of either side, where known (eBPF data, or a packet's local listener). */
  side0?: SideTags;
  side1?: SideTags;
}

export interface SideTags {
  pid: number;
  process: string;
  container: string;
  /** SPEC §2 service name: configured, else process name, else ip:port. */
  service: string;
}

/** Where each RED counter sits in a row of numbers. */
export type RedOffsets = Record<(typeof APPLICATION_METRICS)[number], number>;

const APP_OFFSETS = Object.fromEntries(APPLICATION_METRICS.map((m, i) => [m, i])) as RedOffsets;
const HIST = APPLICATION_METRICS.length;

/**
 * Adds a request record to RED counters (SPEC §3): a request; a response and its response time
 * when answered; errors by side; a timeout. Returns the response time, or -1 without one.
 */
export function addRedCounts(row: Float64Array, base: number, at: RedOffsets, r: L7Record): number {
  const answered = r.status !== 'timeout' && r.responseTimeUs !== undefined;
  if (r.requestTimeUs !== undefined) row[base + at.request]++;
  if (answered) row[base + at.response]++;
  if (r.status === 'client_error' || r.status === 'server_error') {
    row[base + at.error]++;
    row[base + (r.status === 'client_error' ? at.client_error : at.server_error)]++;
  }
  if (r.status === 'timeout') row[base + at.timeout]++;
  if (!answered || r.requestTimeUs === undefined) return -1;
  const rrtUs = Math.max(0, (r.responseTimeUs as number) - r.requestTimeUs);
  row[base + at.rrt_sum] += rrtUs;
  row[base + at.rrt_count]++;
  if (rrtUs > row[base + at.rrt_max]) row[base + at.rrt_max] = rrtUs;
  return rrtUs;
}
const WIDTH = HIST + HISTOGRAM_BUCKETS;

/** What fills a column of the RowBinary rows. */
const enum Col {
  Skip,
  // Tags: the flow context's, the protocol and (RED rows) the endpoint.
  TapSide,
  SignalSource,
  Host,
  Transport,
  L7Protocol,
  FlowId,
  Ip0,
  Ip1,
  Port0,
  Port1,
  Service0,
  Service1,
  Process0,
  Process1,
  Pid0,
  Pid1,
  Container0,
  Container1,
  RedEndpoint,
  // The run of tag columns, written from bytes encoded once.
  Tags,
  Time,
  // Request-log columns, from the record.
  StartTime,
  EndTime,
  Type,
  Version,
  RequestType,
  RequestDomain,
  RequestResource,
  Endpoint,
  RequestId,
  ResponseStatus,
  ResponseCode,
  ResponseException,
  ResponseDuration,
  RequestLength,
  ResponseLength,
  TraceId,
  SpanId,
  ParentSpanId,
  XRequestId,
  Attributes,
  // RED columns, from a slab row.
  Metric,
  Histogram,
}

const LC = 'LowCardinality(String)';
const HISTOGRAM_TYPE = 'Map(UInt8, UInt64)';

const TAG_COLUMNS: Record<string, readonly [Col, string]> = {
  tap_side: [Col.TapSide, LC],
  signal_source: [Col.SignalSource, LC],
  host: [Col.Host, LC],
  protocol: [Col.Transport, LC],
  l7_protocol: [Col.L7Protocol, LC],
  flow_id: [Col.FlowId, 'UInt64'],
  ip_0: [Col.Ip0, 'String'],
  ip_1: [Col.Ip1, 'String'],
  port_0: [Col.Port0, 'UInt16'],
  port_1: [Col.Port1, 'UInt16'],
  service_0: [Col.Service0, LC],
  service_1: [Col.Service1, LC],
  process_0: [Col.Process0, LC],
  process_1: [Col.Process1, LC],
  pid_0: [Col.Pid0, 'UInt32'],
  pid_1: [Col.Pid1, 'UInt32'],
  container_0: [Col.Container0, LC],
  container_1: [Col.Container1, LC],
};

const LOG_COLUMNS: Record<string, readonly [Col, string]> = {
  time: [Col.Time, 'DateTime'],
  ...TAG_COLUMNS,
  start_time: [Col.StartTime, 'DateTime64(6)'],
  end_time: [Col.EndTime, 'DateTime64(6)'],
  type: [Col.Type, LC],
  version: [Col.Version, LC],
  request_type: [Col.RequestType, LC],
  request_domain: [Col.RequestDomain, 'String'],
  request_resource: [Col.RequestResource, 'String'],
  endpoint: [Col.Endpoint, LC],
  request_id: [Col.RequestId, 'UInt64'],
  response_status: [Col.ResponseStatus, LC],
  response_code: [Col.ResponseCode, 'Int32'],
  response_exception: [Col.ResponseException, 'String'],
  response_duration: [Col.ResponseDuration, 'UInt64'],
  request_length: [Col.RequestLength, 'Int64'],
  response_length: [Col.ResponseLength, 'Int64'],
  trace_id: [Col.TraceId, 'String'],
  span_id: [Col.SpanId, 'String'],
  parent_span_id: [Col.ParentSpanId, 'String'],
  x_request_id: [Col.XRequestId, 'String'],
  attributes: [Col.Attributes, 'Map(String, String)'],
};

const { flow_id: _flowId, port_0: _port0, ...MAP_TAG_COLUMNS } = TAG_COLUMNS;
const MAP_COLUMNS: Record<string, readonly [Col, string]> = {
  time: [Col.Time, 'DateTime'],
  ...MAP_TAG_COLUMNS,
  endpoint: [Col.RedEndpoint, LC],
  ...Object.fromEntries(APPLICATION_METRICS.map((m) => [m, [Col.Metric, 'UInt64'] as const])),
  rrt_hist: [Col.Histogram, HISTOGRAM_TYPE],
};

/**
 * A table's RowBinary layout, from its columns: what fills each one (`ops`), with its type
 * checked, and `args` (a default's width; a metric's offset in a slab row). The tag columns,
 * which must be one run, become a single `Tags` op and are listed apart (`tagOps`), as they are
 * encoded once per flow context or RED row. `fixedBytes` bounds a row besides its tags and the
 * text of its strings. Every column the writer knows must be in the table, and a column it does
 * not know gets its default: a schema change fails here, at start, instead of shifting bytes.
 */
interface Layout {
  ops: Int32Array;
  args: Int32Array;
  tagOps: Int32Array;
  tagArgs: Int32Array;
  fixedBytes: number;
}

function isTag(op: number): boolean {
  return op >= Col.TapSide && op <= Col.RedEndpoint;
}

function layout(table: TableDef, known: Record<string, readonly [Col, string]>): Layout {
  const ops: number[] = [];
  const args: number[] = [];
  let fixedBytes = 0;
  for (const c of table.columns) {
    const { op, type, width } = columnOp(table, c, known, Col.Skip);
    ops.push(op);
    args.push(op === Col.Skip ? width : op === Col.Metric ? APP_OFFSETS[c.name as keyof RedOffsets] : 0);
    if (op === Col.Histogram) fixedBytes += 1 + 9 * HISTOGRAM_BUCKETS;
    else if (op === Col.Type) fixedBytes += RESPONSE.length;
    else if (op === Col.Attributes) fixedBytes += 5 + COUNTS_AS_REQUEST[0].length;
    // Tags are bounded apart; a string's text by its length, per row.
    else if (!isTag(op)) fixedBytes += type === 'String' || type.startsWith('LowCardinality(') ? 5 : width;
  }
  const missing = Object.keys(known).filter((name) => !table.columns.some((c) => c.name === name));
  if (missing.length) throw new Error(`${table.name} has no column ${missing.join(', ')}; the RowBinary writer fills it`);
  const first = ops.findIndex(isTag);
  const last = ops.length - 1 - [...ops].reverse().findIndex(isTag);
  for (let i = first; i <= last; i++) {
    if (!isTag(ops[i]) && ops[i] !== Col.Skip) throw new Error(`${table.name}.${table.columns[i].name} sits among the tag columns, which are written as one run`);
  }
  return {
    ops: Int32Array.from([...ops.slice(0, first), Col.Tags, ...ops.slice(last + 1)]),
    args: Int32Array.from([...args.slice(0, first), 0, ...args.slice(last + 1)]),
    tagOps: Int32Array.from(ops.slice(first, last + 1)),
    tagArgs: Int32Array.from(args.slice(first, last + 1)),
    fixedBytes,
  };
}

const SESSION = encodeString('session');
const REQUEST = encodeString('request');
const RESPONSE = encodeString('response');
/** The `counts_as_request` attribute, "0" and "1", as a Map(String, String) entry. */
const COUNTS_AS_REQUEST = [0, 1].map((v) => Buffer.concat([encodeString('counts_as_request'), encodeString(String(v))]));
const LOG_LAYOUT = layout(L7_FLOW_LOG, LOG_COLUMNS);
const MAP_LAYOUT = layout(tableByName('application_map_1s'), MAP_COLUMNS);
// rrt_hist's bucket count is written as one byte and its keys are UInt8.
if (HISTOGRAM_BUCKETS > 127) throw new Error(`rrt_hist: ${HISTOGRAM_BUCKETS} buckets do not fit the RowBinary writer`);

/** Statuses are a handful of names: encoded once each. */
const STATUS_BYTES = new Map<string, Uint8Array>();

function statusBytes(status: string): Uint8Array {
  let bytes = STATUS_BYTES.get(status);
  if (bytes === undefined) {
    bytes = encodeString(status);
    if (STATUS_BYTES.size < 64) STATUS_BYTES.set(status, bytes);
  }
  return bytes;
}

/** Most bytes `writeTags` writes for a context, protocol and endpoint. */
function tagBound(args: Int32Array, ctx: FlowContext, protocol: string, endpoint: string, host: Uint8Array): number {
  // Numbers take 20 bytes, service_1 by default ip:port (8 more than the address), strings their bound.
  let max = 28 + host.length + stringBound(endpoint) + stringBound(ctx.tapSide) + stringBound(ctx.signalSource) + stringBound(ctx.transport);
  max += stringBound(protocol) + 2 * stringBound(ctx.ip0) + 2 * stringBound(ctx.ip1);
  if (ctx.side0) max += stringBound(ctx.side0.service) + stringBound(ctx.side0.process) + stringBound(ctx.side0.container);
  if (ctx.side1) max += stringBound(ctx.side1.service) + stringBound(ctx.side1.process) + stringBound(ctx.side1.container);
  for (let i = 0; i < args.length; i++) max += args[i];
  return max;
}

/**
 * Writes the tag columns of `ops` for a flow context and protocol (and a RED row's endpoint) at
 * `at` of a buffer that is zero there; returns the end.
 */
function writeTags(d: Buffer, at: number, ops: Int32Array, args: Int32Array, ctx: FlowContext, protocol: string, endpoint: string, host: Uint8Array): number {
  for (let i = 0; i < ops.length; i++) {
    switch (ops[i]) {
      case Col.TapSide:
        at = putString(d, at, ctx.tapSide);
        break;
      case Col.SignalSource:
        at = putString(d, at, ctx.signalSource);
        break;
      case Col.Host:
        at = putBytes(d, at, host);
        break;
      case Col.Transport:
        at = putString(d, at, ctx.transport);
        break;
      case Col.L7Protocol:
        at = putString(d, at, protocol);
        break;
      case Col.FlowId:
        at = putU64(d, at, ctx.flowId);
        break;
      case Col.Ip0:
        at = putString(d, at, ctx.ip0);
        break;
      case Col.Ip1:
        at = putString(d, at, ctx.ip1);
        break;
      case Col.Port0:
        at = putU16(d, at, ctx.port0);
        break;
      case Col.Port1:
        at = putU16(d, at, ctx.port1);
        break;
      case Col.Service0:
        at = putString(d, at, ctx.side0?.service ?? ctx.ip0);
        break;
      case Col.Service1:
        at = ctx.side1 ? putString(d, at, ctx.side1.service) : putEndpoint(d, at, ctx.ip1, ctx.port1);
        break;
      case Col.Process0:
        at = ctx.side0 ? putString(d, at, ctx.side0.process) : at + 1;
        break;
      case Col.Process1:
        at = ctx.side1 ? putString(d, at, ctx.side1.process) : at + 1;
        break;
      case Col.Pid0:
        at = putU32(d, at, ctx.side0?.pid ?? 0);
        break;
      case Col.Pid1:
        at = putU32(d, at, ctx.side1?.pid ?? 0);
        break;
      case Col.Container0:
        at = ctx.side0 ? putString(d, at, ctx.side0.container) : at + 1;
        break;
      case Col.Container1:
        at = ctx.side1 ? putString(d, at, ctx.side1.container) : at + 1;
        break;
      case Col.RedEndpoint:
        at = putString(d, at, endpoint);
        break;
      default:
        at += args[i];
    }
  }
  return at;
}

/** `formatEndpoint(ip, port)` as a String value, made without the string when `ip` is short ASCII. */
function putEndpoint(d: Buffer, at: number, ip: string, port: number): number {
  const n = ip.length;
  if (n > 100) return putString(d, at, formatEndpoint(ip, port));
  let e = at + 1;
  let v6 = false;
  for (let i = 0; i < n; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 0x80) return putString(d, at, formatEndpoint(ip, port));
    if (c === 0x3a) v6 = true;
  }
  if (v6) d[e++] = 0x5b;
  for (let i = 0; i < n; i++) d[e++] = ip.charCodeAt(i);
  if (v6) d[e++] = 0x5d;
  d[e++] = 0x3a;
  e = putDecimalText(d, e, port);
  d[at] = e - at - 1;
  return e;
}

/**
 * What the rows of one flow context and protocol share, kept on the context: a caller that keeps
 * a flow's context for its records has them made once.
 */
class ContextRows {
  /** Rows written; from the second on, the tag columns are copied from `logTags`. */
  uses = 0;
  logTags: Buffer | undefined;
  /** RED row key up to the endpoint, and the endpoint cap's service key; made on first use. */
  redKey = '';
  capKey = '';
  /** The RED rows of `redKey` by endpoint, as `L7Output.groups` held it in second `redGeneration`. */
  red: Map<string, number> | undefined;
  redGeneration = -1;

  constructor(readonly protocol: string) {}
}

type CachedContext = FlowContext & { l7Rows?: ContextRows };

/**
 * Turns parser records into request-log rows (`l7_flow_log`) and RED rows per client → server
 * endpoint and second (`application_map_1s`; ClickHouse derives the rest), in RowBinary. What
 * counts (SPEC §3, §4): a record that counts as a request adds a request; one with a response
 * adds a response and its response time; error statuses add errors by side; `timeout` adds a
 * timeout.
 */
export class L7Output {
  /**
   * RED rows of the open second: by the key of their tags but the endpoint, then by endpoint. A
   * context keeps its group, so a flow's records find their row by their endpoint alone (the
   * parsers give the same endpoint as the same string): no key string per record, and no lookup
   * in a map of every row, which cost more than the rest of the RED accounting.
   */
  private groups = new Map<string, Map<string, number>>();
  /** The endpoint cap's evictions when the second opened: after one, a row no longer shows that the cap kept its endpoint. */
  private capEvictions = 0;
  /** The RED rows' tag columns, one after the other (zero beyond `tagStart`'s last). */
  private tags = Buffer.alloc(64 * 1024);
  private tagStart: number[] = [0];
  private slab = new Float64Array(WIDTH * 64);
  private second = -1;
  /** Counts the RED rows' resets (closeSecond): a context's `redRows` of an older one are stale. */
  private redGeneration = 0;
  private readonly hostBytes: Uint8Array;
  /** RED rows keep at most this many endpoints per service (the request log keeps them all). */
  readonly endpoints: EndpointCap;
  recordsWritten = 0;

  constructor(
    private readonly sink: RowSink,
    host: string,
    maxEndpointsPerService = 1000,
  ) {
    this.hostBytes = encodeString(host);
    this.endpoints = new EndpointCap(maxEndpointsPerService);
  }

  beginSecond(second: number): void {
    if (this.second >= 0 && second !== this.second) this.closeSecond();
    this.second = second;
  }

  flush(): void {
    if (this.second >= 0) this.closeSecond();
    this.second = -1;
  }

  /**
   * Writes the log row and adds the record to its RED row; returns the record's response time
   * when it counts as an answered request (-1 otherwise), for the caller's own RED columns.
   */
  record(ctx: FlowContext, r: L7Record): number {
    let rows = (ctx as CachedContext).l7Rows;
    if (rows === undefined || rows.protocol !== r.protocol) {
      rows = new ContextRows(r.protocol);
      (ctx as CachedContext).l7Rows = rows;
    }
    this.logRow(ctx, rows, r);
    if (!r.countsAsRequest) return -1;
    const base = this.row(ctx, r, rows) * WIDTH;
    const rrtUs = addRedCounts(this.slab, base, APP_OFFSETS, r);
    if (rrtUs >= 0) this.slab[base + HIST + histogramBucket(rrtUs)]++;
    return rrtUs;
  }

  private row(ctx: FlowContext, r: L7Record, rows: ContextRows): number {
    if (rows.redKey === '') {
      rows.capKey = `${ctx.ip1}:${ctx.port1}|${r.protocol}`;
      rows.redKey = `${ctx.tapSide}|${r.protocol}|${ctx.ip0}|${ctx.ip1}|${ctx.port1}|${ctx.side0?.pid ?? ''}|${ctx.side1?.pid ?? ''}|`;
    }
    let red = rows.red;
    if (red === undefined || rows.redGeneration !== this.redGeneration) {
      red = this.groups.get(rows.redKey);
      if (red === undefined) {
        red = new Map();
        this.groups.set(rows.redKey, red);
      }
      rows.red = red;
      rows.redGeneration = this.redGeneration;
    }
    // An endpoint with a row this second was kept by the cap (not folded, which is counted per
    // record), and still is unless the cap forgot services since.
    if (r.endpoint !== OTHER_ENDPOINT && this.capEvictions === this.endpoints.evictions) {
      const known = red.get(r.endpoint);
      if (known !== undefined) return known;
    }
    const endpoint = this.endpoints.endpoint(rows.capKey, r.endpoint);
    let row = red.get(endpoint);
    if (row === undefined) {
      row = this.tagStart.length - 1;
      red.set(endpoint, row);
      const from = this.tagStart[row];
      const max = tagBound(MAP_LAYOUT.tagArgs, ctx, r.protocol, endpoint, this.hostBytes);
      if (from + max > this.tags.length) {
        const bigger = Buffer.alloc(Math.max(2 * this.tags.length, from + max));
        this.tags.copy(bigger, 0, 0, from);
        this.tags = bigger;
      }
      this.tagStart.push(writeTags(this.tags, from, MAP_LAYOUT.tagOps, MAP_LAYOUT.tagArgs, ctx, r.protocol, endpoint, this.hostBytes));
      if ((row + 1) * WIDTH > this.slab.length) {
        const bigger = new Float64Array(this.slab.length * 2);
        bigger.set(this.slab);
        this.slab = bigger;
      }
    }
    return row;
  }

  /** The second's RED rows out, then their state reset (apart: see writeRedRows). */
  private closeSecond(): void {
    this.writeRedRows();
    this.groups.clear();
    this.redGeneration++;
    this.capEvictions = this.endpoints.evictions;
    this.tags.fill(0, 0, this.tagStart[this.tagStart.length - 1]);
    this.tagStart.length = 1;
    this.slab.fill(0);
  }

  /**
   * The rows into the batch; the function ends with its loop: V8 compiles a hot loop while it runs,
   * and code after it that had never run made the compiled loop bail out at its end, every second.
   */
  private writeRedRows(): void {
    const { ops, args, fixedBytes } = MAP_LAYOUT;
    const slab = this.slab;
    const tags = this.tags;
    const rowCount = this.tagStart.length - 1;
    for (let row = 0; row < rowCount; row++) {
      const b = this.sink.binaryRows('application_map_1s');
      const tagFrom = this.tagStart[row];
      const tagEnd = this.tagStart[row + 1];
      let at = b.reserve(fixedBytes + tagEnd - tagFrom);
      const d = b.data;
      const base = row * WIDTH;
      for (let i = 0; i < ops.length; i++) {
        switch (ops[i]) {
          case Col.Time:
            at = putU32(d, at, this.second > 0 ? this.second : 0);
            break;
          case Col.Tags:
            at += tags.copy(d, at, tagFrom, tagEnd);
            break;
          case Col.Metric: {
            const v = slab[base + args[i]];
            if (v !== 0) putU64(d, at, v);
            at += 8;
            break;
          }
          case Col.Histogram: {
            // Map(UInt8, UInt64): the non-empty buckets (fewer than 128: a one-byte count).
            const countAt = at++;
            let n = 0;
            for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
              const v = slab[base + HIST + k];
              if (v === 0) continue;
              d[at] = k;
              putU64(d, at + 1, v);
              at += 9;
              n++;
            }
            d[countAt] = n;
            break;
          }
          default:
            at += args[i];
        }
      }
      b.commit(at);
    }
  }

  /**
   * The request-log row, written straight into the RowBinary batch: no object or string per
   * request (JSON text cost ~5 µs a request to make, and ClickHouse parses it several times
   * slower). Columns holding their default (0, '') are only stepped over: the batch is zero there.
   */
  private logRow(ctx: FlowContext, rows: ContextRows, r: L7Record): void {
    const requestUs = r.requestTimeUs;
    const responseUs = r.responseTimeUs;
    const start = requestUs ?? responseUs ?? 0;
    const end = responseUs ?? start;
    // Where the time columns go: they are written after the loop. Handing a time (beyond a small
    // integer) to a helper inside the loop had V8 box it on every iteration, 370 bytes of garbage
    // and a microsecond per row.
    let timeAt = -1;
    let startAt = -1;
    let endAt = -1;
    const attributes = r.attributes;
    // Room for the row: its strings' text at 3 bytes a unit at most (see stringBound).
    let units =
      (r.version?.length ?? 0) +
      (r.requestType?.length ?? 0) +
      (r.requestDomain?.length ?? 0) +
      (r.requestResource?.length ?? 0) +
      (r.endpoint?.length ?? 0) +
      r.status.length +
      (r.responseException?.length ?? 0) +
      (r.traceId?.length ?? 0) +
      (r.spanId?.length ?? 0) +
      (r.parentSpanId?.length ?? 0) +
      (r.xRequestId?.length ?? 0);
    let entries = 1;
    if (attributes) {
      for (const key in attributes) {
        units += key.length + attributes[key].length;
        entries++;
      }
    }
    const tags = rows.logTags;
    const tagMax = tags !== undefined ? tags.length : tagBound(LOG_LAYOUT.tagArgs, ctx, r.protocol, '', this.hostBytes);
    const b = this.sink.binaryRows('l7_flow_log');
    let at = b.reserve(LOG_LAYOUT.fixedBytes + tagMax + 3 * units + 10 * entries);
    const d = b.data;
    const { ops, args } = LOG_LAYOUT;
    for (let i = 0; i < ops.length; i++) {
      switch (ops[i]) {
        case Col.Time:
          timeAt = at;
          at += 4;
          break;
        case Col.Tags:
          if (tags !== undefined) {
            // Buffer.copy beats a byte loop from about 64 bytes; tags take about 80.
            at += tags.copy(d, at);
            break;
          }
          {
            const from = at;
            at = writeTags(d, at, LOG_LAYOUT.tagOps, LOG_LAYOUT.tagArgs, ctx, r.protocol, '', this.hostBytes);
            // A context used twice is a flow's: its next rows copy the bytes. One used once (a
            // span, or a caller that makes a context per record) is not worth the copy.
            if (rows.uses > 0) {
              rows.logTags = Buffer.allocUnsafe(at - from);
              d.copy(rows.logTags, 0, from, at);
            }
          }
          break;
        case Col.StartTime:
          startAt = at;
          at += 8;
          break;
        case Col.EndTime:
          endAt = at;
          at += 8;
          break;
        case Col.Type:
          at = putBytes(d, at, requestUs === undefined ? RESPONSE : responseUs === undefined ? REQUEST : SESSION);
          break;
        case Col.Version:
          at = r.version ? putString(d, at, r.version) : at + 1;
          break;
        case Col.RequestType:
          at = r.requestType ? putString(d, at, r.requestType) : at + 1;
          break;
        case Col.RequestDomain:
          at = r.requestDomain ? putString(d, at, r.requestDomain) : at + 1;
          break;
        case Col.RequestResource:
          at = r.requestResource ? putString(d, at, r.requestResource) : at + 1;
          break;
        case Col.Endpoint:
          at = r.endpoint ? putString(d, at, r.endpoint) : at + 1;
          break;
        case Col.RequestId:
          if (r.requestId) putU64(d, at, r.requestId);
          at += 8;
          break;
        case Col.ResponseStatus:
          at = putBytes(d, at, statusBytes(r.status));
          break;
        case Col.ResponseCode:
          // Int32: a negative code is its two's complement, as the bytes' truncation gives it.
          if (r.responseCode) putU32(d, at, Math.round(r.responseCode));
          at += 4;
          break;
        case Col.ResponseException:
          at = r.responseException ? putString(d, at, r.responseException) : at + 1;
          break;
        case Col.ResponseDuration:
          if (responseUs !== undefined && requestUs !== undefined && responseUs > requestUs) putU64(d, at, responseUs - requestUs);
          at += 8;
          break;
        case Col.RequestLength:
          if (r.requestLength) putI64(d, at, r.requestLength);
          at += 8;
          break;
        case Col.ResponseLength:
          if (r.responseLength) putI64(d, at, r.responseLength);
          at += 8;
          break;
        case Col.TraceId:
          at = r.traceId ? putString(d, at, r.traceId) : at + 1;
          break;
        case Col.SpanId:
          at = r.spanId ? putString(d, at, r.spanId) : at + 1;
          break;
        case Col.ParentSpanId:
          at = r.parentSpanId ? putString(d, at, r.parentSpanId) : at + 1;
          break;
        case Col.XRequestId:
          at = r.xRequestId ? putString(d, at, r.xRequestId) : at + 1;
          break;
        case Col.Attributes:
          at = putVarint(d, at, entries);
          at = putBytes(d, at, COUNTS_AS_REQUEST[r.countsAsRequest ? 1 : 0]);
          if (attributes) {
            for (const key in attributes) {
              at = putString(d, at, key);
              at = putString(d, at, attributes[key]);
            }
          }
          break;
        default:
          at += args[i];
      }
    }
    putSecondsOfMicros(d, timeAt, end);
    putI64(d, startAt, start);
    putI64(d, endAt, end);
    b.commit(at);
    rows.uses++;
    this.recordsWritten++;
  }
}
