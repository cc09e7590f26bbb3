/**
 * The OTLP trace messages as protobuf definitions, parsed once by protobufjs. The text is the
 * subset of opentelemetry-proto (common, resource, trace, collector/trace) the receiver reads,
 * with the published field numbers; fields left out (span events and links, entity refs) are
 * skipped by the decoder like any unknown field. Kept in a module rather than read from .proto
 * files so the build output has no data files to find at run time.
 */
import * as protobuf from 'protobufjs';

const OTLP_TRACE_PROTO = `
syntax = "proto3";

package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue {
  string key = 1;
  AnyValue value = 2;
}
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}
message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
  string schema_url = 3;
}
message ScopeSpans {
  InstrumentationScope scope = 1;
  repeated Span spans = 2;
  string schema_url = 3;
}
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  uint32 dropped_events_count = 12;
  uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status {
  string message = 2;
  int32 code = 3;
}
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTracePartialSuccess {
  int64 rejected_spans = 1;
  string error_message = 2;
}
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }

// google.rpc.Status, the body of OTLP/HTTP error responses (details left out: we send none).
message RpcStatus {
  int32 code = 1;
  string message = 2;
}
`;
// Span.kind and Status.code are enums in opentelemetry-proto; declared int32 here (the same
// varint on the wire) so a value this version does not know arrives as its number.

let root: protobuf.Root | undefined;

function type(name: string): protobuf.Type {
  root ??= protobuf.parse(OTLP_TRACE_PROTO, { keepCase: false }).root;
  return root.lookupType(`opentelemetry.proto.${name}`);
}

/**
 * Decodes an `ExportTraceServiceRequest` into plain objects shaped like OTLP/JSON (lowerCamelCase
 * members, int64 as decimal strings, bytes as Buffers). Throws on bytes that are not the message.
 */
export function decodeTraceRequestProto(body: Uint8Array): unknown {
  const t = type('ExportTraceServiceRequest');
  return t.toObject(t.decode(body), { longs: String, arrays: true, defaults: false });
}

export function encodeTraceResponseProto(rejectedSpans: number, errorMessage: string): Buffer {
  const t = type('ExportTraceServiceResponse');
  // A full success leaves partial_success unset (the OTLP specification asks for it).
  const message = rejectedSpans > 0 || errorMessage ? { partialSuccess: { rejectedSpans, errorMessage } } : {};
  return Buffer.from(t.encode(t.create(message)).finish());
}

export function encodeRpcStatusProto(code: number, message: string): Buffer {
  const t = type('RpcStatus');
  return Buffer.from(t.encode(t.create({ code, message })).finish());
}

/** For tests: encodes a request given as the plain objects `decodeTraceRequestProto` returns. */
export function encodeTraceRequestProto(request: Record<string, unknown>): Buffer {
  const t = type('ExportTraceServiceRequest');
  return Buffer.from(t.encode(t.fromObject(request)).finish());
}

/** For tests: decodes a response body. */
export function decodeTraceResponseProto(body: Uint8Array): Record<string, unknown> {
  const t = type('ExportTraceServiceResponse');
  return t.toObject(t.decode(body), { longs: Number, defaults: false });
}

/** For tests: decodes an error response body. */
export function decodeRpcStatusProto(body: Uint8Array): { code?: number; message?: string } {
  const t = type('RpcStatus');
  return t.toObject(t.decode(body), { defaults: false });
}
