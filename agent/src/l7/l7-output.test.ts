import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChdbStore } from '../store/chdb-store';
import { decodeRowBinary } from '../store/row-binary';
import { RowCollector } from '../store/row-collector';
import { migrate } from '../store/store';
import { L7_FLOW_LOG, tableByName } from '../store/tables';
import { FlowContext, L7Output } from './l7-output';
import { L7Record } from './l7-parser';

const HOST = 'node\t"1✓';
const T0 = 1_700_000_000_123_456;
const SECOND = Math.floor(T0 / 1e6);

function rec(fields: Partial<L7Record>): L7Record {
  return { protocol: 'http1', version: '', requestType: '', requestDomain: '', requestResource: '', endpoint: '', status: 'ok', requestLength: 0, responseLength: 0, countsAsRequest: true, ...fields };
}

/** A packet flow without process tags, to an IPv6 server: service_1 is `[ip]:port`. */
function packetContext(): FlowContext {
  return { tapSide: 'c', signalSource: 'packet', transport: 'tcp', flowId: 5 * 2 ** 32 + 77, ip0: '10.0.0.1', ip1: 'fd00::a:2', port0: 40000, port1: 8443 };
}

/** A socket seen by eBPF, process tags on both sides (non-ASCII among them). */
function socketContext(): FlowContext {
  return {
    tapSide: 's-p',
    signalSource: 'ebpf',
    transport: 'tcp',
    flowId: 9,
    ip0: '10.0.0.3',
    ip1: '10.0.0.4',
    port0: 50000,
    port1: 3306,
    side0: { pid: 7, process: 'curl', container: '', service: 'curl' },
    side1: { pid: 4242, process: 'mysqld-工作', container: 'c0ffee', service: 'db-服务' },
  };
}

const PACKET_TAGS = {
  tap_side: 'c',
  signal_source: 'packet',
  host: HOST,
  protocol: 'tcp',
  flow_id: 5 * 2 ** 32 + 77,
  ip_0: '10.0.0.1',
  ip_1: 'fd00::a:2',
  port_0: 40000,
  port_1: 8443,
  service_0: '10.0.0.1',
  service_1: '[fd00::a:2]:8443',
  process_0: '',
  process_1: '',
  pid_0: 0,
  pid_1: 0,
  container_0: '',
  container_1: '',
};

const SOCKET_TAGS = {
  tap_side: 's-p',
  signal_source: 'ebpf',
  host: HOST,
  protocol: 'tcp',
  flow_id: 9,
  ip_0: '10.0.0.3',
  ip_1: '10.0.0.4',
  port_0: 50000,
  port_1: 3306,
  service_0: 'curl',
  service_1: 'db-服务',
  process_0: 'curl',
  process_1: 'mysqld-工作',
  pid_0: 7,
  pid_1: 4242,
  container_0: '',
  container_1: 'c0ffee',
};

/** Every request-log column holding its default, as the rows decode. */
const EMPTY_LOG = {
  version: '',
  request_type: '',
  request_domain: '',
  request_resource: '',
  endpoint: '',
  request_id: 0,
  response_code: 0,
  response_exception: '',
  response_duration: 0,
  request_length: 0,
  response_length: 0,
  trace_id: '',
  span_id: '',
  parent_span_id: '',
  x_request_id: '',
};

const LONG_PATH = `/upload/${'x'.repeat(300)}`;
const EXCEPTION = "Table 'shop.t' doesn't exist — 表不存在";

/** Records of every kind, through two contexts (one used four times, with two protocols). */
function writeLog(out: L7Output): void {
  const packet = packetContext();
  const socket = socketContext();
  out.beginSecond(SECOND);
  out.record(
    packet,
    rec({
      version: '1.1',
      requestType: 'GET',
      requestDomain: 'example.com',
      requestResource: '/文件/报告.pdf?q=✓',
      endpoint: '/文件',
      responseCode: 200,
      requestTimeUs: T0,
      responseTimeUs: T0 + 1500,
      requestLength: 120,
      responseLength: 2048,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      xRequestId: 'req-1',
      attributes: { 'user-agent': 'curl/8.0', 'x-标签': '值' },
    }),
  );
  // No response: a request row, its end the start; a 2-byte string length.
  out.record(packet, rec({ requestType: 'POST', requestResource: LONG_PATH, endpoint: '/upload', status: 'timeout', requestTimeUs: T0 + 2_000_000, requestLength: 512, responseLength: -1 }));
  // Its request not seen: a response row; a negative code, a 64-bit request id.
  out.record(
    socket,
    rec({ protocol: 'mysql', version: '5.7', status: 'server_error', responseCode: -1, responseException: EXCEPTION, responseTimeUs: T0 + 3_000_000, requestLength: -1, responseLength: 99, requestId: 2 ** 40 + 3 }),
  );
  // Not counted, answered in the same µs: no response_duration.
  out.record(socket, rec({ protocol: 'mysql', requestType: 'COM_QUIT', requestTimeUs: T0 + 4_000_000, responseTimeUs: T0 + 4_000_000, countsAsRequest: false, attributes: {} }));
  out.record(socket, rec({ protocol: 'mysql', requestType: 'COM_PING', requestTimeUs: T0 + 4_000_010, responseTimeUs: T0 + 4_000_020 }));
  out.record(socket, rec({ protocol: 'redis', requestType: 'GET', requestResource: 'GET key', endpoint: 'GET', requestTimeUs: T0 + 4_000_030, responseTimeUs: T0 + 4_000_031, parentSpanId: 'p' }));
  out.flush();
}

