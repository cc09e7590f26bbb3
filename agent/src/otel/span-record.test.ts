/**
 * Span → request record: tap_side from the kind (SPEC §1), who is client and server, protocol,
 * endpoint and status from the semantic conventions, current and older attribute names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttributeValue, OtelSpan } from './otlp-decode';
import { address, clip, protocolName, spanToRequest, tapSideOfKind } from './span-record';

const RESOURCE = new Map<string, AttributeValue>([
  ['service.name', 'checkout'],
  ['process.pid', 4321],
  ['process.executable.name', 'node'],
  ['container.id', 'c0ffee'],
]);

function span(kind: number, attributes: Record<string, AttributeValue>, extra: Partial<OtelSpan> = {}): OtelSpan {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    parentSpanId: '',
    name: 'operation',
    kind,
    startNs: 1_700_000_000_000_000_000n,
    endNs: 1_700_000_000_250_000_000n,
    attributes: new Map(Object.entries(attributes)),
    statusCode: 0,
    statusMessage: '',
    ...extra,
  };
}

const SERVER = 2;
const CLIENT = 3;

test('tap_side from the span kind: SERVER/CONSUMER s-app, CLIENT/PRODUCER c-app, else app', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map(tapSideOfKind), ['app', 'app', 's-app', 'c-app', 'c-app', 's-app', 'app']);
  for (const kind of [0, 1, 2, 3, 4, 5]) {
    const { ctx } = spanToRequest(span(kind, {}), RESOURCE, 's');
    assert.equal(ctx.tapSide, tapSideOfKind(kind));
    assert.equal(ctx.signalSource, 'otel');
  }
});

test('an HTTP server span (current names): the service is the server side, with its process tags', () => {
  const { ctx, record } = spanToRequest(
    span(SERVER, {
      'http.request.method': 'GET',
      'http.route': '/orders/:id',
      'url.path': '/orders/123/items',
      'http.response.status_code': 200,
      'server.address': 'shop.example',
      'server.port': 8080,
      'network.local.address': '10.0.0.5',
      'client.address': '10.0.0.9',
      'client.port': 51234,
      'network.protocol.version': '1.1',
      'http.request.header.x-request-id': ['req-77'],
    }, { parentSpanId: 'eee19b7ec3c1b173' }),
    RESOURCE,
    '@opentelemetry/instrumentation-http',
  );
  assert.deepEqual(
    ctx,
    {
      tapSide: 's-app',
      signalSource: 'otel',
      transport: 'tcp',
      flowId: 0,
      ip0: '10.0.0.9',
      port0: 51234,
      ip1: '10.0.0.5',
      port1: 8080,
      side0: { pid: 0, process: '', container: '', service: '10.0.0.9' },
      side1: { pid: 4321, process: 'node', container: 'c0ffee', service: 'checkout' },
    },
  );
  assert.deepEqual(record, {
    protocol: 'http1',
    version: '1.1',
    requestType: 'GET',
    requestDomain: 'shop.example',
    requestResource: '/orders/123/items',
    endpoint: '/orders/:id',
    status: 'ok',
    responseCode: 200,
    requestTimeUs: 1_700_000_000_000_000,
    responseTimeUs: 1_700_000_000_250_000,
    requestLength: -1,
    responseLength: -1,
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    parentSpanId: 'eee19b7ec3c1b173',
    xRequestId: 'req-77',
    countsAsRequest: true,
    attributes: { 'otel.span_name': 'operation', 'otel.span_kind': 'server', 'otel.scope': '@opentelemetry/instrumentation-http' },
  });
});

test('HTTP status rules of SPEC §4: 4xx client error, 5xx server error, ERROR without a code server error', () => {
  const status = (attrs: Record<string, AttributeValue>, statusCode = 0): [string, number | undefined] => {
    const { record } = spanToRequest(span(SERVER, { 'http.request.method': 'GET', ...attrs }, { statusCode, statusMessage: statusCode === 2 ? 'failed' : '' }), RESOURCE, '');
    return [record.status, record.responseCode];
  };
  assert.deepEqual(status({ 'http.response.status_code': 204 }), ['ok', 204]);
  assert.deepEqual(status({ 'http.response.status_code': 404 }), ['client_error', 404], 'a server span leaves 4xx unset; SPEC counts it a client error');
  assert.deepEqual(status({ 'http.response.status_code': 503 }, 2), ['server_error', 503]);
  assert.deepEqual(status({ 'http.response.status_code': '500' }), ['server_error', 500], 'a code sent as a string');
  assert.deepEqual(status({}, 2), ['server_error', undefined]);
  assert.deepEqual(status({ 'http.status_code': 502 }), ['server_error', 502], 'the older name');
  assert.deepEqual(status({ 'http.response.status_code': 200 }, 2), ['server_error', 200], 'ERROR decides when the code says nothing wrong');
  const failed = spanToRequest(span(SERVER, {}, { statusCode: 2, statusMessage: 'timeout talking to db' }), RESOURCE, '').record;
  assert.equal(failed.responseException, 'timeout talking to db');
  const typed = spanToRequest(span(SERVER, { 'error.type': 'java.net.SocketTimeoutException' }, { statusCode: 2 }), RESOURCE, '').record;
  assert.equal(typed.responseException, 'java.net.SocketTimeoutException');
});

test('an HTTP server span with the older names (http.method, http.target, net.host.port, net.peer.ip)', () => {
  const { ctx, record } = spanToRequest(
    span(SERVER, { 'http.method': 'POST', 'http.target': '/api/v1/carts/42?debug=1', 'http.status_code': 201, 'http.flavor': '2.0', 'http.host': 'cart:9000', 'net.host.name': 'cart', 'net.host.port': 9000, 'net.peer.ip': '192.0.2.1', 'net.peer.port': 40000 }),
    RESOURCE,
    '',
  );
  assert.deepEqual([ctx.ip0, ctx.port0, ctx.ip1, ctx.port1], ['192.0.2.1', 40000, 'cart', 9000]);
  assert.deepEqual(
    [record.protocol, record.version, record.requestType, record.requestDomain, record.requestResource, record.endpoint, record.status, record.responseCode],
    ['http2', '2.0', 'POST', 'cart:9000', '/api/v1/carts/42', '/api/v1', 'ok', 201],
    'without http.route the endpoint is the path cut to two segments, as for captured HTTP',
  );
});

test('an HTTP client span: the service is the client side; the server from peer address, server.address or url.full', () => {
  const current = spanToRequest(
    span(CLIENT, { 'http.request.method': 'GET', 'url.full': 'https://catalog.internal/items/9?x=1', 'server.address': 'catalog.internal', 'server.port': 443, 'network.peer.address': '10.1.2.3', 'http.response.status_code': 200 }),
    RESOURCE,
    '',
  );
  assert.deepEqual([current.ctx.tapSide, current.ctx.ip1, current.ctx.port1, current.ctx.side0?.service, current.ctx.side1?.service], ['c-app', '10.1.2.3', 443, 'checkout', 'catalog.internal:443']);
  assert.deepEqual([current.record.requestDomain, current.record.requestResource, current.record.endpoint], ['catalog.internal', '/items/9', '/items/{id}']);

  const older = spanToRequest(span(CLIENT, { 'http.method': 'GET', 'http.url': 'http://inventory:8081/stock', 'net.peer.name': 'inventory', 'net.peer.port': 8081, 'peer.service': 'inventory-svc' }), RESOURCE, '');
  assert.deepEqual([older.ctx.ip1, older.ctx.port1, older.ctx.side1?.service, older.record.requestResource], ['inventory', 8081, 'inventory-svc', '/stock']);

  const urlOnly = spanToRequest(span(CLIENT, { 'http.request.method': 'PUT', 'url.full': 'http://[2001:db8::1]/a' }), RESOURCE, '');
  assert.deepEqual([urlOnly.ctx.ip1, urlOnly.ctx.port1, urlOnly.ctx.side1?.service, urlOnly.record.requestDomain], ['2001:db8::1', 80, '[2001:db8::1]:80', '2001:db8::1']);
});

test('gRPC: endpoint /service/method, grpc status ≠ 0 a server error; semconv 1.37 fully qualified methods and status names', () => {
  const older = spanToRequest(span(SERVER, { 'rpc.system': 'grpc', 'rpc.service': 'shop.Cart', 'rpc.method': 'Add', 'rpc.grpc.status_code': 5 }), RESOURCE, '').record;
  assert.deepEqual([older.protocol, older.requestType, older.requestResource, older.endpoint, older.status, older.responseCode], ['grpc', 'POST', 'shop.Cart', '/shop.Cart/Add', 'server_error', 5]);
  const current = spanToRequest(span(CLIENT, { 'rpc.system': 'grpc', 'rpc.method': 'shop.Cart/Get', 'rpc.response.status_code': 'OK' }), RESOURCE, '').record;
  assert.deepEqual([current.endpoint, current.requestResource, current.status, current.responseCode], ['/shop.Cart/Get', 'shop.Cart', 'ok', 0]);
  const dubbo = spanToRequest(span(SERVER, { 'rpc.system': 'apache_dubbo', 'rpc.service': 'org.demo.Greeter', 'rpc.method': 'hello' }, { statusCode: 2 }), RESOURCE, '').record;
  assert.deepEqual([dubbo.protocol, dubbo.endpoint, dubbo.status], ['dubbo', 'org.demo.Greeter/hello', 'server_error']);
});

test('databases: SQL literals masked, VERB table endpoints, Redis command and key only, other systems by name', () => {
  const mysql = spanToRequest(span(CLIENT, { 'db.system': 'mysql', 'db.name': 'shop', 'db.statement': "SELECT * FROM users WHERE email = 'a@b.c' AND id = 7", 'net.peer.name': 'db', 'net.peer.port': 3306 }), RESOURCE, '').record;
  assert.deepEqual([mysql.protocol, mysql.requestDomain, mysql.requestResource, mysql.endpoint, mysql.requestType], ['mysql', 'shop', 'SELECT * FROM users WHERE email = ? AND id = ?', 'SELECT users', 'SELECT']);
  const pg = spanToRequest(span(CLIENT, { 'db.system.name': 'postgresql', 'db.namespace': 'orders', 'db.operation.name': 'INSERT', 'db.collection.name': 'order_lines', 'db.query.text': 'INSERT INTO order_lines VALUES ($1, $2)' }), RESOURCE, '').record;
  assert.deepEqual([pg.protocol, pg.endpoint, pg.requestType], ['postgresql', 'INSERT order_lines', 'INSERT']);
  const redis = spanToRequest(span(CLIENT, { 'db.system': 'redis', 'db.statement': 'set session:9 secret-value' }), RESOURCE, '').record;
  assert.deepEqual([redis.protocol, redis.requestType, redis.requestResource, redis.endpoint], ['redis', 'SET', 'SET session:9', 'SET']);
});

test('messaging: topic as endpoint, partition in the resource; PRODUCER c-app, CONSUMER s-app', () => {
  const produced = spanToRequest(span(4, { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders', 'messaging.destination.partition.id': '3' }), RESOURCE, '');
  assert.deepEqual([produced.ctx.tapSide, produced.record.protocol, produced.record.endpoint, produced.record.requestResource, produced.record.requestType], ['c-app', 'kafka', 'orders', 'orders-3', 'publish']);
  const consumed = spanToRequest(span(5, { 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'jobs', 'messaging.operation.type': 'receive' }), RESOURCE, '');
  assert.deepEqual([consumed.ctx.tapSide, consumed.record.protocol, consumed.record.requestType, consumed.ctx.side1?.service], ['s-app', 'rabbitmq', 'receive', 'checkout']);
});

test('internal spans: tap_side app, the application on both sides, the span name as endpoint', () => {
  const { ctx, record } = spanToRequest(span(1, {}, { name: 'render invoice' }), RESOURCE, '');
  assert.deepEqual([ctx.tapSide, ctx.side0?.service, ctx.side1?.service, record.protocol, record.endpoint, record.status], ['app', 'checkout', 'checkout', '', 'render invoice', 'ok']);
});

test('durations are the span’s own, truncated to the µs', () => {
  const { record } = spanToRequest(span(SERVER, {}, { startNs: 1_700_000_000_000_000_999n, endNs: 1_700_000_000_000_002_998n }), RESOURCE, '');
  assert.equal(record.requestTimeUs, 1_700_000_000_000_000);
  assert.equal((record.responseTimeUs as number) - (record.requestTimeUs as number), 1, '1,999 ns is 1 µs, not 2 (end and start rounded apart)');
});

test('what clients send is bounded: unsafe addresses dropped, long and broken text clipped, odd protocol names replaced', () => {
  assert.equal(address('10.0.0.1'), '10.0.0.1');
  assert.equal(address('[::1]'), '::1');
  assert.equal(address('fe80::1%eth0'), 'fe80::1%eth0');
  assert.equal(address('evil","ip_1":"x'), '');
  assert.equal(address(''), '');
  assert.equal(clip('x'.repeat(5000)).length, 1024);
  assert.equal(clip('a\ud800b'), 'a\ufffdb');
  assert.equal(clip('😀'), '😀');
  assert.equal(protocolName('CouchDB'), 'couchdb');
  assert.equal(protocolName('weird "system"'), 'other');
  const { ctx } = spanToRequest(span(CLIENT, { 'server.address': 'x" y', 'server.port': 70000, 'peer.service': 'svc\ud800' }), RESOURCE, '');
  assert.deepEqual([ctx.ip1, ctx.port1, ctx.side1?.service], ['', 0, 'svc\ufffd']);
  assert.equal(spanToRequest(span(SERVER, { 'http.request.method': 'GET', 'http.response.status_code': 2 ** 40 }), RESOURCE, '').record.responseCode, undefined, 'not an Int32');
  const unnamed = spanToRequest(span(SERVER, {}), new Map(), '');
  assert.deepEqual(unnamed.ctx.side1, { pid: 0, process: '', container: '', service: 'unknown_service' });
});
