/**
 * A span as a request record: what the application reported about one operation, in the shape
 * the packet and eBPF parsers give a request/response session (SPEC §4), so it is written by the
 * same `L7Output` into `l7_flow_log` and the application tables.
 *
 * - tap_side from the span kind (SPEC §1): SERVER and CONSUMER `s-app`, CLIENT and PRODUCER
 *   `c-app`, anything else `app`.
 * - The reporting service is the server side (`_1`) of SERVER, CONSUMER and other spans and the
 *   client side (`_0`) of CLIENT and PRODUCER spans; its name, pid, process and container come
 *   from the resource (`service.name`, `process.pid`, `process.executable.name`, `container.id`).
 * - Protocol, endpoint and status from the semantic conventions (current names first, the names
 *   before the 2023 HTTP/network renames as a fallback); SPEC §4's error rules apply to HTTP and
 *   gRPC codes, and a span whose status is ERROR is otherwise a server error.
 */
import { FlowContext, SideTags } from '../l7/l7-output';
import { L7ProtocolName, L7Record, ResponseStatus } from '../l7/l7-parser';
import { endpointOfPath, pathOfTarget } from '../l7/http1/path-normalizer';
import { maskSql, sqlEndpoint } from '../l7/mysql/sql-masking';
import { formatEndpoint } from '../util/ip-format';
import { Attributes, AttributeValue, OtelSpan, SpanKind, StatusCode } from './otlp-decode';

export const SIGNAL_SOURCE_OTEL = 'otel';

/** Longest text kept per column: a client may send megabytes in one attribute. */
const MAX_TEXT = 1024;

export interface SpanRequest {
  ctx: FlowContext;
  record: L7Record;
}

export function tapSideOfKind(kind: number): 'c-app' | 's-app' | 'app' {
  if (kind === SpanKind.SERVER || kind === SpanKind.CONSUMER) return 's-app';
  if (kind === SpanKind.CLIENT || kind === SpanKind.PRODUCER) return 'c-app';
  return 'app';
}

const KIND_LABELS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

/** µs times of a span: the duration is the span's own, to the µs below, not a difference of roundings. */
export function spanTimesUs(span: OtelSpan): { startUs: number; endUs: number } {
  const startUs = Number(span.startNs / 1000n);
  return { startUs, endUs: startUs + Number((span.endNs - span.startNs) / 1000n) };
}

export function spanToRequest(span: OtelSpan, resource: Attributes, scope: string): SpanRequest {
  const a = span.attributes;
  const described = describe(span);
  const { startUs, endUs } = spanTimesUs(span);
  const record: L7Record = {
    // Span protocols are an open set (postgresql, rabbitmq…) next to the parsers' names; the
    // output writes the name as text, and `protocolName` keeps it to safe characters.
    protocol: described.protocol as L7ProtocolName,
    version: clip(described.version),
    requestType: clip(described.requestType),
    requestDomain: clip(described.requestDomain),
    requestResource: clip(described.requestResource),
    endpoint: clip(described.endpoint || span.name),
    status: described.status,
    requestTimeUs: startUs,
    responseTimeUs: endUs,
    requestLength: -1,
    responseLength: -1,
    traceId: span.traceId,
    spanId: span.spanId,
    countsAsRequest: true,
    attributes: { 'otel.span_name': clip(span.name), 'otel.span_kind': KIND_LABELS[span.kind] ?? String(span.kind), 'otel.scope': clip(scope) },
  };
  if (span.parentSpanId) record.parentSpanId = span.parentSpanId;
  // response_code is an Int32 column: a code beyond it would make ClickHouse refuse the whole batch.
  if (described.code !== undefined && Math.abs(described.code) < 2 ** 31) record.responseCode = described.code;
  const exception = span.statusMessage || text(a, 'error.type');
  if (exception && record.status !== 'ok') record.responseException = clip(exception);
  const xRequestId = text(a, 'http.request.header.x-request-id');
  if (xRequestId) record.xRequestId = clip(xRequestId);
  return { ctx: flowContext(span, resource), record };
}

// ---------------------------------------------------------------------------------------------
// Attribute access

