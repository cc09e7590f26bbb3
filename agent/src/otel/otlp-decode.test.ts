/**
 * Decoding OTLP trace requests: hand-made JSON and protobuf payloads (one protobuf message built
 * byte by byte from the published field numbers, so the embedded .proto text is checked against
 * the specification rather than against itself), and malformed ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTraces, OtlpDecodeError, rejectionSummary } from './otlp-decode';
import { encodeTraceRequestProto } from './otlp-proto';

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';
const PARENT = 'eee19b7ec3c1b173';

function jsonBody(spans: unknown[], resourceAttributes: unknown[] = [{ key: 'service.name', value: { stringValue: 'shop' } }]): Buffer {
  return Buffer.from(JSON.stringify({ resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope: { name: 'test-scope' }, spans }] }] }));
}

function jsonSpan(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE,
    spanId: SPAN,
    parentSpanId: PARENT,
    name: 'GET /orders',
    kind: 2,
    startTimeUnixNano: '1700000000123456789',
    endTimeUnixNano: '1700000000223456789',
    status: { code: 2, message: 'boom' },
    ...overrides,
  };
}

test('JSON: ids as hex, int64 as strings or numbers, enums as ints or names, every attribute type', () => {
  const decoded = decodeTraces(
    'json',
    jsonBody([
      jsonSpan({
        traceId: TRACE.toUpperCase(),
        attributes: [
          { key: 's', value: { stringValue: 'text' } },
          { key: 'i', value: { intValue: '8080' } },
          { key: 'n', value: { intValue: 42 } },
          { key: 'b', value: { boolValue: true } },
          { key: 'd', value: { doubleValue: 1.5 } },
          { key: 'nan', value: { doubleValue: 'NaN' } },
          { key: 'a', value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: '2' }] } } },
          { key: 'kv', value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
          { key: 'bytes', value: { bytesValue: 'AQID' } },
          { key: 'empty', value: {} },
          { key: '__proto__', value: { stringValue: 'kept as a key' } },
        ],
      }),
      jsonSpan({ spanId: 'eee19b7ec3c1b175', parentSpanId: '', kind: 'SPAN_KIND_CLIENT', startTimeUnixNano: 1_700_000_000_000, endTimeUnixNano: 1_700_000_001_000, status: { code: 'STATUS_CODE_OK' } }),
    ]),
  );
  assert.equal(decoded.rejected.size, 0);
  assert.equal(decoded.groups.length, 1);
  const [group] = decoded.groups;
  assert.equal(group.scope, 'test-scope');
  assert.equal(group.resource.get('service.name'), 'shop');
  const [a, b] = group.spans;
  assert.equal(a.traceId, TRACE);
  assert.equal(a.spanId, SPAN);
  assert.equal(a.parentSpanId, PARENT);
  assert.equal(a.kind, 2);
  assert.equal(a.startNs, 1700000000123456789n);
  assert.equal(a.endNs, 1700000000223456789n);
  assert.equal(a.statusCode, 2);
  assert.equal(a.statusMessage, 'boom');
  assert.deepEqual(Object.fromEntries(a.attributes), {
    s: 'text',
    i: 8080,
    n: 42,
    b: true,
    d: 1.5,
    nan: NaN,
    a: ['x', 2],
    kv: { k: 'v' },
    bytes: 'AQID',
    empty: null,
    ['__proto__']: 'kept as a key',
  });
  assert.equal(b.parentSpanId, '');
  assert.equal(b.kind, 3);
  assert.equal(b.statusCode, 1);
  assert.equal(b.startNs, 1_700_000_000_000n);
});

/** Protobuf wire format by hand: tag, varint, length-delimited, fixed64. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const len = (field: number, bytes: number[]): number[] => [...tag(field, 2), ...varint(bytes.length), ...bytes];
const fixed64 = (field: number, v: bigint): number[] => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return [...tag(field, 1), ...b];
};
const str = (s: string): number[] => [...Buffer.from(s)];

test('protobuf: a message assembled from the published field numbers', () => {
  // An attributes entry (field 1 of Resource): KeyValue{key=1, value=2: AnyValue{string_value=1}}.
  const attr = (key: string, value: number[]): number[] => len(1, [...len(1, str(key)), ...len(2, value)]);
  const span = [
    ...len(1, [...Buffer.from(TRACE, 'hex')]), // trace_id
    ...len(2, [...Buffer.from(SPAN, 'hex')]), // span_id
    ...len(4, [...Buffer.from(PARENT, 'hex')]), // parent_span_id
    ...len(5, str('SELECT')), // name
    ...tag(6, 0), ...varint(3), // kind = CLIENT
    ...fixed64(7, 1700000000123456789n),
    ...fixed64(8, 1700000000123999999n),
    ...len(9, [...len(1, str('db.system')), ...len(2, len(1, str('mysql')))]), // attributes
    ...len(9, [...len(1, str('server.port')), ...len(2, [...tag(3, 0), ...varint(3306)])]),
    ...len(15, [...len(2, str('deadlock')), ...tag(3, 0), ...varint(2)]), // status{message=2, code=3}
  ];
  const resource = attr('service.name', len(1, str('billing'))); // Resource{attributes=1}
  const scopeSpans = [...len(1, len(1, str('db-scope'))), ...len(2, span)]; // ScopeSpans{scope=1, spans=2}
  const body = Buffer.from(len(1, [...len(1, resource), ...len(2, scopeSpans)])); // ExportTraceServiceRequest{resource_spans=1}
  const decoded = decodeTraces('protobuf', body);
  assert.equal(decoded.rejected.size, 0);
  const [group] = decoded.groups;
  assert.equal(group.resource.get('service.name'), 'billing');
  assert.equal(group.scope, 'db-scope');
  const [s] = group.spans;
  assert.deepEqual(
    { traceId: s.traceId, spanId: s.spanId, parent: s.parentSpanId, name: s.name, kind: s.kind, start: s.startNs, end: s.endNs, code: s.statusCode, message: s.statusMessage },
    { traceId: TRACE, spanId: SPAN, parent: PARENT, name: 'SELECT', kind: 3, start: 1700000000123456789n, end: 1700000000123999999n, code: 2, message: 'deadlock' },
  );
  assert.deepEqual(Object.fromEntries(s.attributes), { 'db.system': 'mysql', 'server.port': 3306 });
});

test('protobuf and JSON of the same request decode to the same spans', () => {
  const asProto = encodeTraceRequestProto({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
        scopeSpans: [
          {
            scope: { name: 'test-scope' },
            spans: [
              {
                traceId: Buffer.from(TRACE, 'hex'),
                spanId: Buffer.from(SPAN, 'hex'),
                parentSpanId: Buffer.from(PARENT, 'hex'),
                name: 'GET /orders',
                kind: 2,
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: '1700000000223456789',
                status: { code: 2, message: 'boom' },
                attributes: [{ key: 'bytes', value: { bytesValue: Buffer.from([1, 2, 3]) } }],
              },
            ],
          },
        ],
      },
    ],
  });
  const fromProto = decodeTraces('protobuf', asProto);
  const fromJson = decodeTraces('json', jsonBody([jsonSpan({ attributes: [{ key: 'bytes', value: { bytesValue: 'AQID' } }] })]));
  assert.deepEqual(fromProto, fromJson);
});

test('unusable spans are rejected one by one and counted by reason; their neighbours are kept', () => {
  const decoded = decodeTraces(
    'json',
    jsonBody([
      jsonSpan(),
      jsonSpan({ traceId: '00000000000000000000000000000000' }),
      jsonSpan({ traceId: TRACE.slice(2) }),
      jsonSpan({ traceId: 'zz' + TRACE.slice(2) }),
      jsonSpan({ spanId: undefined }),
      jsonSpan({ parentSpanId: 'abcd' }),
      jsonSpan({ endTimeUnixNano: '1700000000000000000' }),
      jsonSpan({ endTimeUnixNano: undefined }),
      jsonSpan({ startTimeUnixNano: 'yesterday' }),
      jsonSpan({ name: 7 }),
      jsonSpan({ kind: 'SERVER' }),
      jsonSpan({ attributes: { 'http.method': 'GET' } }),
      jsonSpan({ attributes: [{ key: 'x', value: { intValue: 'many' } }] }),
      jsonSpan({ status: 'error' }),
      jsonSpan({ parentSpanId: '0000000000000000' }),
    ]),
  );
  assert.equal(decoded.groups[0].spans.length, 2);
  assert.equal(decoded.groups[0].spans[1].parentSpanId, '', 'an all-zero parent is a root span');
  assert.deepEqual(Object.fromEntries(decoded.rejected), {
    'invalid trace id': 3,
    'invalid span id': 1,
    'invalid parent span id': 1,
    'end before start': 1,
    'missing start or end time': 1,
    'malformed start time': 1,
    'malformed name': 1,
    'malformed kind': 1,
    'malformed attributes': 1,
    'malformed attribute value': 1,
    'malformed status': 1,
  });
  assert.match(rejectionSummary(decoded.rejected), /^13 spans rejected: invalid trace id \(3\), /);
});

test('protobuf ids of the wrong length are rejected', () => {
  const body = encodeTraceRequestProto({
    resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(8, 1), spanId: Buffer.from(SPAN, 'hex'), startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
  });
  assert.deepEqual(Object.fromEntries(decodeTraces('protobuf', body).rejected), { 'invalid trace id': 1 });
});

test('empty requests are valid and hold no spans', () => {
  assert.deepEqual(decodeTraces('protobuf', Buffer.alloc(0)).groups, []);
  assert.deepEqual(decodeTraces('json', Buffer.from('{}')).groups, []);
  assert.deepEqual(decodeTraces('json', Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}')).groups, []);
});

test('malformed requests throw OtlpDecodeError with a reason', () => {
  const good = encodeTraceRequestProto({
    resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.from(TRACE, 'hex'), spanId: Buffer.from(SPAN, 'hex'), name: 'x'.repeat(100), startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
  });
  const cases: [string, 'json' | 'protobuf', Buffer, RegExp][] = [
    ['truncated protobuf', 'protobuf', good.subarray(0, good.length - 10), /not an OTLP protobuf/],
    ['a length beyond the end', 'protobuf', Buffer.from([0x0a, 0xff, 0x01, 0x00]), /not an OTLP protobuf/],
    ['an invalid wire type', 'protobuf', Buffer.from([0x0f, 0x01]), /not an OTLP protobuf/],
    ['JSON syntax', 'json', Buffer.from('{"resourceSpans": ['), /not JSON/],
    ['JSON sent as protobuf is read as fields and fails', 'protobuf', Buffer.from('{"resourceSpans":[]}'), /not an OTLP protobuf/],
    ['a JSON array', 'json', Buffer.from('[]'), /ExportTraceServiceRequest object/],
    ['a JSON string', 'json', Buffer.from('"spans"'), /ExportTraceServiceRequest object/],
    ['resourceSpans of the wrong type', 'json', Buffer.from('{"resourceSpans":{"a":1}}'), /resourceSpans must be an array/],
    ['spans as a string', 'json', Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":"many"}]}]}'), /spans must be an array/],
    ['a span that is not an object', 'json', Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[1]}]}]}'), /spans must be an array of objects/],
    ['a resource of the wrong type', 'json', Buffer.from('{"resourceSpans":[{"resource":"shop"}]}'), /resource must be an object/],
    ['resource attributes of the wrong type', 'json', Buffer.from('{"resourceSpans":[{"resource":{"attributes":[{"key":1}]}}]}'), /resource attributes: malformed/],
  ];
  for (const [what, encoding, body, message] of cases) {
    assert.throws(() => decodeTraces(encoding, body), (e: unknown) => e instanceof OtlpDecodeError && message.test(e.message), what);
  }
});

test('deeply nested attribute values: JSON beyond the depth limit becomes null, hostile protobuf nesting is an error, not a crash', () => {
  let value: Record<string, unknown> = { stringValue: 'bottom' };
  for (let i = 0; i < 20; i++) value = { arrayValue: { values: [value] } };
  const [span] = decodeTraces('json', jsonBody([jsonSpan({ attributes: [{ key: 'deep', value }] })])).groups[0].spans;
  let v = span.attributes.get('deep');
  let depth = 0;
  while (Array.isArray(v)) {
    v = v[0];
    depth++;
  }
  assert.equal(depth, 8);
  assert.equal(v, null);

  // AnyValue{array_value=5: ArrayValue{values=1: AnyValue{…}}} nested 100,000 times, sizes
  // computed from the inside out, prefixes written from the outside in.
  const innermost = len(1, str('x'));
  const prefixes: number[][] = [];
  let size = innermost.length;
  for (let i = 0; i < 100_000; i++) {
    const arrayValue = 1 + varint(size).length + size;
    prefixes.push([0x2a, ...varint(arrayValue), 0x0a, ...varint(size)]);
    size = 1 + varint(arrayValue).length + arrayValue;
  }
  const inner = Buffer.from([...prefixes.reverse().flat(), ...innermost]);
  assert.equal(inner.length, size);
  const kv = Buffer.concat([Buffer.from(len(1, str('deep'))), Buffer.from([0x12, ...varint(inner.length)]), inner]);
  const spanBytes = Buffer.concat([Buffer.from(len(1, [...Buffer.from(TRACE, 'hex')])), Buffer.from([0x4a, ...varint(kv.length)]), kv]);
  const scope = Buffer.concat([Buffer.from([0x12, ...varint(spanBytes.length)]), spanBytes]);
  const rs = Buffer.concat([Buffer.from([0x12, ...varint(scope.length)]), scope]);
  const body = Buffer.concat([Buffer.from([0x0a, ...varint(rs.length)]), rs]);
  assert.throws(() => decodeTraces('protobuf', body), OtlpDecodeError);
});
