/**
 * A live MetaFlow agent for browser tests: the demo capture replayed into a fresh chDB store, then
 * `metaflow serve` on a free loopback port with a random token (as the datasource test runs it),
 * with `--preview` the service-map preview too. Every process started here is stopped by `stop()`,
 * and killed if the test process exits.
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
 * once the health route answers, and with `previewUrl` (the URL the command printed) when asked
 * for the preview.
 */
export async function startDemoAgent({ preview = false } = {}) {
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
    const args = [METAFLOW, 'serve', '--store', store, '--host', '127.0.0.1', '--port', String(port), '--token', token, ...(preview ? ['--preview'] : [])];
    child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    let log = '';
    let output = '';
    child.stderr.on('data', (d) => (log += d));
    child.stdout.on('data', (d) => (output += d));
    const printedPreviewUrl = () => /^Service map preview: (\S+)$/m.exec(output)?.[1];
    const url = `http://127.0.0.1:${port}`;
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`metaflow serve exited with ${child.exitCode}:\n${log}`);
      try {
        if ((await fetch(`${url}/api/v1/health`, { headers })).ok && (!preview || printedPreviewUrl())) break;
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
    return { url, token, post, stop, previewUrl: preview ? printedPreviewUrl() : undefined };
  } catch (e) {
    await stop();
    throw e;
  }
}
