/**
 * Acceptance (issue 7): Debian's Prometheus scrapes `metaflow serve` over a store filled by
 * replaying corpus captures with known HTTP errors, evaluates an error-ratio rule, and the alert
 * fires for exactly the services whose ratio tshark's oracle puts above the threshold, with the
 * oracle's ratio as its value. Everything runs as separate processes on loopback, as deployed:
 * `metaflow replay` and `metaflow serve` from the CLI, Prometheus from its package, sending the
 * API token the way its scrape config does.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { CORPUS_MISSING, corpusDir } from '../testing/corpus';
import { freePort, has, waitForPort } from '../testing/live-servers';
import { httpOracle, httpServer, statusClasses } from './red-oracle';

const METAFLOW = resolve(__dirname, '../../bin/metaflow.js');
const corpus = corpusDir();
const THRESHOLD = 0.05;
/** Ratios 44/49, 2/6, 1/2 and 3/3 (one seen at tap side `local`), and 0/5, which must not fire. */
const CAPTURES = [
  'http1/zeek_http-methods.pcap',
  'http1/sv_http-request-invalid.pcap',
  'http1/sv_tcp-stream-after-swap.pcap',
  'http1/sv_datasets-10-unset.pcap',
  'http1/zeek_http-pipelined-requests.pcap',
];

const skip = !has('prometheus') ? 'prometheus is not installed (apt-get install prometheus; scripts/setup.sh installs it)' : corpus ? false : CORPUS_MISSING;

/** Every process this file starts, stopped after the test or if the test process exits first. */
const children = new Set<ChildProcess>();
const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
process.on('exit', () => children.forEach((c) => running(c) && c.kill('SIGKILL')));
after(stopAll);

/** SIGTERM, and SIGKILL for what still runs after 10 s. */
async function stopAll(): Promise<void> {
  for (const c of children) if (running(c)) c.kill('SIGTERM');
  const deadline = Date.now() + 10_000;
  while ([...children].some(running) && Date.now() < deadline) await sleep(50);
  for (const c of children) if (running(c)) c.kill('SIGKILL');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function start(command: string, args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  return { child, log: () => log };
}

function replayInto(store: string, capture: string): void {
  const r = spawnSync(process.execPath, [METAFLOW, 'replay', capture, '--store', store, '--local-ip', '127.0.0.1', '--no-progress'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `replay ${capture}: ${r.stderr}`);
}

/** Error ratio per service over what the store holds, as SPEC §3 defines it (timeouts are not errors there). */
const RULES = `groups:
  - name: metaflow-red
    interval: 1s
    rules:
      - alert: MetaflowHighErrorRatio
        # Totals, not rate(): a replayed capture is history and its counters do not move while
        # Prometheus watches. On live traffic, take rate(...[5m]) of both sides.
        expr: |
          sum by (service_name, tap_side) (metaflow_server_errors_total{error_type=~"client_error|server_error"})
            / sum by (service_name, tap_side) (metaflow_server_responses_total)
            > ${THRESHOLD}
        for: 2s
`;

function prometheusConfig(target: string, tokenFile: string, rulesFile: string): string {
  return `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [${JSON.stringify(rulesFile)}]
scrape_configs:
  - job_name: metaflow
    authorization:
      credentials_file: ${JSON.stringify(tokenFile)}
    static_configs:
      - targets: [${JSON.stringify(target)}]
`;
}

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T };
  assert.equal(body.status, 'success', url);
  return body.data;
}

async function firingAlerts(prometheus: string, count: number, timeoutMs: number, log: () => string): Promise<Alert[]> {
  const deadline = Date.now() + timeoutMs;
  let alerts: Alert[] = [];
  while (Date.now() < deadline) {
    alerts = (await getJson<{ alerts: Alert[] }>(`${prometheus}/api/v1/alerts`).catch(() => ({ alerts: [] }))).alerts;
    if (alerts.filter((a) => a.state === 'firing').length >= count) return alerts;
    await sleep(500);
  }
  const targets = await getJson<unknown>(`${prometheus}/api/v1/targets`).catch((e: Error) => e.message);
  throw new Error(`${count} alerts did not fire in time: ${JSON.stringify(alerts)}; targets ${JSON.stringify(targets)}; prometheus: ${log()}`);
}

test('Prometheus scrapes metaflow serve and the error-ratio alert fires with tshark’s ratios', { skip, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-prometheus-'));
  try {
    const store = join(dir, 'store');
    for (const c of CAPTURES) replayInto(store, join(corpus as string, c));

    // Independent expectation: tshark's final responses and 4xx/5xx per server.
    const expected = new Map<string, number>();
    for (const c of CAPTURES) {
      const o = httpOracle(corpus as string, c);
      const s = statusClasses(o);
      expected.set(httpServer(o), (s.client_error + s.server_error) / s.responses);
    }
    const shouldFire = [...expected].filter(([, ratio]) => ratio > THRESHOLD);
    assert.ok(shouldFire.length >= 3 && shouldFire.length < expected.size, 'some services fire, at least one does not');

    const token = 'prometheus-test-token';
    const apiPort = await freePort();
    const serve = start(process.execPath, [METAFLOW, 'serve', '--store', store, '--port', String(apiPort), '--token', token]);
    await waitForPort(apiPort, serve.child, serve.log);

    const promPort = await freePort();
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'rules.yml'), RULES);
    writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(`127.0.0.1:${apiPort}`, join(dir, 'token'), join(dir, 'rules.yml')));
    const prometheus = start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ]);
    await waitForPort(promPort, prometheus.child, prometheus.log);

    const alerts = await firingAlerts(`http://127.0.0.1:${promPort}`, shouldFire.length, 120_000, prometheus.log);
    const fired = alerts.filter((a) => a.state === 'firing');
    assert.deepEqual(fired.map((a) => a.labels.service_name).sort(), shouldFire.map(([service]) => service).sort(), 'the services above the threshold, and only those');
    for (const a of fired) {
      assert.equal(a.labels.alertname, 'MetaflowHighErrorRatio');
      assert.ok(['rest', 'local'].includes(a.labels.tap_side), `tap side ${a.labels.tap_side}`);
      assert.equal(Number(a.value), expected.get(a.labels.service_name), `${a.labels.service_name}: Prometheus ${a.value}`);
      t.diagnostic(`${a.labels.service_name} (${a.labels.tap_side}): fired with ${a.value}, tshark ${expected.get(a.labels.service_name)}`);
    }
    // Prometheus's own linter on the text format (names, units, counter suffixes, HELP); Debian
    // ships it in the same package.
    const page = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: await page.text(), encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}${lint.error?.message ?? ''}`);
    // The scrape went through the token; nothing pends for a service below the threshold.
    const up = await getJson<{ result: { value: [number, string] }[] }>(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('up{job="metaflow"}')}`);
    assert.equal(up.result[0]?.value[1], '1');
    assert.equal(alerts.length, fired.length);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