const micros = (us: number): string => `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;

const EXPECTED_LOG = [
  {
    time: SECOND,
    ...PACKET_TAGS,
    l7_protocol: 'http1',
    start_time: micros(T0),
    end_time: micros(T0 + 1500),
    type: 'session',
    response_status: 'ok',
    ...EMPTY_LOG,
    version: '1.1',
    request_type: 'GET',
    request_domain: 'example.com',
    request_resource: '/文件/报告.pdf?q=✓',
    endpoint: '/文件',
    response_code: 200,
    response_duration: 1500,
    request_length: 120,
    response_length: 2048,
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    span_id: '00f067aa0ba902b7',
    x_request_id: 'req-1',
    attributes: { counts_as_request: '1', 'user-agent': 'curl/8.0', 'x-标签': '值' },
  },
  {
    time: SECOND + 2,
    ...PACKET_TAGS,
    l7_protocol: 'http1',
    start_time: micros(T0 + 2_000_000),
    end_time: micros(T0 + 2_000_000),
    type: 'request',
    response_status: 'timeout',
    ...EMPTY_LOG,
    request_type: 'POST',
    request_resource: LONG_PATH,
    endpoint: '/upload',
    request_length: 512,
    response_length: -1,
    attributes: { counts_as_request: '1' },
  },
  {
    time: SECOND + 3,
    ...SOCKET_TAGS,
    l7_protocol: 'mysql',
    start_time: micros(T0 + 3_000_000),
    end_time: micros(T0 + 3_000_000),
    type: 'response',
    response_status: 'server_error',
    ...EMPTY_LOG,
    version: '5.7',
    request_id: 2 ** 40 + 3,
    response_code: -1,
    response_exception: EXCEPTION,
    request_length: -1,
    response_length: 99,
    attributes: { counts_as_request: '1' },
  },
  {
    time: SECOND + 4,
    ...SOCKET_TAGS,
    l7_protocol: 'mysql',
    start_time: micros(T0 + 4_000_000),
    end_time: micros(T0 + 4_000_000),
    type: 'session',
    response_status: 'ok',
    ...EMPTY_LOG,
    request_type: 'COM_QUIT',
    attributes: { counts_as_request: '0' },
  },
  {
    time: SECOND + 4,
    ...SOCKET_TAGS,
    l7_protocol: 'mysql',
    start_time: micros(T0 + 4_000_010),
    end_time: micros(T0 + 4_000_020),
    type: 'session',
    response_status: 'ok',
    ...EMPTY_LOG,
    request_type: 'COM_PING',
    response_duration: 10,
    attributes: { counts_as_request: '1' },
  },
  {
    time: SECOND + 4,
    ...SOCKET_TAGS,
    l7_protocol: 'redis',
    start_time: micros(T0 + 4_000_030),
    end_time: micros(T0 + 4_000_031),
    type: 'session',
    response_status: 'ok',
    ...EMPTY_LOG,
    request_type: 'GET',
    request_resource: 'GET key',
    endpoint: 'GET',
    response_duration: 1,
    parent_span_id: 'p',
    attributes: { counts_as_request: '1' },
  },
];

test('request-log rows decode to the record, column by column: types, UTF-8, long strings, negative codes, side tags', () => {
  const sink = new RowCollector();
  const out = new L7Output(sink, HOST);
  writeLog(out);
  const rows = sink.rows<Record<string, unknown>>('l7_flow_log');
  assert.equal(rows.length, EXPECTED_LOG.length);
  assert.equal(out.recordsWritten, EXPECTED_LOG.length);
  rows.forEach((row, i) => {
    assert.deepEqual(Object.keys(row), L7_FLOW_LOG.columns.map((c) => c.name), `row ${i}: every column, in order`);
    assert.deepEqual(row, EXPECTED_LOG[i], `row ${i}`);
    assert.equal(Object.keys(row.attributes as object)[0], 'counts_as_request', `row ${i}: counts_as_request comes first`);
  });
  // The 300-byte path: its length is two LEB128 bytes (0xb4 0x02) right before it.
  const bytes = sink.binaryTables.get('l7_flow_log')?.bytes() ?? Buffer.alloc(0);
  const at = bytes.indexOf(Buffer.from(LONG_PATH));
  assert.deepEqual([...bytes.subarray(at - 2, at)], [(LONG_PATH.length & 0x7f) | 0x80, LONG_PATH.length >> 7]);
});

test('RED rows: counts by status, response times and their histogram per endpoint, folded endpoints, process tags', () => {
  const sink = new RowCollector();
  const out = new L7Output(sink, HOST, 2);
  const packet = { ...packetContext(), ip1: '10.0.0.2', port1: 80 };
  const at = (us: number): number => T0 + us;
  out.beginSecond(SECOND);
  const answered = (endpoint: string, rrt: number, status: L7Record['status'] = 'ok'): number =>
    out.record(packet, rec({ endpoint, status, requestTimeUs: at(0), responseTimeUs: at(rrt) }));
  assert.equal(answered('/a', 100), 100);
  assert.equal(answered('/a', 3000), 3000);
  assert.equal(answered('/a', 50, 'client_error'), 50);
  assert.equal(out.record(packet, rec({ endpoint: '/a', responseTimeUs: at(10) })), -1, 'a response without its request: no response time');
  assert.equal(out.record(packet, rec({ endpoint: '/a', requestTimeUs: at(0), responseTimeUs: at(5), countsAsRequest: false })), -1, 'not counted');
  assert.equal(answered('/b', 1_000_000, 'server_error'), 1_000_000);
  assert.equal(out.record(packet, rec({ endpoint: '/b', status: 'timeout', requestTimeUs: at(0) })), -1);
  // A third endpoint of the service is past the cap of 2: folded into `other`.
  assert.equal(answered('/c', 7), 7);
  assert.equal(out.endpoints.folded, 1);
  assert.equal(out.record(socketContext(), rec({ protocol: 'mysql', endpoint: '/a', requestTimeUs: at(0), responseTimeUs: at(1) })), 1);
  out.beginSecond(SECOND + 1);
  out.flush();

  const tags = (t: Record<string, unknown>, endpoint: string, l7: string): Record<string, unknown> => {
    const { flow_id: _f, port_0: _p, ...rest } = t;
    return { time: SECOND, ...rest, l7_protocol: l7, endpoint };
  };
  const packetTags = { ...PACKET_TAGS, ip_1: '10.0.0.2', port_1: 80, service_1: '10.0.0.2:80' };
  const red = sink.rows<Record<string, unknown>>('application_map_1s');
  // Metrics holding 0 decode as absent (as the JSON rows left them out).
  assert.deepEqual(red, [
    { ...tags(packetTags, '/a', 'http1'), request: 3, response: 4, error: 1, client_error: 1, rrt_sum: 3150, rrt_count: 3, rrt_max: 3000, rrt_hist: { 6: 1, 7: 1, 12: 1 } },
    { ...tags(packetTags, '/b', 'http1'), request: 2, response: 1, error: 1, server_error: 1, timeout: 1, rrt_sum: 1_000_000, rrt_count: 1, rrt_max: 1_000_000, rrt_hist: { 20: 1 } },
    { ...tags(packetTags, 'other', 'http1'), request: 1, response: 1, rrt_sum: 7, rrt_count: 1, rrt_max: 7, rrt_hist: { 3: 1 } },
    { ...tags(SOCKET_TAGS, '/a', 'mysql'), request: 1, response: 1, rrt_sum: 1, rrt_count: 1, rrt_max: 1, rrt_hist: { 1: 1 } },
  ]);
  // Every column, in the table's order (zero metrics aside).
  const names = tableByName('application_map_1s').columns.map((c) => c.name);
  for (const row of red) assert.deepEqual(Object.keys(row), names.filter((n) => n in row));
  assert.equal(sink.rows('l7_flow_log').length, 9, 'every record is logged, counted or not, folded or not');
});

test('the rows stored by ClickHouse are the records: RowBinary read back column by column', async () => {
  const sink = new RowCollector();
  const out = new L7Output(sink, HOST);
  writeLog(out);
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-l7-output-'));
  const store = new ChdbStore(dir);
  try {
    await migrate(store);
    for (const name of ['l7_flow_log', 'application_map_1s']) {
      const def = tableByName(name);
      const b = sink.binaryTables.get(name);
      assert.ok(b && b.rows > 0, name);
      await store.insert(def, Buffer.from(b.bytes()), b.rows, 'RowBinary');
      // What ClickHouse stored, as numbers and text, next to the decoded rows made the same.
      const columns = def.columns.map((c) => {
        const q = `\`${c.name}\``;
        if (c.type === 'DateTime64(6)') return `toFloat64(toUnixTimestamp64Micro(${q})) AS ${q}`;
        if (c.type === 'DateTime') return `toUnixTimestamp(${q}) AS ${q}`;
        if (c.type === 'Map(UInt8, UInt64)') return `mapApply((k, v) -> (toString(k), toFloat64(v)), ${q}) AS ${q}`;
        if (c.type === 'UInt64' || c.type === 'Int64') return `toFloat64(${q}) AS ${q}`;
        return q;
      });
      const orderBy = name === 'l7_flow_log' ? 'start_time, l7_protocol, request_type' : 'l7_protocol, endpoint';
      const stored = await store.query<Record<string, unknown>>(`SELECT ${columns.join(', ')} FROM ${def.database}.${def.name} ORDER BY ${orderBy}`);
      const decoded = decodeRowBinary(def, b.bytes()).map((row) =>
        Object.fromEntries(
          def.columns.map((c) => {
            const v = c.name in row ? row[c.name] : c.type.startsWith('Map') ? {} : 0;
            return [c.name, c.type === 'DateTime64(6)' ? Math.round(Number(v) * 1e6) : v];
          }),
        ),
      );
      const order = name === 'l7_flow_log' ? decoded : decoded.sort((x, y) => (`${x.l7_protocol}|${x.endpoint}` < `${y.l7_protocol}|${y.endpoint}` ? -1 : 1));
      assert.deepEqual(stored, order, name);
    }
    const [row] = await store.query<{ p: string; n: number; e: string; a: string }>(
      "SELECT request_resource AS p, response_code AS n, response_exception AS e, attributes['x-标签'] AS a FROM flow_log.l7_flow_log WHERE l7_protocol = 'http1' AND type = 'session'",
    );
    assert.deepEqual(row, { p: '/文件/报告.pdf?q=✓', n: 200, e: '', a: '值' });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a changed table fails when the writer loads, instead of shifting bytes; a new column gets its default', () => {
  /** Loads the writer after `change` edits the request log's columns (in a fresh process). */
  const load = (change: string): { status: number | null; out: string } => {
    const script = `
      const { L7_FLOW_LOG } = require(${JSON.stringify(join(__dirname, '../store/tables'))});
      const columns = L7_FLOW_LOG.columns;
      ${change}
      const { L7Output } = require(${JSON.stringify(join(__dirname, 'l7-output'))});
      const { RowCollector } = require(${JSON.stringify(join(__dirname, '../store/row-collector'))});
      const sink = new RowCollector();
      const ctx = { tapSide: 'c', signalSource: 'packet', transport: 'tcp', flowId: 1, ip0: '10.0.0.1', ip1: '10.0.0.2', port0: 1, port1: 80 };
      new L7Output(sink, 'h').record(ctx, { protocol: 'http1', version: '', requestType: 'GET', requestDomain: '', requestResource: '/', endpoint: '/', status: 'ok', requestLength: 0, responseLength: 0, countsAsRequest: false, requestTimeUs: 1e15 });
      process.stdout.write(JSON.stringify(sink.rows('l7_flow_log')));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const retyped = load("columns.find((c) => c.name === 'response_code').type = 'Int64';");
  assert.notEqual(retyped.status, 0);
  assert.match(retyped.out, /l7_flow_log\.response_code is Int64; the RowBinary writer writes Int32/);
  const removed = load("columns.splice(columns.findIndex((c) => c.name === 'span_id'), 1);");
  assert.notEqual(removed.status, 0);
  assert.match(removed.out, /l7_flow_log has no column span_id/);
  const moved = load("const [start] = columns.splice(columns.findIndex((c) => c.name === 'start_time'), 1); columns.splice(columns.findIndex((c) => c.name === 'ip_1'), 0, start);");
  assert.notEqual(moved.status, 0);
  assert.match(moved.out, /l7_flow_log\.start_time sits among the tag columns/);
  // New columns, one among the tags (inside the bytes kept per context) and two further on.
  const added = load(
    "columns.splice(columns.findIndex((c) => c.name === 'ip_1'), 0, { name: 'vlan', type: 'UInt16' }); columns.splice(columns.findIndex((c) => c.name === 'type'), 0, { name: 'new_tag', type: 'LowCardinality(String)' }, { name: 'new_count', type: 'UInt32' });",
  );
  assert.equal(added.status, 0, added.out);
  const [row] = JSON.parse(added.out) as Record<string, unknown>[];
  assert.deepEqual([row.ip_0, row.vlan, row.ip_1, row.new_tag, row.new_count, row.type, row.request_type, row.endpoint], ['10.0.0.1', 0, '10.0.0.2', '', 0, 'request', 'GET', '/']);
});
