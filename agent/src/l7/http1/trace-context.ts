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

export function parseTraceparent(v: string): TraceContext | undefined {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})(?:-([0-9a-f]{2}))?/i.exec(v.trim());
  if (!m || m[1].toLowerCase() === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2].toLowerCase(), spanId: m[3].toLowerCase() };
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

/** The first context found, in the order traceparent, b3, X-B3-*, uber-trace-id, sw8. */
export function extractTraceContext(get: HeaderGetter): TraceContext {
  const bounded = (name: string): string | undefined => {
    const v = get(name);
    return v !== undefined && v.length <= MAX_VALUE ? v : undefined;
  };
  const tp = bounded('traceparent');
  const b3 = bounded('b3');
  const uber = bounded('uber-trace-id');
  const sw8 = bounded('sw8');
  return (
    (tp !== undefined ? parseTraceparent(tp) : undefined) ??
    (b3 !== undefined ? parseB3Single(b3) : undefined) ??
    parseB3Multi(bounded) ??
    (uber !== undefined ? parseUberTraceId(uber) : undefined) ??
    (sw8 !== undefined ? parseSw8(sw8) : undefined) ??
    {}
  );
}