/** The first of `keys` holding a string or number, as text (arrays: their first element). */
export function text(a: Attributes, ...keys: string[]): string | undefined {
  for (const k of keys) {
    let v: AttributeValue | undefined = a.get(k);
    if (Array.isArray(v)) v = v[0];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

/** The first of `keys` holding an integer (or a decimal string of one). */
export function integer(a: Attributes, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = a.get(k);
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return Number(v);
  }
  return undefined;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text as stored: at most MAX_TEXT characters, and well-formed (a lone surrogate from a JSON
 * escape or broken UTF-8 would make the row's JSON unreadable to ClickHouse).
 */
export function clip(s: string): string {
  return (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s).replace(LONE_SURROGATE, '\ufffd');
}

/**
 * An address as given (IP or host name), or '' when it has characters no address has: the
 * output writes addresses into rows unescaped, as the capture path's addresses never need it.
 */
export function address(s: string | undefined): string {
  const bare = s?.replace(/^\[(.*)\]$/, '$1') ?? '';
  return /^[A-Za-z0-9._:%-]{1,255}$/.test(bare) ? bare : '';
}

/** A protocol name safe to write as a tag: lower case letters, digits, `_.-`, at most 32. */
export function protocolName(system: string): string {
  const name = system.toLowerCase();
  return /^[a-z0-9_.-]{1,32}$/.test(name) ? name : 'other';
}

// ---------------------------------------------------------------------------------------------
// Protocol, request and status

interface Described {
  protocol: string;
  version: string;
  requestType: string;
  requestDomain: string;
  requestResource: string;
  endpoint: string;
  status: ResponseStatus;
  code?: number;
}

function describe(span: OtelSpan): Described {
  const a = span.attributes;
  const rpc = text(a, 'rpc.system');
  if (rpc) return describeRpc(span, rpc);
  const db = text(a, 'db.system.name', 'db.system');
  if (db) return describeDb(span, db);
  const messaging = text(a, 'messaging.system');
  if (messaging) return describeMessaging(span, messaging);
  if (text(a, 'http.request.method', 'http.method')) return describeHttp(span);
  return { protocol: '', version: '', requestType: '', requestDomain: '', requestResource: span.name, endpoint: span.name, status: statusOfSpan(span) };
}

/** ERROR is a server error where no protocol code says otherwise; UNSET and OK are fine. */
function statusOfSpan(span: OtelSpan): ResponseStatus {
  return span.statusCode === StatusCode.ERROR ? 'server_error' : 'ok';
}

function describeHttp(span: OtelSpan): Described {
  const a = span.attributes;
  const method = text(a, 'http.request.method', 'http.method') ?? '';
  const url = text(a, 'url.full', 'http.url');
  const path = text(a, 'url.path') ?? pathOf(text(a, 'http.target') ?? url);
  const code = integer(a, 'http.response.status_code', 'http.status_code');
  const version = text(a, 'network.protocol.version', 'http.flavor') ?? '';
  return {
    protocol: version.startsWith('2') ? 'http2' : version.startsWith('3') ? 'http3' : 'http1',
    version,
    requestType: method === '_OTHER' ? (text(a, 'http.request.method_original') ?? method) : method,
    requestDomain: text(a, 'server.address', 'http.host', 'net.host.name', 'net.peer.name') ?? hostOfUrl(url)?.host ?? '',
    requestResource: path ?? '',
    endpoint: text(a, 'http.route') ?? (path ? endpointOfPath(path) : ''),
    status: code !== undefined && code >= 500 ? 'server_error' : code !== undefined && code >= 400 ? 'client_error' : statusOfSpan(span),
    code,
  };
}

function pathOf(target: string | undefined): string | undefined {
  if (!target) return undefined;
  const path = pathOfTarget(target);
  return path.startsWith('/') ? path : undefined;
}

const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** gRPC's status: `rpc.grpc.status_code` (a number), or `rpc.response.status_code` (a name since semconv 1.37). */
function grpcCode(a: Attributes): number | undefined {
  const code = integer(a, 'rpc.grpc.status_code', 'rpc.response.status_code');
  if (code !== undefined) return code;
  const name = text(a, 'rpc.response.status_code');
  return name !== undefined && GRPC_CODES.includes(name) ? GRPC_CODES.indexOf(name) : undefined;
}

function describeRpc(span: OtelSpan, system: string): Described {
  const a = span.attributes;
  // Since semconv 1.37 `rpc.method` is fully qualified (`pkg.Service/Method`) and `rpc.service` gone.
  let method = text(a, 'rpc.method') ?? '';
  let service = text(a, 'rpc.service') ?? '';
  const slash = method.lastIndexOf('/');
  if (slash > 0) {
    service ||= method.slice(0, slash);
    method = method.slice(slash + 1);
  }
  const domain = text(a, 'server.address', 'net.peer.name') ?? '';
  if (system === 'grpc') {
    const code = grpcCode(a);
    return {
      protocol: 'grpc',
      version: '2',
      requestType: 'POST', // gRPC calls are HTTP/2 POSTs; the packet parser writes the same
      requestDomain: domain,
      requestResource: service,
      endpoint: service && method ? `/${service}/${method}` : '',
      status: code !== undefined ? (code === 0 ? 'ok' : 'server_error') : statusOfSpan(span),
      code,
    };
  }
  const dubbo = system === 'apache_dubbo' || system === 'dubbo';
  return {
    protocol: dubbo ? 'dubbo' : protocolName(system),
    version: '',
    requestType: method,
    requestDomain: domain,
    requestResource: service,
    endpoint: service && method ? (dubbo ? `${service}/${method}` : `/${service}/${method}`) : method,
    status: statusOfSpan(span),
  };
}

/** Database systems whose wire protocol is MySQL's, so their rows line up with the MySQL parser's. */
const MYSQL_SYSTEMS = new Set(['mysql', 'mariadb', 'tidb']);

function describeDb(span: OtelSpan, system: string): Described {
  const a = span.attributes;
  const statement = text(a, 'db.query.text', 'db.statement') ?? '';
  const operation = text(a, 'db.operation.name', 'db.operation') ?? '';
  const collection = text(a, 'db.collection.name', 'db.sql.table', 'db.mongodb.collection') ?? '';
  const code = integer(a, 'db.response.status_code');
  const base = { version: '', requestDomain: text(a, 'db.namespace', 'db.name') ?? '', status: statusOfSpan(span), code };
  if (system === 'redis') {
    // SPEC §4 for Redis: the command and its key, values dropped (they may be anything).
    const [command = operation, key] = statement.split(/\s+/, 2);
    const verb = command.toUpperCase();
    return { ...base, protocol: 'redis', requestType: verb, requestResource: key ? `${verb} ${key}` : verb, endpoint: verb };
  }
  const summary = text(a, 'db.query.summary');
  const endpoint = summary ?? (operation && collection ? `${operation} ${collection}` : statement ? sqlEndpoint(statement) : operation);
  return {
    ...base,
    protocol: MYSQL_SYSTEMS.has(system) ? 'mysql' : protocolName(system),
    requestType: operation || endpoint.split(' ', 1)[0],
    // Literals masked as the MySQL parser does by default: statements carry users' data.
    requestResource: statement ? maskSql(statement) : collection,
    endpoint,
  };
}

function describeMessaging(span: OtelSpan, system: string): Described {
  const a = span.attributes;
  const destination = text(a, 'messaging.destination.name', 'messaging.destination') ?? '';
  const partition = text(a, 'messaging.destination.partition.id', 'messaging.kafka.destination.partition');
  const defaultOperation = span.kind === SpanKind.PRODUCER ? 'publish' : span.kind === SpanKind.CONSUMER ? 'process' : '';
  return {
    protocol: protocolName(system),
    version: '',
    requestType: text(a, 'messaging.operation.type', 'messaging.operation.name', 'messaging.operation') ?? defaultOperation,
    requestDomain: destination,
    requestResource: destination && partition !== undefined ? `${destination}-${partition}` : destination,
    endpoint: destination,
    status: statusOfSpan(span),
  };
}

// ---------------------------------------------------------------------------------------------
// Who talked to whom

interface End {
  ip: string;
  port: number;
}

function hostOfUrl(url: string | undefined): { host: string; port: number } | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : u.protocol === 'http:' ? 80 : 0;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

function validPort(p: number | undefined): number | undefined {
  return p !== undefined && p > 0 && p < 65536 ? p : undefined;
}

/** The server a CLIENT or PRODUCER span called: the connected peer, else the logical server. */
function calledServer(a: Attributes): End {
  const url = hostOfUrl(text(a, 'url.full', 'http.url'));
  return {
    ip: address(text(a, 'network.peer.address', 'net.sock.peer.addr', 'server.address', 'net.peer.name', 'net.peer.ip') ?? url?.host),
    port: validPort(integer(a, 'network.peer.port', 'net.sock.peer.port', 'server.port', 'net.peer.port')) ?? validPort(url?.port) ?? 0,
  };
}

/** The server's own end in a SERVER or CONSUMER span: its local address, else the name it was called by. */
function servingEnd(a: Attributes): End {
  return {
    ip: address(text(a, 'network.local.address', 'net.sock.host.addr', 'server.address', 'net.host.name', 'net.host.ip')),
    port: validPort(integer(a, 'network.local.port', 'net.sock.host.port', 'server.port', 'net.host.port')) ?? 0,
  };
}

/** The caller in a SERVER span: the client's address, else the connected peer's. */
function callingClient(a: Attributes): End {
  return {
    ip: address(text(a, 'client.address', 'http.client_ip', 'network.peer.address', 'net.sock.peer.addr', 'net.peer.ip')),
    port: validPort(integer(a, 'client.port', 'network.peer.port', 'net.sock.peer.port', 'net.peer.port')) ?? 0,
  };
}

function localEnd(a: Attributes): End {
  return { ip: address(text(a, 'network.local.address', 'net.sock.host.addr')), port: validPort(integer(a, 'network.local.port', 'net.sock.host.port')) ?? 0 };
}

/** The reporting application's tags, from its resource. */
export function appTags(resource: Attributes): SideTags {
  const pid = integer(resource, 'process.pid');
  return {
    pid: pid !== undefined && pid > 0 && pid < 2 ** 32 ? pid : 0,
    process: clip(text(resource, 'process.executable.name', 'process.command') ?? ''),
    container: clip(text(resource, 'container.id') ?? ''),
    service: clip(text(resource, 'service.name') ?? 'unknown_service'),
  };
}

function peerTags(service: string): SideTags {
  return { pid: 0, process: '', container: '', service: clip(service) };
}

function flowContext(span: OtelSpan, resource: Attributes): FlowContext {
  const a = span.attributes;
  const tapSide = tapSideOfKind(span.kind);
  const app = appTags(resource);
  const transport = text(a, 'network.transport', 'net.transport') === 'udp' || text(a, 'net.transport') === 'ip_udp' ? 'udp' : 'tcp';
  const base = { tapSide, signalSource: SIGNAL_SOURCE_OTEL, transport, flowId: 0 } as const;
  const peerService = text(a, 'peer.service');
  if (tapSide === 'c-app') {
    const server = calledServer(a);
    const local = localEnd(a);
    const logical = address(text(a, 'server.address', 'net.peer.name') ?? hostOfUrl(text(a, 'url.full', 'http.url'))?.host);
    const serverName = peerService ?? (logical ? formatEndpoint(logical, server.port) : server.ip ? formatEndpoint(server.ip, server.port) : '');
    return { ...base, ip0: local.ip, port0: local.port, ip1: server.ip, port1: server.port, side0: app, side1: peerTags(serverName) };
  }
  if (tapSide === 's-app') {
    const server = servingEnd(a);
    const client = callingClient(a);
    return { ...base, ip0: client.ip, port0: client.port, ip1: server.ip, port1: server.port, side0: peerTags(peerService ?? client.ip), side1: app };
  }
  // Internal work: the application on both ends, so it counts as the application's own endpoint.
  const local = localEnd(a);
  return { ...base, ip0: local.ip, port0: 0, ip1: local.ip, port1: local.port, side0: app, side1: app };
}
