import { RowSink } from '../aggregate/network-aggregator';
import { histogramBucket, HISTOGRAM_BUCKETS } from '../aggregate/network-metrics';
import { APPLICATION_METRICS } from '../store/tables';
import { micros } from '../util/time-format';
import { formatEndpoint } from '../util/ip-format';
import { EndpointCap } from './endpoint-cap';
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

/** JSON members of a side's process tags (the columns' defaults when unknown). */
function sideMembers(ctx: FlowContext): string {
  let out = '';
  for (const [suffix, tags] of [
    ['0', ctx.side0],
    ['1', ctx.side1],
  ] as const) {
    if (!tags) continue;
    out += `,"pid_${suffix}":${tags.pid},"process_${suffix}":${JSON.stringify(tags.process)}`;
    if (tags.container) out += `,"container_${suffix}":${JSON.stringify(tags.container)}`;
  }
  return out;
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
type TextKey = 'version' | 'requestType' | 'requestDomain' | 'requestResource' | 'endpoint' | 'traceId' | 'spanId' | 'parentSpanId' | 'xRequestId';
/** Request-log string columns, written only when not empty (their default). */
const TEXT_MEMBERS: readonly [string, TextKey][] = [
  [',"version":', 'version'],
  [',"request_type":', 'requestType'],
  [',"request_domain":', 'requestDomain'],
  [',"request_resource":', 'requestResource'],
  [',"endpoint":', 'endpoint'],
];
const TRACE_MEMBERS: readonly [string, TextKey][] = [
  [',"trace_id":', 'traceId'],
  [',"span_id":', 'spanId'],
  [',"parent_span_id":', 'parentSpanId'],
  [',"x_request_id":', 'xRequestId'],
];
const MEMBERS = APPLICATION_METRICS.map((m) => `,"${m}":`);
const BUCKET_KEYS = Array.from({ length: HISTOGRAM_BUCKETS }, (_, k) => `"${k}":`);

/**
 * Turns parser records into request-log rows (`l7_flow_log`) and RED rows per client → server
 * endpoint and second (`application_map_1s`; ClickHouse derives the rest). What counts (SPEC
 * §3, §4): a record that counts as a request adds a request; one with a response adds a response
 * and its response time; error statuses add errors by side; `timeout` adds a timeout.
 */
export class L7Output {
  private keys = new Map<string, number>();
  private tags: string[] = [];
  private slab = new Float64Array(WIDTH * 64);
  private second = -1;
  private readonly hostJson: string;
  /** RED rows keep at most this many endpoints per service (the request log keeps them all). */
  readonly endpoints: EndpointCap;
  recordsWritten = 0;

  constructor(
    private readonly sink: RowSink,
    private readonly host: string,
    maxEndpointsPerService = 1000,
  ) {
    this.hostJson = JSON.stringify(host);
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
    this.logRow(ctx, r);
    if (!r.countsAsRequest) return -1;
    const base = this.row(ctx, r) * WIDTH;
    const rrtUs = addRedCounts(this.slab, base, APP_OFFSETS, r);
    if (rrtUs >= 0) this.slab[base + HIST + histogramBucket(rrtUs)]++;
    return rrtUs;
  }

  private row(ctx: FlowContext, r: L7Record): number {
    const endpoint = this.endpoints.endpoint(`${ctx.ip1}:${ctx.port1}|${r.protocol}`, r.endpoint);
    const key = `${ctx.tapSide}|${r.protocol}|${ctx.ip0}|${ctx.ip1}|${ctx.port1}|${endpoint}|${ctx.side0?.pid ?? ''}|${ctx.side1?.pid ?? ''}`;
    let row = this.keys.get(key);
    if (row === undefined) {
      row = this.tags.length;
      this.keys.set(key, row);
      this.tags.push(
        `,"tap_side":"${ctx.tapSide}","signal_source":"${ctx.signalSource}","host":${this.hostJson},"protocol":"${ctx.transport}",` +
          `"l7_protocol":"${r.protocol}","ip_0":"${ctx.ip0}","ip_1":"${ctx.ip1}","port_1":${ctx.port1},` +
          `"service_0":${JSON.stringify(ctx.side0?.service ?? ctx.ip0)},"service_1":${JSON.stringify(ctx.side1?.service ?? formatEndpoint(ctx.ip1, ctx.port1))},` +
          `"endpoint":${JSON.stringify(endpoint)}${sideMembers(ctx)}`,
      );
      if ((row + 1) * WIDTH > this.slab.length) {
        const bigger = new Float64Array(this.slab.length * 2);
        bigger.set(this.slab);
        this.slab = bigger;
      }
    }
    return row;
  }

  /** The members every row of a flow shares, made once per flow context. */
  private contextFragment(ctx: FlowContext): string {
    const cached = (ctx as FlowContext & { logFragment?: string }).logFragment;
    if (cached !== undefined) return cached;
    let f =
      `,"host":${this.hostJson},"tap_side":"${ctx.tapSide}","signal_source":"${ctx.signalSource}","protocol":"${ctx.transport}",` +
      `"flow_id":${ctx.flowId},"ip_0":${JSON.stringify(ctx.ip0)},"ip_1":${JSON.stringify(ctx.ip1)},"port_0":${ctx.port0},"port_1":${ctx.port1},` +
      `"service_0":${JSON.stringify(ctx.side0?.service ?? ctx.ip0)},"service_1":${JSON.stringify(ctx.side1?.service ?? formatEndpoint(ctx.ip1, ctx.port1))}`;
    f += sideMembers(ctx);
    (ctx as FlowContext & { logFragment?: string }).logFragment = f;
    return f;
  }

  private closeSecond(): void {
    for (let row = 0; row < this.tags.length; row++) {
      const b = this.sink.rowBuffer('application_map_1s');
      b.ascii('{"time":').int(this.second).utf8(this.tags[row]);
      const base = row * WIDTH;
      for (let i = 0; i < HIST; i++) if (this.slab[base + i] !== 0) b.ascii(MEMBERS[i]).int(this.slab[base + i]);
      let first = true;
      for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
        const n = this.slab[base + HIST + k];
        if (n === 0) continue;
        b.ascii(first ? ',"rrt_hist":{' : ',').ascii(BUCKET_KEYS[k]).int(n);
        first = false;
      }
      if (!first) b.ascii('}');
      b.endRow();
    }
    this.keys.clear();
    this.tags = [];
    this.slab.fill(0);
  }

  /**
   * The request-log row, written straight into the row buffer: building an object per request,
   * pruning it and JSON.stringify-ing it was a fifth of the whole HTTP pipeline's time. Empty
   * strings and zeros are the columns' defaults and are left out, so rows stay short.
   */
  private logRow(ctx: FlowContext, r: L7Record): void {
    const start = r.requestTimeUs ?? r.responseTimeUs ?? 0;
    const end = r.responseTimeUs ?? start;
    const b = this.sink.rowBuffer('l7_flow_log');
    b.ascii('{"time":').int(Math.floor(end / 1_000_000)).utf8(this.contextFragment(ctx));
    b.ascii(',"l7_protocol":"').ascii(r.protocol).ascii('","start_time":"').ascii(micros(start)).ascii('","end_time":"').ascii(micros(end));
    b.ascii('","type":"').ascii(r.requestTimeUs === undefined ? 'response' : r.responseTimeUs === undefined ? 'request' : 'session');
    b.ascii('","response_status":"').ascii(r.status).ascii('"');
    for (const [member, key] of TEXT_MEMBERS) {
      const v = r[key];
      if (v) b.ascii(member).text(v);
    }
    if (r.requestId) b.ascii(',"request_id":').int(r.requestId);
    if (r.responseCode) b.ascii(',"response_code":').signed(r.responseCode);
    if (r.responseException) b.ascii(',"response_exception":').text(r.responseException);
    if (r.responseTimeUs !== undefined && r.requestTimeUs !== undefined && r.responseTimeUs > r.requestTimeUs) {
      b.ascii(',"response_duration":').int(r.responseTimeUs - r.requestTimeUs);
    }
    if (r.requestLength) b.ascii(',"request_length":').signed(r.requestLength);
    if (r.responseLength) b.ascii(',"response_length":').signed(r.responseLength);
    for (const [member, key] of TRACE_MEMBERS) {
      const v = r[key];
      if (v) b.ascii(member).text(v);
    }
    b.ascii(r.countsAsRequest ? ',"attributes":{"counts_as_request":"1"' : ',"attributes":{"counts_as_request":"0"');
    if (r.attributes) for (const key in r.attributes) b.ascii(',').text(key).ascii(':').text(r.attributes[key]);
    b.ascii('}').endRow();
    this.recordsWritten++;
  }
}
