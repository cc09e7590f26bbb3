/**
 * Distributed-tracing context from HTTP request headers: W3C `traceparent`, Zipkin `b3` (single
 * header) and `X-B3-*`, Jaeger `uber-trace-id`, SkyWalking `sw8`; plus `x-request-id`.
 */

export interface TraceContext {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
}

/** Header lookup by lower-case name. */
export type HeaderGetter = (name: string) => string | undefined;

const MAX_VALUE = 512;
const HEX_ID = /^[0-9a-f]{1,32}$/i;

/** Hex digits from `from` to `to` of `s`: NOT_HEX, or whether an upper-case one is among them. */
const NOT_HEX = -1;
const LOWER_HEX = 0;
const MIXED_HEX = 1;

function hexCase(s: string, from: number, to: number): number {
  let upper = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) continue;
    if (c >= 0x61 && c <= 0x66) continue;
    if (c >= 0x41 && c <= 0x46) upper = true;
    else return NOT_HEX;
  }
  return upper ? MIXED_HEX : LOWER_HEX;
}

function isZeros(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 0x30) return false;
  return true;
}

/**
 * W3C `version-traceid-parentid[-flags]` (anything may follow, for later versions). Checked by
 * hand: a quarter of the benchmark's requests carry one, and the expression with its case
 * folding and zero tests cost as much as the rest of their head.
 */
export function parseTraceparent(value: string): TraceContext | undefined {
  const v = value.trim();
  if (v.length < 52 || v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d) return undefined;
  const trace = hexCase(v, 3, 35);
  const span = hexCase(v, 36, 52);
  if (hexCase(v, 0, 2) === NOT_HEX || trace === NOT_HEX || span === NOT_HEX) return undefined;
  if ((v.charCodeAt(0) | 0x20) === 0x66 && (v.charCodeAt(1) | 0x20) === 0x66) return undefined;
  if (isZeros(v, 3, 35) || isZeros(v, 36, 52)) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  return { traceId: trace === MIXED_HEX ? traceId.toLowerCase() : traceId, spanId: span === MIXED_HEX ? spanId.toLowerCase() : spanId };
}

export function parseB3Single(v: string): TraceContext | undefined {
  const f = v.trim().split('-');
  if (f.length < 2 || !HEX_ID.test(f[0]) || !HEX_ID.test(f[1])) return undefined;
  const out: TraceContext = { traceId: f[0].toLowerCase(), spanId: f[1].toLowerCase() };
  if (f.length >= 4 && HEX_ID.test(f[3])) out.parentSpanId = f[3].toLowerCase();
  return out;
}

export function parseB3Multi(get: HeaderGetter): TraceContext | undefined {
  const trace = get('x-b3-traceid')?.trim();
  if (!trace || !HEX_ID.test(trace)) return undefined;
  const out: TraceContext = { traceId: trace.toLowerCase() };
  const span = get('x-b3-spanid')?.trim();
  if (span && HEX_ID.test(span)) out.spanId = span.toLowerCase();
  const parent = get('x-b3-parentspanid')?.trim();
  if (parent && HEX_ID.test(parent)) out.parentSpanId = parent.toLowerCase();
  return out;
}

export function parseUberTraceId(v: string): TraceContext | undefined {
  const f = v.trim().replace(/%3a/gi, ':').split(':');
  if (f.length !== 4 || !HEX_ID.test(f[0]) || !HEX_ID.test(f[1])) return undefined;
  const out: TraceContext = { traceId: f[0].toLowerCase(), spanId: f[1].toLowerCase() };
  if (HEX_ID.test(f[2]) && !/^0+$/.test(f[2])) out.parentSpanId = f[2].toLowerCase();
  return out;
}

function decodeBase64Text(s: string): string | undefined {
  if (s.length === 0 || s.length > MAX_VALUE || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return undefined;
  const text = Buffer.from(s, 'base64').toString('utf8');
  // Printable ASCII only: a garbled decode must not become an id.
  return text.length > 0 && /^[\x21-\x7e]+$/.test(text) ? text : undefined;
}

/** `sw8: sample-traceId-segmentId-spanId-service-instance-endpoint-address` (ids base64). */
export function parseSw8(v: string): TraceContext | undefined {
  const f = v.trim().split('-');
  if (f.length < 4 || (f[0] !== '0' && f[0] !== '1')) return undefined;
  const traceId = decodeBase64Text(f[1]);
  const segment = decodeBase64Text(f[2]);
  if (!traceId || !segment || !/^\d{1,10}$/.test(f[3])) return undefined;
  return { traceId, spanId: `${segment}-${f[3]}` };
}

/** The context of a `traceparent` value within the length any value is read to, else undefined. */
export function traceparentContext(value: string | undefined): TraceContext | undefined {
  return value !== undefined && value.length <= MAX_VALUE ? parseTraceparent(value) : undefined;
}

/** The first context found, in the order traceparent, b3, X-B3-*, uber-trace-id, sw8. */
export function extractTraceContext(get: HeaderGetter): TraceContext {
  const bounded = (name: string): string | undefined => {
    const v = get(name);
    return v !== undefined && v.length <= MAX_VALUE ? v : undefined;
  };
  const b3 = bounded('b3');
  const uber = bounded('uber-trace-id');
  const sw8 = bounded('sw8');
  return (
    traceparentContext(get('traceparent')) ??
    (b3 !== undefined ? parseB3Single(b3) : undefined) ??
    parseB3Multi(bounded) ??
    (uber !== undefined ? parseUberTraceId(uber) : undefined) ??
    (sw8 !== undefined ? parseSw8(sw8) : undefined) ??
    {}
  );
}
