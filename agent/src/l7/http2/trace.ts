/**
 * Trace context from request headers (SPEC §4): `traceparent`, `b3` / `x-b3-*`, `uber-trace-id`,
 * `sw8`, and `x-request-id`. The first header family found wins, in that order.
 */

export interface TraceIds {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  xRequestId?: string;
}

const HEX = /^[0-9a-f]+$/i;

function fromTraceparent(v: string): TraceIds | undefined {
  const parts = v.trim().split('-');
  if (parts.length < 4 || parts[1].length !== 32 || parts[2].length !== 16 || !HEX.test(parts[1]) || !HEX.test(parts[2])) return undefined;
  return { traceId: parts[1].toLowerCase(), spanId: parts[2].toLowerCase() };
}

function fromB3(v: string): TraceIds | undefined {
  const parts = v.trim().split('-');
  if (parts.length < 2 || !HEX.test(parts[0]) || !HEX.test(parts[1])) return undefined;
  const out: TraceIds = { traceId: parts[0].toLowerCase(), spanId: parts[1].toLowerCase() };
  if (parts.length >= 4 && HEX.test(parts[3])) out.parentSpanId = parts[3].toLowerCase();
  return out;
}

function fromUber(v: string): TraceIds | undefined {
  const parts = v.trim().replace(/%3a/gi, ':').split(':');
  if (parts.length < 4 || !HEX.test(parts[0]) || !HEX.test(parts[1])) return undefined;
  const out: TraceIds = { traceId: parts[0].toLowerCase(), spanId: parts[1].toLowerCase() };
  if (HEX.test(parts[2]) && !/^0+$/.test(parts[2])) out.parentSpanId = parts[2].toLowerCase();
  return out;
}

function b64(s: string): string | undefined {
  if (!/^[A-Za-z0-9+/=_-]+$/.test(s)) return undefined;
  const text = Buffer.from(s, 'base64').toString('latin1');
  return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
}

function fromSw8(v: string): TraceIds | undefined {
  const parts = v.trim().split('-');
  if (parts.length < 4) return undefined;
  const traceId = b64(parts[1]);
  const segment = b64(parts[2]);
  if (!traceId || !segment || !/^\d+$/.test(parts[3])) return undefined;
  return { traceId, spanId: `${segment}-${parts[3]}` };
}

/** `get(name)` returns the first value of a lower-case header name. */
export function traceFromHeaders(get: (name: string) => string | undefined): TraceIds {
  let ids: TraceIds | undefined;
  const tp = get('traceparent');
  if (tp !== undefined) ids = fromTraceparent(tp);
  if (!ids) {
    const b3 = get('b3');
    if (b3 !== undefined) ids = fromB3(b3);
  }
  if (!ids) {
    const t = get('x-b3-traceid');
    const s = get('x-b3-spanid');
    if (t && s && HEX.test(t) && HEX.test(s)) {
      ids = { traceId: t.toLowerCase(), spanId: s.toLowerCase() };
      const p = get('x-b3-parentspanid');
      if (p && HEX.test(p)) ids.parentSpanId = p.toLowerCase();
    }
  }
  if (!ids) {
    const u = get('uber-trace-id');
    if (u !== undefined) ids = fromUber(u);
  }
  if (!ids) {
    const sw = get('sw8');
    if (sw !== undefined) ids = fromSw8(sw);
  }
  const out: TraceIds = ids ?? {};
  const rid = get('x-request-id');
  if (rid) out.xRequestId = rid.slice(0, 256);
  return out;
}
