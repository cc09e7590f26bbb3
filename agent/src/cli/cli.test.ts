/**
 * The CLI as a user runs it: replay of the project's own demo capture (known workload from real
 * nginx/redis/curl on loopback), standard input, damaged input, filters, help and argument errors.
 */
import assert from 'node:assert/strict';
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Summary } from '../summary/summary';

const root = resolve(__dirname, '../../..');
const main = join(root, 'agent/dist/cli/main.js');
const demo = join(root, 'fixtures/captures/demo-loopback.pcap');
const workload = JSON.parse(readFileSync(join(root, 'fixtures/captures/demo-loopback.workload.json'), 'utf8')) as {
  capture: { packets: number };
  servers: { protocol: string; port: number; tcp_connections: number; requests: number; responses: number; responses_by_status: Record<string, number> }[];
  refused: { port: number; connection_attempts: number }[];
  totals: { tcp_connections: number; refused_connection_attempts: number };
};
const scratch = mkdtempSync(join(tmpdir(), 'metaflow-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], input?: Buffer): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', input, timeout: 120_000 });
}

function json(r: SpawnSyncReturns<string>): Summary {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Summary;
}

test('replay of the demo capture matches the recorded workload', () => {
  const store = join(scratch, 'demo');
  const s = json(run(['replay', demo, '--store', store, '--json']));
  const t = workload.totals;
  assert.equal(s.packets, workload.capture.packets);
  assert.equal(s.flows.tcp, t.tcp_connections + t.refused_connection_attempts);
  assert.equal(s.tcp.syn, t.tcp_connections + t.refused_connection_attempts);
  assert.equal(s.tcp.synack, t.tcp_connections);
  assert.equal(s.tcp.rst, t.refused_connection_attempts);
  assert.deepEqual(s.tcp.close_types, { fin: t.tcp_connections, server_direct_rst: t.refused_connection_attempts });
  assert.deepEqual(s.tcp.handshake_failures, { server_direct_rst: t.refused_connection_attempts });
  assert.equal(s.tcp.rtt_us.count, t.tcp_connections);
  assert.deepEqual(s.malformed, {});

  // Requests and statuses per protocol, as the recording script counted them from curl and redis-cli.
  const http = workload.servers.find((x) => x.protocol === 'http');
  const redis = workload.servers.find((x) => x.protocol === 'redis');
  assert.ok(http && redis);
  assert.equal(s.l7.http1.request, http.requests);
  assert.equal(s.l7.http1.response, http.responses);
  assert.deepEqual(s.l7.http1.codes, http.responses_by_status);
  const httpStatus = (range: string): number =>
    Object.entries(http.responses_by_status).reduce((n, [code, count]) => n + (code.startsWith(range) ? count : 0), 0);
  assert.equal(s.l7.http1.client_error, httpStatus('4'));
  assert.equal(s.l7.http1.server_error, httpStatus('5'));
  assert.equal(s.l7.redis.request, redis.requests);
  assert.equal(s.l7.redis.response, redis.responses);
  assert.equal(s.l7.redis.server_error, redis.responses_by_status.error);
  assert.equal(s.l7.redis.response - s.l7.redis.error, redis.responses_by_status.ok);
  assert.ok((s.l7.http1.rrt_us.min ?? 0) > 0 && (s.l7.http1.rrt_us.max ?? 0) < 1_000_000);

  // The same store, filtered: per server port, and per observation point (loopback is `local`).
  for (const server of workload.servers) {
    const byPort = json(run(['summary', '--store', store, '--server-port', String(server.port), '--json']));
    assert.equal(byPort.flows.tcp, server.tcp_connections, `port ${server.port}`);
    assert.deepEqual(byPort.tcp.close_types, { fin: server.tcp_connections });
  }
  assert.equal(json(run(['summary', '--store', store, '--tap-side', 'local', '--json'])).flows.tcp, s.flows.tcp);
  assert.equal(json(run(['summary', '--store', store, '--observation-point', 'c', '--json'])).flows.tcp, 0);
  const text = run(['summary', '--store', store]);
  assert.match(text.stdout, /close types +fin 27, server_direct_rst 3/);
});

test('--no-l7 analyses L4 only; privacy options reach the request log', () => {
  const l4 = json(run(['replay', demo, '--store', join(scratch, 'l4only'), '--no-l7', '--json']));
  assert.deepEqual(l4.l7, {});
  assert.equal(l4.flows.tcp, workload.totals.tcp_connections + workload.totals.refused_connection_attempts);
  const store = join(scratch, 'headers');
  json(run(['replay', demo, '--store', store, '--http-header', 'Host,Accept', '--keep-redis-values', '--json']));
  const sql = "SELECT count() AS n FROM flow_log.l7_flow_log WHERE l7_protocol = 'http1' AND mapContains(attributes, 'accept') AND NOT mapContains(attributes, 'user-agent')";
  const r = spawnSync(process.execPath, ['-e', `
    const { ChdbStore } = require(${JSON.stringify(join(root, 'agent/dist/store/chdb-store.js'))});
    (async () => { const s = new ChdbStore(${JSON.stringify(store)}); console.log(JSON.stringify(await s.query(${JSON.stringify(sql)}))); await s.close(); })();
  `], { encoding: 'utf8' });
  const http = workload.servers.find((x) => x.protocol === 'http');
  assert.deepEqual(JSON.parse(r.stdout), [{ n: http?.requests }]);
});

test('replay reads a capture from standard input', () => {
  const s = json(run(['replay', '-', '--store', join(scratch, 'stdin'), '--json'], readFileSync(demo)));
  assert.equal(s.packets, workload.capture.packets);
  assert.equal(s.flows.tcp, workload.totals.tcp_connections + workload.totals.refused_connection_attempts);
});

test('a file that is not a capture ends with exit code 2 and a clear message', () => {
  const notCapture = join(scratch, 'notes.txt');
  writeFileSync(notCapture, '<!DOCTYPE html><html></html>\n');
  const r = run(['replay', notCapture, '--store', join(scratch, 'bad')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not a pcap or pcapng capture/);
});

test('a capture cut mid-record stores what came before and exits with 2', () => {
  const bytes = readFileSync(demo);
  const cut = join(scratch, 'cut.pcap');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const store = join(scratch, 'cut');
  const r = run(['replay', cut, '--store', store, '--json']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cut mid-record/);
  const stored = JSON.parse(r.stdout) as Summary;
  // Count the whole records in the first half independently of the reader: walk the headers.
  let whole = 0;
  const half = Math.floor(bytes.length / 2);
  for (let at = 24; at + 16 <= half; ) {
    const len = bytes.readUInt32LE(at + 8);
    if (at + 16 + len > half) break;
    whole++;
    at += 16 + len;
  }
  assert.equal(stored.packets, whole);
  assert.ok(stored.flows.tcp > 0);
});

test('--help on every command, and errors that name the bad argument', () => {
  for (const args of [['--help'], ['replay', '--help'], ['summary', '--help']]) {
    const r = run(args);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: metaflow/);
  }
  const port = run(['summary', '--store', join(scratch, 'x'), '--server-port', 'http']);
  assert.notEqual(port.status, 0);
  assert.match(port.stderr, /--server-port/);
  const tap = run(['summary', '--store', join(scratch, 'x'), '--tap-side', 'nowhere']);
  assert.equal(tap.status, 2);
  assert.match(tap.stderr, /--tap-side: unknown observation point "nowhere"/);
  const missing = run(['replay', join(scratch, 'missing.pcap')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /missing\.pcap" does not exist/);
  const unknown = run(['replay', demo, '--frobnicate']);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /unknown option '--frobnicate'/);
});
