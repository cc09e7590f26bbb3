/**
 * Spans and captured requests of the same call line up: the real OpenTelemetry SDK starts a
 * client span and injects its context as a W3C `traceparent` header (its own propagator), the
 * HTTP/1 parser reads that header from the request bytes as a capture would carry them, and the
 * span, serialised by the SDK's own OTLP protobuf serializer and decoded by our receiver's
 * decoder, maps to a row with the same trace id and the same span id.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, defaultTextMapSetter, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { http1Module } from '../l7/http1/http1-parser';
import { L7Record } from '../l7/l7-parser';
import { decodeTraces } from './otlp-decode';
import { spanToRequest } from './span-record';

test('a client span and the request it sent carry the same trace and span ids into their rows', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const span = provider.getTracer('lineup').startSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'server.address': 'catalog', 'server.port': 9090 } });
  const headers: Record<string, string> = {};
  new W3CTraceContextPropagator().inject(trace.setSpan(context.active(), span), headers, defaultTextMapSetter);
  span.end();
  assert.match(headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

  const parser = http1Module.create({});
  const records: L7Record[] = [];
  parser.feed(0, Buffer.from(`GET /items/1 HTTP/1.1\r\nHost: catalog:9090\r\ntraceparent: ${headers.traceparent}\r\n\r\n`, 'latin1'), 1_000);
  parser.feed(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'latin1'), 2_000);
  records.push(...parser.take());
  assert.equal(records.length, 1);

  const body = ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans());
  assert.ok(body);
  const decoded = decodeTraces('protobuf', Buffer.from(body));
  const [group] = decoded.groups;
  const row = spanToRequest(group.spans[0], group.resource, group.scope).record;

  const sdkSpan = exporter.getFinishedSpans()[0].spanContext();
  assert.equal(records[0].traceId, sdkSpan.traceId);
  assert.equal(row.traceId, records[0].traceId);
  assert.equal(row.spanId, records[0].spanId);
  assert.equal(row.spanId, sdkSpan.spanId);
});
