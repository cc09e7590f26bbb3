/**
 * Plays Grafana against the BUILT backend executable (dist/datasource/gpx_metaflow_<os>_<arch>):
 * starts it with the environment Grafana's plugin manager sets, reads the go-plugin handshake,
 * connects over gRPC on the announced unix socket, and calls what Grafana calls — the health
 * service, CheckHealth, QueryData with alert-style queries, CallResource, CollectMetrics and
 * the controller's Shutdown. Data: the project's demo capture replayed into a fresh chDB store,
 * served by `metaflow serve`; expected numbers come from the capture's known workload
 * (fixtures/captures/demo-loopback.workload.json) and from the store through the agent's SQL API.
 */
import * as grpc from '@grpc/grpc-js';
import { tableFromIPC } from 'apache-arrow';
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { parseHandshakeLine } from './handshake';
import { protocolServices } from './protocol/services';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const METAFLOW = path.join(ROOT, 'agent', 'bin', 'metaflow.js');
const DEMO = path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.pcap');
const GOARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const EXECUTABLE = path.join(ROOT, 'dist', 'datasource', `gpx_metaflow_linux_${GOARCH}`);
const workload = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.workload.json'), 'utf8')) as {
  servers: Array<{ protocol: string; port: number; requests: number; by_address: Record<string, { responses_by_status: Record<string, number> }> }>;
};

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let tmp: string;
let agent: ChildProcess | undefined;
let plugin: ChildProcess | undefined;
let pluginStderr = '';
let apiUrl: string;
const token = randomBytes(12).toString('hex');
let socketPath: string;
let newest: number;
const clients: Record<string, Client> = {};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function api(pathname: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${apiUrl}/api/v1${pathname}`, {
    method: body ? 'POST' : 'GET',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The environment Grafana's plugin manager gives a backend plugin (go-plugin's part and Grafana's). */
function grafanaEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: tmp,
    grafana_plugin_type: 'datasource',
    PLUGIN_PROTOCOL_VERSIONS: '2',
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
    PLUGIN_UNIX_SOCKET_DIR: tmp,
    GF_VERSION: '12.0.2',
    GF_EDITION: 'oss',
    GF_PLUGIN_APP_URL: 'http://127.0.0.1:3000/',
  };
}

function pluginContext(overrides: { token?: string; apiUrl?: string } = {}) {
  return {
    orgId: 1,
    pluginId: 'metaflow-datasource',
    pluginVersion: '0.1.0',
    dataSourceInstanceSettings: {
      id: 7,
      uid: 'metaflow',
      name: 'MetaFlow',
      jsonData: Buffer.from(JSON.stringify({ apiUrl: overrides.apiUrl ?? apiUrl })),
      decryptedSecureJsonData: { apiToken: overrides.token ?? token },
      lastUpdatedMS: Date.now(),
    },
  };
}

function call<T>(client: Client, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => (client[method] as (r: unknown, cb: (e: Error | null, v: T) => void) => void).call(client, request, (e, v) => (e ? reject(e) : resolve(v))));
}

before(async () => {
  assert.ok(existsSync(EXECUTABLE), `${EXECUTABLE} missing: run npm run build`);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'metaflow-backend-'));
  const store = path.join(tmp, 'store');
  execFileSync(process.execPath, [METAFLOW, 'replay', DEMO, '--store', store, '--local-ip', '127.0.0.1,::1', '--no-progress'], { stdio: 'ignore' });
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  agent = spawn(process.execPath, [METAFLOW, 'serve', '--store', store, '--host', '127.0.0.1', '--port', String(port), '--token', token], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      newest = (((await api('/health')).newest as Record<string, number>).application);
      break;
    } catch (e) {
      if (i > 300) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  plugin = spawn(EXECUTABLE, [], { env: grafanaEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  plugin.stderr?.on('data', (d) => (pluginStderr += d));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no handshake within 20 s; stderr: ${pluginStderr}`)), 20_000);
    plugin?.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.slice(0, out.indexOf('\n')));
      }
    });
    plugin?.on('exit', (code) => reject(new Error(`backend exited with ${code}: ${pluginStderr}`)));
  });
  const handshake = parseHandshakeLine(line);
  assert.deepEqual([handshake.core, handshake.app, handshake.network, handshake.protocol], [1, 2, 'unix', 'grpc']);
  assert.ok(handshake.address.startsWith(tmp), 'the socket is made in PLUGIN_UNIX_SOCKET_DIR');
  socketPath = handshake.address;
  const defs = protocolServices().clients as unknown as Record<string, Record<string, grpc.ServiceClientConstructor>>;
  const target = `unix://${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  clients.data = new defs.pluginv2.Data(target, creds) as unknown as Client;
  clients.diagnostics = new defs.pluginv2.Diagnostics(target, creds) as unknown as Client;
  clients.resource = new defs.pluginv2.Resource(target, creds) as unknown as Client;
  clients.controller = new (defs.plugin as Record<string, grpc.ServiceClientConstructor>).GRPCController(target, creds) as unknown as Client;
});

after(async () => {
  for (const c of Object.values(clients)) c.close();
  for (const child of [plugin, agent]) if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

test('the standard gRPC health service reports the service "plugin" as serving', async () => {
  // grpc-health-check's own definition of grpc.health.v1, not ours: an independent client.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const health = require('grpc-health-check') as { service: grpc.ServiceDefinition };
  const Health = grpc.makeGenericClientConstructor(health.service, 'Health');
  const client = new Health(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as Client;
  const response = await call<{ status: string | number }>(client, 'check', { service: 'plugin' });
  client.close();
  assert.ok(response.status === 'SERVING' || response.status === 1, JSON.stringify(response));
});

test('CheckHealth: OK with the agent version; ERROR naming the token when it is wrong', async () => {
  const ok = await call<{ status: number; message: string; jsonDetails: Buffer }>(clients.diagnostics, 'CheckHealth', { pluginContext: pluginContext(), headers: {} });
  assert.equal(ok.status, 1, ok.message);
  assert.match(ok.message, /MetaFlow agent 0\.1\.0 \(chdb:/);
  assert.equal(JSON.parse(ok.jsonDetails.toString()).newest.application, newest);
  const bad = await call<{ status: number; message: string }>(clients.diagnostics, 'CheckHealth', { pluginContext: pluginContext({ token: 'wrong' }), headers: {} });
  assert.equal(bad.status, 2);
  assert.match(bad.message, /token/);
});

interface Frame {
  name: string;
  refId: string;
  fields: Array<{ name: string; type: string; labels?: Record<string, string>; config?: Record<string, unknown>; values: unknown[] }>;
}

function decode(bytes: Buffer): Frame {
  const table = tableFromIPC(bytes);
  const meta = table.schema.metadata;
  return {
    name: meta.get('name') ?? '',
    refId: meta.get('refId') ?? '',
    fields: table.schema.fields.map((f) => ({
      name: f.metadata.get('name') ?? f.name,
      type: String(f.type),
      labels: f.metadata.has('labels') ? (JSON.parse(f.metadata.get('labels') as string) as Record<string, string>) : undefined,
      config: f.metadata.has('config') ? (JSON.parse(f.metadata.get('config') as string) as Record<string, unknown>) : undefined,
      values: [...(table.getChild(f.name)?.toArray() ?? [])] as unknown[],
    })),
  };
}

function dataQuery(refId: string, model: Record<string, unknown>) {
  // An alert rule's relative range ("last 1 hour") resolved by Grafana's scheduler at evaluation time.
  return { refId, maxDataPoints: 43_200, intervalMS: 1000, timeRange: { fromEpochMS: newest - 3_600_000, toEpochMS: newest + 60_000 }, json: Buffer.from(JSON.stringify(model)), queryType: '' };
}

const sum = (values: unknown[]) => values.reduce<number>((a, v) => a + Number(v ?? 0), 0);

test('QueryData: alert-style builder and SQL queries with macros and a variable match the workload and the store', async () => {
  const http = workload.servers.find((s) => s.protocol === 'http')!;
  const redis = workload.servers.find((s) => s.protocol === 'redis')!;
  const http5xx = sum(Object.values(http.by_address).flatMap((a) => Object.entries(a.responses_by_status).filter(([s]) => s.startsWith('5')).map(([, n]) => n)));
  const builder = {
    refId: 'A',
    version: 2,
    mode: 'builder',
    dataType: 'application',
    interval: '1m',
    metrics: [{ metric: 'request', aggregation: 'sum' }, { metric: 'server_error', aggregation: 'sum' }],
    groupBy: ['server_port'],
    filters: [{ tag: 'server_port', op: '=', values: ['$port'] }],
    tapSide: [],
    orderBy: [],
    format: 'time_series',
    legend: '${metric} on :${server_port}',
    variables: { port: [String(http.port)] },
  };
  const sql = {
    refId: 'B',
    version: 2,
    mode: 'sql',
    sqlFormat: 'time_series',
    sql: 'SELECT $__timeInterval(time) AS time, sum(request) AS requests FROM flow_metrics.application_1m WHERE $__timeFilter(time) AND server_port = ${port} GROUP BY time ORDER BY time',
    variables: { port: String(redis.port) },
  };
  const response = await call<{ responses: Record<string, { frames: Buffer[]; error: string; status: number }> }>(clients.data, 'QueryData', {
    pluginContext: pluginContext(),
    headers: {},
    queries: [dataQuery('A', builder), dataQuery('B', sql)],
  });

  const a = response.responses.A;
  assert.equal(a.error, '', a.error);
  const framesA = a.frames.map(decode);
  assert.equal(framesA.length, 1);
  const [frame] = framesA;
  assert.equal(frame.refId, 'A');
  assert.deepEqual(frame.fields.map((f) => f.type), ['Timestamp<NANOSECOND>', 'Float64', 'Float64']);
  const requests = frame.fields.find((f) => f.name === 'request')!;
  const errors = frame.fields.find((f) => f.name === 'server_error')!;
  assert.deepEqual(requests.labels, { server_port: String(http.port) });
  assert.equal(requests.config?.displayNameFromDS, `request on :${http.port}`);
  assert.equal(sum(requests.values), http.requests);
  assert.equal(sum(errors.values), http5xx);
  // Times: nanoseconds since the epoch, minute-aligned, inside the range.
  for (const t of frame.fields[0].values as bigint[]) {
    assert.equal(t % 60_000_000_000n, 0n);
    assert.ok(t >= BigInt(newest - 3_600_000) * 1_000_000n && t <= BigInt(newest + 60_000) * 1_000_000n);
  }

  // The same numbers read from the store directly, through the agent's SQL API.
  const direct = (await api('/sql', {
    sql: `SELECT server_port, sum(request) AS r, sum(server_error) AS e FROM flow_metrics.application_1m WHERE $__timeFilter(time) GROUP BY server_port ORDER BY server_port`,
    from: newest - 3_600_000,
    to: newest + 60_000,
    intervalSeconds: 60,
    format: 'table',
  })) as { frames: Array<{ fields: Array<{ name: string; values: number[] }> }> };
  const col = (name: string) => direct.frames[0].fields.find((f) => f.name === name)!.values;
  const row = col('server_port').indexOf(http.port);
  assert.equal(sum(requests.values), col('r')[row]);
  assert.equal(sum(errors.values), col('e')[row]);

  const b = response.responses.B;
  assert.equal(b.error, '', b.error);
  const framesB = b.frames.map(decode);
  const total = sum(framesB.flatMap((f) => f.fields.filter((x) => x.type === 'Float64').flatMap((x) => x.values)));
  assert.equal(total, redis.requests);
  assert.equal(total, col('r')[col('server_port').indexOf(redis.port)]);
});

test('QueryData: a variable with no value, a bad query and a wrong API each fail alone, with a message', async () => {
  const good = { refId: 'OK', version: 2, mode: 'builder', dataType: 'application', interval: '1m', metrics: [{ metric: 'request', aggregation: 'sum' }], groupBy: [], filters: [], tapSide: [], orderBy: [], format: 'time_series' };
  const unresolved = { ...good, refId: 'V', filters: [{ tag: 'service', op: '=', values: ['$service'] }] };
  const response = await call<{ responses: Record<string, { frames: Buffer[]; error: string; status: number; errorSource: string }> }>(clients.data, 'QueryData', {
    pluginContext: pluginContext(),
    headers: {},
    queries: [
      dataQuery('OK', good),
      dataQuery('V', unresolved),
      { ...dataQuery('J', {}), json: Buffer.from('{"mode": "builder",') },
      dataQuery('U', { ...good, dataType: 'no_such_table' }),
    ],
  });
  assert.equal(response.responses.OK.error, '');
  assert.equal(sum(decode(response.responses.OK.frames[0]).fields[1].values), sum(workload.servers.map((s) => s.requests)));
  assert.match(response.responses.V.error, /\$service/);
  assert.equal(response.responses.V.status, 400);
  assert.match(response.responses.J.error, /not JSON/);
  assert.equal(response.responses.U.status, 400);
  assert.match(response.responses.U.error, /no_such_table/);

  const unreachable = await call<{ responses: Record<string, { error: string; status: number }> }>(clients.data, 'QueryData', {
    pluginContext: pluginContext({ apiUrl: 'http://127.0.0.1:1' }),
    headers: {},
    queries: [dataQuery('OK', good)],
  });
  assert.match(unreachable.responses.OK.error, /unreachable/);
  assert.equal(plugin?.exitCode, null, 'the backend is still running');
});

test('CallResource serves the discovery routes read-only; CollectMetrics counts the queries', async () => {
  const chunks: Array<{ code: number; body: Buffer }> = [];
  await new Promise<void>((resolve, reject) => {
    const stream = (clients.resource.CallResource as (r: unknown) => grpc.ClientReadableStream<{ code: number; body: Buffer }>).call(clients.resource, {
      pluginContext: pluginContext(),
      path: 'tables/application/tags',
      method: 'GET',
      url: 'tables/application/tags',
      headers: {},
      body: Buffer.alloc(0),
    });
    stream.on('data', (d) => chunks.push(d));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  assert.equal(chunks[0].code, 200);
  const tags = JSON.parse(chunks[0].body.toString()) as Array<{ name: string }>;
  assert.deepEqual(tags.map((t) => t.name), ((await api('/tables/application/tags')) as unknown as Array<{ name: string }>).map((t) => t.name));

  const metrics = await call<{ metrics: { prometheus: Buffer } }>(clients.diagnostics, 'CollectMetrics', { pluginContext: pluginContext() });
  const text = metrics.metrics.prometheus.toString();
  const ok = /metaflow_backend_queries_total\{mode="builder",outcome="ok"\} (\d+)/.exec(text);
  assert.ok(ok && Number(ok[1]) >= 2, text.slice(0, 500));
});

test('malformed gRPC messages get an error status, and the backend keeps serving', async () => {
  const raw = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  for (const [method, bytes] of [
    ['/pluginv2.Data/QueryData', Buffer.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 0x01])],
    ['/pluginv2.Diagnostics/CheckHealth', Buffer.from('not protobuf at all')],
  ] as const) {
    const error = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest(method, identity, identity, bytes, (e) => resolve(e)));
    assert.ok(error, `${method} accepted garbage`);
    assert.notEqual(error.code, grpc.status.OK);
  }
  raw.close();
  const ok = await call<{ status: number }>(clients.diagnostics, 'CheckHealth', { pluginContext: pluginContext(), headers: {} });
  assert.equal(ok.status, 1);
});

test('Shutdown from the host ends the process cleanly and removes its socket', async () => {
  const exited = new Promise<number | null>((resolve) => plugin?.once('exit', (code) => resolve(code)));
  await call(clients.controller, 'Shutdown', {});
  assert.equal(await exited, 0);
  assert.ok(!existsSync(socketPath));
});
