/**
 * Live capture end to end, as root on loopback: real servers (nginx with HTTP and HTTPS,
 * redis-server) and real clients (curl, redis-cli) run a known workload while the agent
 * captures with eBPF and AF_PACKET; the store must then hold exactly that workload per protocol
 * and status at `s-p` and `c-p` with the right process names, and at `local` from packets.
 * HTTPS must appear in plaintext from the OpenSSL uprobes. Skipped (with the reason) where the
 * machine cannot run it.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChdbStore } from '../store/chdb-store';
import { bpfObjectsLeft, bpfObjectsOfAll, curlNginx, has, liveSkipReason, startNginx, waitForPort } from '../testing/live-servers';
import { LiveAgent } from './live-agent';

const HTTP_PORT = 18281;
const HTTPS_PORT = 18643;
const REDIS_PORT = 16481;



const skip = liveSkipReason(['nginx', 'curl', 'redis-server', 'redis-cli', 'openssl']);


test('live capture of nginx (HTTP, HTTPS) and redis with curl and redis-cli', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-live-'));
  const children: ChildProcess[] = [];
  const store = new ChdbStore(join(dir, 'store'));
  try {
    children.push(startNginx(dir, { http: HTTP_PORT, https: HTTPS_PORT }));
    children.push(spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
    await waitForPort(HTTP_PORT);
    await waitForPort(HTTPS_PORT);
    await waitForPort(REDIS_PORT);

    const logs: string[] = [];
    const agent = new LiveAgent({ store, host: 'live-test', interfaces: ['lo'], filter: `tcp port ${HTTP_PORT} or tcp port ${HTTPS_PORT} or tcp port ${REDIS_PORT}`, onLog: (l) => logs.push(l) });
    await agent.start();
    // What the loader holds in the kernel while it runs: all of it must be gone after the stop.
    const held = has('bpftool') ? bpfObjectsOfAll(agent.loaderPids) : undefined;
    const curl = (path: string, tls = false): void => curlNginx({ http: HTTP_PORT, https: HTTPS_PORT }, path, tls);
    for (let i = 0; i < 4; i++) curl('/');
    for (let i = 0; i < 2; i++) curl('/missing');
    curl('/error');
    for (let i = 0; i < 3; i++) curl('/', true);
    curl('/missing', true);
    const redis = (...args: string[]): void => void spawnSync('redis-cli', ['-p', String(REDIS_PORT), ...args]);
    redis('PING');
    redis('SET', 'k', 'v');
    redis('GET', 'k');
    redis('INCR', 'k'); // ERR value is not an integer
    redis('NOSUCHCMD'); // ERR unknown command
    await new Promise((r) => setTimeout(r, 1500));
    const summary = await agent.stop();
    assert.equal(summary.kernelDrops, 0, `no record lost in the kernel: ${JSON.stringify(summary.loaderStats, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);

    type Row = { tap_side: string; l7_protocol: string; server_port: number; process: string; tls: string; code: number; n: string };
    const rows = await store.query<Row>(
      `SELECT tap_side, l7_protocol, port_1 AS server_port, if(tap_side = 'c-p', process_0, process_1) AS process, attributes['tls'] AS tls,
              response_code AS code, count() AS n
       FROM flow_log.l7_flow_log WHERE host = 'live-test' AND attributes['counts_as_request'] = '1' GROUP BY ALL`,
    );
    const count = (where: (r: Row) => boolean): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of rows.filter(where)) out[`${r.code}`] = (out[`${r.code}`] ?? 0) + Number(r.n);
      return out;
    };
    const http = { '200': 4, '404': 2, '500': 1 };
    // HTTP/1 on the plain port: nginx at s-p, curl at c-p, and the packets on lo at local.
    assert.deepEqual(count((r) => r.tap_side === 's-p' && r.server_port === HTTP_PORT && r.process === 'nginx' && r.l7_protocol === 'http1'), http);
    assert.deepEqual(count((r) => r.tap_side === 'c-p' && r.server_port === HTTP_PORT && r.process === 'curl' && r.l7_protocol === 'http1'), http);
    // Packets of a local server carry its listening process too.
    assert.deepEqual(count((r) => r.tap_side === 'local' && r.server_port === HTTP_PORT && r.process === 'nginx' && r.l7_protocol === 'http1'), http);
    if (process.env.METAFLOW_LIVE_DEBUG) console.log(JSON.stringify(rows), logs);
    // HTTPS in plaintext from the server's OpenSSL (uprobes), marked TLS; on the wire, TLS handshakes.
    assert.deepEqual(count((r) => r.tap_side === 's-p' && r.server_port === HTTPS_PORT && r.process === 'nginx' && r.l7_protocol === 'http1' && r.tls === 'true'), { '200': 3, '404': 1 });
    const handshakes = rows.filter((r) => r.tap_side === 'local' && r.server_port === HTTPS_PORT && r.l7_protocol === 'tls').reduce((n, r) => n + Number(r.n), 0);
    assert.equal(handshakes, 4, 'one TLS handshake per HTTPS connection on the wire');
    // Redis: five commands, two error replies (codes are 0: Redis errors carry a prefix, not a number).
    const redisRows = (side: string, processName: string) => rows.filter((r) => r.tap_side === side && r.server_port === REDIS_PORT && r.l7_protocol === 'redis' && (processName === '' || r.process === processName));
    for (const [side, name] of [
      ['s-p', 'redis-server'],
      ['c-p', 'redis-cli'],
      ['local', ''],
    ]) {
      assert.equal(redisRows(side, name).reduce((n, r) => n + Number(r.n), 0), 5, `redis requests at ${side}`);
    }
    const errors = await store.query<{ tap_side: string; n: string }>(
      `SELECT tap_side, count() AS n FROM flow_log.l7_flow_log WHERE host = 'live-test' AND l7_protocol = 'redis' AND response_status = 'server_error' GROUP BY tap_side ORDER BY tap_side`,
    );
    assert.deepEqual(
      errors.map((e) => [e.tap_side, Number(e.n)]),
      [
        ['c-p', 2],
        ['local', 2],
        ['s-p', 2],
      ],
    );
    // Nothing of ours is left in the kernel: every program, link and map the loader held while it
    // ran is gone (by kernel id; another agent on the host may hold its own).
    if (held) {
      assert.ok(held.progs.length > 0 && held.links.length > 0 && held.maps.length > 0, `the running loader held programs, links and maps: ${JSON.stringify(held)}`);
      assert.deepEqual(bpfObjectsLeft(held), { progs: [], links: [], maps: [] }, 'nothing of the agent left in the kernel after it stopped');
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
