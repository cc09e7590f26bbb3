/**
 * A live MetaFlow agent for browser tests: the demo capture replayed into a fresh chDB store, then
 * `metaflow serve` on a free loopback port with a random token (as the datasource test runs it).
 * Every process started here is stopped by `stop()`, and killed if the test process exits.
 */
/* global process, setTimeout, fetch -- node */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { children, freePort, run, stopChild } from '../processes.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const METAFLOW = path.join(ROOT, 'agent', 'bin', 'metaflow.js');
export const CAPTURE = path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.pcap');





/**
 * Replays the demo capture and serves it. Resolves with { url, token, post(path, body), stop() }
 * once the health route answers.
 */
export async function startDemoAgent() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'metaflow-panel-'));
  const store = path.join(tmp, 'store');
  const token = randomBytes(18).toString('base64url');
  let child;
  const stop = async () => {
    if (child) await stopChild(child);
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await run([METAFLOW, 'replay', CAPTURE, '--store', store, '--local-ip', '127.0.0.1,::1', '--no-progress'], { timeoutMs: 60_000 });
    const port = await freePort();
    child = spawn(process.execPath, [METAFLOW, 'serve', '--store', store, '--host', '127.0.0.1', '--port', String(port), '--token', token], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    const url = `http://127.0.0.1:${port}`;
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`metaflow serve exited with ${child.exitCode}:\n${log}`);
      try {
        if ((await fetch(`${url}/api/v1/health`, { headers })).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`metaflow serve did not answer within 30 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const post = async (route, body) => {
      const res = await fetch(`${url}${route}`, { method: 'POST', headers, body: JSON.stringify(body) });
      const json = await res.json();
      if (!res.ok) throw new Error(`POST ${route}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    return { url, token, post, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
