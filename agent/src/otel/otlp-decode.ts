/**
 * OTLP trace export requests, protobuf or JSON, read into one checked shape. Both encodings
 * become the same plain objects first (protobufjs turns a message into OTLP/JSON's lowerCamelCase
 * shape), so one reader checks them; they differ only in how ids and bytes are spelled (bytes in
 * protobuf, hex and base64 strings in JSON).
 *
 * What cannot be read as a request (not protobuf, not JSON, containers of the wrong type) throws
 * `OtlpDecodeError`, which the receiver answers with 400. A span that is readable but unusable
 * (ids missing or of the wrong length, no start or end, end before start, fields of the wrong
 * type) is rejected alone and counted, for the response's `partial_success`.
 */
import { decodeTraceRequestProto } from './otlp-proto';

export type OtlpEncoding = 'protobuf' | 'json';

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

/** A Map, not an object: attribute keys come from clients (`__proto__` is a valid key). */
export type Attributes = Map<string, AttributeValue>;

export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface OtelSpan {
  /** Lower-case hex: 32 digits. */
  traceId: string;
  /** Lower-case hex: 16 digits. */
  spanId: string;
  /** Lower-case hex, '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  statusCode: number;
  statusMessage: string;
}

/** The spans of one resource and instrumentation scope. */
export interface SpanGroup {
  resource: Attributes;
  scope: string;
  spans: OtelSpan[];
}

export interface DecodedTraces {
  groups: SpanGroup[];
  /** Spans rejected, by reason. */
  rejected: Map<string, number>;
}

export class OtlpDecodeError extends Error {}

/** A span that cannot be stored, and why (the reason is counted, not the span). */
export class SpanRejection extends Error {}

/** Nesting kept in attribute values (arrays, key-value lists); deeper levels become null. */
const MAX_VALUE_DEPTH = 8;

export function decodeTraces(encoding: OtlpEncoding, body: Buffer): DecodedTraces {
  return readRequest(parseBody(encoding, body), encoding);
}

function parseBody(encoding: OtlpEncoding, body: Buffer): unknown {
  try {
    return encoding === 'protobuf' ? decodeTraceRequestProto(body) : JSON.parse(body.toString('utf8'));
  } catch (e) {
    // protobufjs throws on truncated or mistyped fields, and recursion in a hostile nesting ends
    // in a RangeError: none of them is the server's fault.
    const what = encoding === 'protobuf' ? 'an OTLP protobuf ExportTraceServiceRequest' : 'JSON';
    throw new OtlpDecodeError(`the body is not ${what}: ${(e as Error).message}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** A repeated field: absent means empty; anything but an array of objects is not OTLP. */
function listOf(v: unknown, what: string): Record<string, unknown>[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isRecord)) throw new OtlpDecodeError(`${what} must be an array of objects`);
  return v;
}

function optionalRecord(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw new OtlpDecodeError(`${what} must be an object`);
  return v;
}

function readRequest(request: unknown, encoding: OtlpEncoding): DecodedTraces {
  if (!isRecord(request)) throw new OtlpDecodeError('the request must be an ExportTraceServiceRequest object');
  const out: DecodedTraces = { groups: [], rejected: new Map() };
  for (const rs of listOf(request.resourceSpans, 'resourceSpans')) {
    const resource = readAttributesOrFail(optionalRecord(rs.resource, 'resource').attributes, encoding, 'resource attributes');
    for (const ss of listOf(rs.scopeSpans, 'scopeSpans')) {
      const scopeName = optionalRecord(ss.scope, 'scope').name;
      const group: SpanGroup = { resource, scope: typeof scopeName === 'string' ? scopeName : '', spans: [] };
      for (const raw of listOf(ss.spans, 'spans')) {
        try {
          group.spans.push(readSpan(raw, encoding));
        } catch (e) {
          if (!(e instanceof SpanRejection)) throw e;
          out.rejected.set(e.message, (out.rejected.get(e.message) ?? 0) + 1);
        }
      }
      if (group.spans.length > 0) out.groups.push(group);
    }
  }
  return out;
}

function readAttributesOrFail(v: unknown, encoding: OtlpEncoding, what: string): Attributes {
  try {
    return readAttributes(v, encoding, 0);
  } catch (e) {
    if (e instanceof SpanRejection) throw new OtlpDecodeError(`${what}: ${e.message}`);
    throw e;
  }
}

function readSpan(raw: Record<string, unknown>, encoding: OtlpEncoding): OtelSpan {
  const traceId = readId(raw.traceId, 16, encoding, 'trace id');
  const spanId = readId(raw.spanId, 8, encoding, 'span id');
  const parentSpanId = readParentId(raw.parentSpanId, encoding);
  const startNs = readUint64(raw.startTimeUnixNano, 'start time');
  const endNs = readUint64(raw.endTimeUnixNano, 'end time');
  if (startNs === 0n || endNs === 0n) throw new SpanRejection('missing start or end time');
  if (endNs < startNs) throw new SpanRejection('end before start');
  const status = raw.status === undefined || raw.status === null ? {} : raw.status;
  if (!isRecord(status)) throw new SpanRejection('malformed status');
  return {
    traceId,
    spanId,
    parentSpanId,
    name: readString(raw.name, 'name'),
    kind: readEnum(raw.kind, KIND_NAMES, 'kind'),
    startNs,
    endNs,
    attributes: readAttributes(raw.attributes, encoding, 0),
    statusCode: readEnum(status.code, STATUS_NAMES, 'status code'),
    statusMessage: readString(status.message, 'status message'),
  };
}

const HEX = /^[0-9a-fA-F]*$/;

/** Hex of an id: bytes in protobuf, hex text in JSON. All-zero ids are invalid (W3C, OTLP). */
function readId(v: unknown, bytes: number, encoding: OtlpEncoding, what: string): string {
  const hex = idHex(v, encoding);
  if (hex === undefined || hex.length !== bytes * 2 || /^0+$/.test(hex)) throw new SpanRejection(`invalid ${what}`);
  return hex;
}

function idHex(v: unknown, encoding: OtlpEncoding): string | undefined {
  if (v === undefined || v === null) return '';
  if (encoding === 'protobuf') return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : undefined;
  return typeof v === 'string' && HEX.test(v) ? v.toLowerCase() : undefined;
}

/** Empty means a root span; some senders write an all-zero parent for the same. */
function readParentId(v: unknown, encoding: OtlpEncoding): string {
  const hex = idHex(v, encoding);
  if (hex === '' || (hex !== undefined && hex.length === 16 && /^0+$/.test(hex))) return '';
  if (hex === undefined || hex.length !== 16) throw new SpanRejection('invalid parent span id');
  return hex;
}

/** fixed64 nanoseconds: decimal strings (protobuf, canonical JSON) or JSON numbers. */
function readUint64(v: unknown, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  // Nanoseconds since the epoch are above 2^53: a JSON number loses the last digits, as it does
  // in every JSON parser; keep it rather than reject the span for its sender's encoder.
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 2 ** 64) return BigInt(Math.round(v));
  throw new SpanRejection(`malformed ${what}`);
}

function readString(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new SpanRejection(`malformed ${what}`);
  return v;
}

const KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** OTLP/JSON sends enums as integers; protobuf's JSON mapping also allows their names. */
function readEnum(v: unknown, names: readonly string[], what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && names.includes(v)) return names.indexOf(v);
  throw new SpanRejection(`malformed ${what}`);
}

function readAttributes(v: unknown, encoding: OtlpEncoding, depth: number): Attributes {
  const out: Attributes = new Map();
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) throw new SpanRejection('malformed attributes');
  for (const kv of v) {
    if (!isRecord(kv) || typeof kv.key !== 'string') throw new SpanRejection('malformed attributes');
    out.set(kv.key, readAnyValue(kv.value, encoding, depth));
  }
  return out;
}

/** An AnyValue as a JS value: int64 as a number (attribute integers are ports, codes, sizes). */
function readAnyValue(v: unknown, encoding: OtlpEncoding, depth: number): AttributeValue {
  if (v === undefined || v === null) return null;
  if (!isRecord(v)) throw new SpanRejection('malformed attribute value');
  if (depth >= MAX_VALUE_DEPTH) return null;
  if ('stringValue' in v) return typeof v.stringValue === 'string' ? v.stringValue : fail();
  if ('boolValue' in v) return typeof v.boolValue === 'boolean' ? v.boolValue : fail();
  if ('intValue' in v) return readInt64(v.intValue);
  if ('doubleValue' in v) return readDouble(v.doubleValue);
  if ('bytesValue' in v) return readBytes(v.bytesValue, encoding);
  if ('arrayValue' in v) return readValues(optionalRecord(v.arrayValue, 'arrayValue').values, encoding, depth + 1);
  if ('kvlistValue' in v) {
    const list = readAttributes(optionalRecord(v.kvlistValue, 'kvlistValue').values, encoding, depth + 1);
    return Object.fromEntries(list);
  }
  return null;
}

function fail(): never {
  throw new SpanRejection('malformed attribute value');
}

function readValues(v: unknown, encoding: OtlpEncoding, depth: number): AttributeValue[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail();
  return v.map((x) => readAnyValue(x, encoding, depth));
}

function readInt64(v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return Number(v);
  return fail();
}

/** JSON spells non-finite doubles as strings ("NaN", "Infinity"), per the protobuf JSON mapping. */
function readDouble(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^(-?Infinity|NaN|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(v)) return Number(v);
  return fail();
}

/** Bytes values as base64 text (their JSON spelling), whatever the encoding. */
function readBytes(v: unknown, encoding: OtlpEncoding): string {
  if (encoding === 'protobuf' && v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (encoding === 'json' && typeof v === 'string') return v;
  return fail();
}

/** "3 spans rejected: invalid trace id (2), end before start (1)", or '' when none were. */
export function rejectionSummary(rejected: ReadonlyMap<string, number>): string {
  let total = 0;
  const parts: string[] = [];
  for (const [reason, n] of rejected) {
    total += n;
    parts.push(`${reason} (${n})`);
  }
  return total === 0 ? '' : `${total} span${total === 1 ? '' : 's'} rejected: ${parts.join(', ')}`;
}

export function rejectedCount(rejected: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const n of rejected.values()) total += n;
  return total;
}
