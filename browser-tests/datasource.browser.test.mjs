/**
 * Acceptance test of the MetaFlow datasource plugin in a real browser (Debian's Chromium driven by
 * playwright-core): the BUILT dist/datasource/module.js, loaded as Grafana loads plugins, talking
 * through a Grafana-like data source proxy to a live `metaflow serve` over a store replayed from
 * the demo capture, checked against the capture's known workload.
 *
 *   npm run build && node browser-tests/datasource.browser.test.mjs
 *
 * Needs: chromium at /usr/bin/chromium (or $CHROMIUM_PATH), the devDependency playwright-core.
 */
/* global process, setTimeout, fetch, console, URL, window, getComputedStyle -- node, and page functions that run in the browser */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CHROMIUM_REQUIREMENT, launchChromium, openPage, runCleanups, summary, timer } from './harness/browser.mjs';
import { buildHarness, HARNESS_BUILD_DIR, HARNESS_DIR } from './harness/build.mjs';
import { children, freePort, requireFiles, run, stopChild } from './harness/processes.mjs';
import { startHarnessServer } from './harness/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const PLUGIN_DIR = path.join(ROOT, 'dist', 'datasource');
const METAFLOW = path.join(ROOT, 'agent', 'bin', 'metaflow.js');
const CAPTURE = path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.pcap');
const WORKLOAD = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.workload.json'), 'utf8'));

const DS_UID = 'metaflow';
const WRONG_TOKEN_UID = 'metaflow-wrong-token';

// The capture's time range, from the workload's phases, widened to whole minutes.
const phaseStarts = WORKLOAD.phases.map((p) => p.start);
const phaseEnds = WORKLOAD.phases.map((p) => p.end);
const FROM = (Math.floor(Math.min(...phaseStarts) / 60) - 1) * 60_000;
const TO = (Math.ceil(Math.max(...phaseEnds) / 60) + 1) * 60_000;

/** Requests per service as the API names services (`addr:port`, `[v6]:port`), from the workload. */
const EXPECTED_REQUESTS_BY_SERVICE = Object.fromEntries(
  WORKLOAD.servers.flatMap((s) => Object.entries(s.by_address).map(([addr, v]) => [`${addr.includes(':') ? `[${addr}]` : addr}:${s.port}`, v.requests])),
);
const L7_PROTOCOL = { http: 'http1', redis: 'redis' };
const EXPECTED_REQUESTS_BY_PROTOCOL = Object.fromEntries(WORKLOAD.servers.map((s) => [L7_PROTOCOL[s.protocol], s.requests]));

const BUILDER_QUERY = {
  mode: 'builder',
  dataType: 'application',
  interval: 'auto',
  metrics: [{ metric: 'request', aggregation: 'sum' }],
  groupBy: ['service'],
  filters: [],
  tapSide: ['local'],
  orderBy: [],
  format: 'table',
  version: 2,
};

const SQL_QUERY =
  "SELECT l7_protocol, count() AS n FROM flow_log.l7_flow_log WHERE $__timeFilter(time) AND tap_side = 'local' GROUP BY l7_protocol ORDER BY l7_protocol";

// ------------------------------------------------------------------ processes and cleanup

const cleanups = [];
const timings = {};
const results = [];
const timed = timer(timings);
let tmpDir;

/** `metaflow serve` on a free loopback port; resolves once its health route answers. */
async function startAgent(store, token) {
  const port = await freePort();
  const child = spawn(process.execPath, [METAFLOW, 'serve', '--store', store, '--host', '127.0.0.1', '--port', String(port), '--token', token], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  child.on('exit', () => children.delete(child));
  cleanups.push(() => stopChild(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`metaflow serve exited with ${child.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/api/v1/health`, { headers: { Authorization: `Bearer ${token}` } });
      if (res.ok) return { url, port, health: await res.json(), log: () => log };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`metaflow serve did not answer within 30 s:\n${log}`);
}

async function cleanup() {
  await runCleanups(cleanups);
  for (const child of children) child.kill('SIGKILL');
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
}

// Whatever happens, no process of ours outlives the test.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ the browser side

let page;
let agent;
let harnessServer;
let token;
let consoleErrors;
const browserRequests = [];

const harness = (fn, arg) => page.evaluate(fn, arg);
const runQuery = (query, options = {}) => harness(([q, o]) => window.harness.runQuery(q, o), [query, { from: FROM, to: TO, ...options }]);
const editorQuery = () => harness(() => window.harness.query);

/** Values of a table frame as { firstField value: secondField value }. */
function tableOf(frame) {
  const [keys, values] = frame.fields;
  return Object.fromEntries(keys.values.map((k, i) => [k, values.values[i]]));
}

async function waitForQuery(predicate, what) {
  const deadline = Date.now() + 10_000;
  let q;
  while (Date.now() < deadline) {
    q = await editorQuery();
    if (predicate(q)) return q;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`the editor's query never ${what}: ${JSON.stringify(q)}`);
}

/** Picks an option in a @grafana/ui Select by typing into it, as a user does. */
async function pick(label, text) {
  const input = page.getByLabel(label, { exact: true });
  await input.click();
  await input.fill(text);
  await page.locator('[data-testid="data-testid Select option"]', { hasText: text }).first().waitFor();
  await input.press('Enter');
}

before(
  async () => {
    requireFiles([
      ['the built plugin (npm run build)', path.join(PLUGIN_DIR, 'module.js')],
      ['the built agent (npm run build)', path.join(ROOT, 'agent', 'dist', 'cli', 'main.js')],
      CHROMIUM_REQUIREMENT,
    ]);
    tmpDir = mkdtempSync(path.join(os.tmpdir(), 'metaflow-browser-'));
    const store = path.join(tmpDir, 'store');
    token = randomBytes(18).toString('base64url');

    // The harness bundle (cached between runs) and the store, side by side.
    const [bundle] = await Promise.all([
      timed('harness bundle', () => buildHarness()),
      timed('replay', () => run([METAFLOW, 'replay', CAPTURE, '--store', store, '--local-ip', '127.0.0.1,::1', '--no-progress'], { timeoutMs: 60_000 })),
    ]);
    timings['harness bundle'] = bundle.ms;
    results.push(`harness bundle ${bundle.built ? 'built' : 'up to date'}`);

    agent = await timed('agent start', () => startAgent(store, token));

    harnessServer = await startHarnessServer({
      pluginDir: PLUGIN_DIR,
      bundleDir: HARNESS_BUILD_DIR,
      pageFile: path.join(HARNESS_DIR, 'index.html'),
      datasources: [
        { uid: DS_UID, name: 'MetaFlow', jsonData: { apiUrl: agent.url, defaultTapSide: [] }, secureJsonData: { apiToken: token } },
        { uid: WRONG_TOKEN_UID, name: 'MetaFlow (wrong token)', jsonData: { apiUrl: agent.url }, secureJsonData: { apiToken: `${token}-wrong` } },
      ],
    });
    cleanups.push(() => harnessServer.close());

    const browser = await timed('browser start', () => launchChromium({ profileDir: path.join(tmpDir, 'chromium-profile'), viewport: { width: 1280, height: 760 } }));
    cleanups.push(() => browser.context.close());
    ({ page, consoleErrors } = browser);
    page.on('request', (r) => browserRequests.push({ url: r.url(), headers: r.headers() }));

    const bootError = await timed('page load', () => openPage(page, `${harnessServer.url}?from=${FROM}&to=${TO}`));
    assert.equal(bootError, undefined, `the harness could not load the plugin: ${bootError}`);
  },
  { timeout: 120_000 },
);

after(async () => {
  await cleanup();
  console.log(summary('browser acceptance', results, timings));
});

// ------------------------------------------------------------------ checks

test('(a) the plugin loads as an AMD module and its query editor renders the builder', { timeout: 60_000 }, async () => {
  const exports = await harness(() => window.harness.pluginExports);
  assert.deepEqual(exports, ['plugin']);
  const editor = page.getByTestId('metaflow-query-editor');
  await editor.waitFor();
  const builder = page.getByTestId('metaflow-builder');
  await builder.waitFor();

  // Data type select, metrics row (from the API's catalog), group by, filters, tap side.
  await builder.getByText('Application (RED)', { exact: true }).waitFor();
  await page.locator('#metaflow-metric-0').waitFor();
  await builder.getByText('Metrics', { exact: true }).waitFor();
  await builder.getByText('Group by', { exact: true }).waitFor();
  await builder.getByText('service', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'add filter' }).waitFor();
  await builder.getByText('Tap side', { exact: true }).waitFor();
  // The catalog (metrics, tags) came from the API through the proxy route.
  await page.waitForFunction(() =>
    ['/v1/tables/application/metrics', '/v1/tables/application/tags'].every((p) =>
      window.harness.requests.some((r) => r.url.startsWith(`api/datasources/proxy/uid/${window.harness.defaultUid}/metaflow${p}`) && r.status === 200),
    ),
  );
  assert.equal(await builder.getByRole('alert').count(), 0, 'the catalog loaded without error');

  // The default query: request rate per service, as a time series.
  let q = await editorQuery();
  assert.equal(q.mode, 'builder');
  assert.deepEqual(q.metrics, [{ metric: 'request', aggregation: 'rate' }]);

  // Edit it as a user: sum, table, tap side local.
  await pick('aggregation 1', 'sum');
  await waitForQuery((x) => x.metrics[0].aggregation === 'sum', 'took the aggregation sum');
  await builder.getByRole('radio', { name: 'Table', exact: true }).click();
  await waitForQuery((x) => x.format === 'table', 'became a table');
  await pick('tap side', 'local');
  q = await waitForQuery((x) => x.tapSide.length === 1 && x.tapSide[0] === 'local', 'took tap side local');
  assert.deepEqual(
    { dataType: q.dataType, metrics: q.metrics, groupBy: q.groupBy, tapSide: q.tapSide, format: q.format, filters: q.filters },
    { dataType: 'application', metrics: [{ metric: 'request', aggregation: 'sum' }], groupBy: ['service'], tapSide: ['local'], format: 'table', filters: [] },
  );

  // A filter whose values autocomplete from the store through the proxy.
  await page.getByRole('button', { name: 'add filter' }).click();
  await pick('filter tag 1', 'service');
  await waitForQuery((x) => x.filters[0]?.tag === 'service', 'took the filter tag');
  await page.getByLabel('filter value 1', { exact: true }).click();
  const options = page.locator('[data-testid="data-testid Select option"]');
  await options.filter({ hasText: '127.0.0.1:16379' }).first().waitFor();
  const offered = await options.allInnerTexts();
  for (const service of Object.keys(EXPECTED_REQUESTS_BY_SERVICE)) assert.ok(offered.some((o) => o.includes(service)), `value ${service} offered: ${offered}`);
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'remove filter 1' }).click();
  await waitForQuery((x) => x.filters.length === 0, 'dropped the filter');

  // The generated SQL on demand.
  await builder.getByRole('button', { name: 'Show SQL' }).click();
  const sql = await page.getByTestId('metaflow-generated-sql').innerText();
  assert.match(sql, /FROM flow_metrics\.application/);
  assert.match(sql, /sum\(`request`\)/);
  assert.match(sql, /tap_side/);

  // Screenshots in both themes, the editor still there after the theme change.
  mkdirSync(ARTIFACTS, { recursive: true });
  const host = page.getByTestId('harness-editor-host');
  await host.screenshot({ path: path.join(ARTIFACTS, 'query-editor-light.png') });
  assert.equal(await harness(() => window.harness.setTheme('dark')), 'dark');
  await builder.waitFor();
  const background = await host.evaluate((el) => getComputedStyle(el).backgroundColor);
  await host.screenshot({ path: path.join(ARTIFACTS, 'query-editor-dark.png') });
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark theme background is dark: ${background}`);
  assert.ok(await page.getByTestId('metaflow-generated-sql').isVisible());
  await harness(() => window.harness.setTheme('light'));

  const runs = await harness(() => window.harness.runs);
  assert.ok(runs > 0, 'builder changes ran the query (onRunQuery)');
  results.push(`(a) editor rendered; edited to sum/table/local; filter values offered: ${offered.length}; SQL shown; screenshots in ${path.relative(ROOT, ARTIFACTS)}/`);
});

test('(b) testDatasource reports success with the agent version', async () => {
  const result = await harness((uid) => window.harness.testDatasource(uid), DS_UID);
  assert.equal(result.status, 'success', JSON.stringify(result));
  assert.ok(result.message.includes(`MetaFlow agent ${agent.health.version}`), result.message);
  results.push(`(b) health: ${result.message}`);
});

test('(c) a builder query returns the known workload per service', async () => {
  const response = await runQuery(BUILDER_QUERY, { uid: DS_UID });
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  assert.equal(response.data.length, 1);
  const [frame] = response.data;
  assert.equal(frame.refId, 'A');
  assert.deepEqual(
    frame.fields.map((f) => [f.name, f.type]),
    [
      ['service', 'string'],
      ['request', 'number'],
    ],
  );
  assert.deepEqual(tableOf(frame), EXPECTED_REQUESTS_BY_SERVICE);
  assert.deepEqual(EXPECTED_REQUESTS_BY_SERVICE, { '127.0.0.1:18080': 36, '[::1]:18080': 19, '127.0.0.1:16379': 40 });

  // The query the user built in the editor gives the same.
  const edited = await editorQuery();
  const fromEditor = await runQuery(edited, { uid: DS_UID });
  assert.deepEqual(tableOf(fromEditor.data[0]), EXPECTED_REQUESTS_BY_SERVICE);
  results.push(`(c) builder: ${JSON.stringify(tableOf(frame))} (also from the edited editor query)`);
});

test('(d) a SQL-mode query returns requests per protocol', async () => {
  const response = await runQuery({ mode: 'sql', sql: SQL_QUERY, sqlFormat: 'table', version: 2 }, { uid: DS_UID });
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  assert.equal(response.data.length, 1);
  assert.deepEqual(tableOf(response.data[0]), EXPECTED_REQUESTS_BY_PROTOCOL);
  assert.deepEqual(EXPECTED_REQUESTS_BY_PROTOCOL, { http1: 55, redis: 40 });
  results.push(`(d) SQL: ${JSON.stringify(tableOf(response.data[0]))}`);
});

test('(e) a refused SQL query surfaces the API message', async () => {
  const response = await runQuery({ mode: 'sql', sql: 'SELECT * FROM system.tables', sqlFormat: 'table', version: 2 }, { uid: DS_UID });
  assert.deepEqual(response.data, []);
  assert.equal(response.errors?.length, 1, JSON.stringify(response));
  assert.equal(response.errors[0].refId, 'A');
  assert.match(response.errors[0].message, /system tables are not readable/);
  assert.equal(response.error.message, response.errors[0].message);
  results.push(`(e) refused: ${response.errors[0].message}`);
});

test('(f) with a wrong token the health check fails', async () => {
  const before = harnessServer.proxied.length;
  const result = await harness((uid) => window.harness.testDatasource(uid), WRONG_TOKEN_UID);
  assert.equal(result.status, 'error', JSON.stringify(result));
  assert.match(result.message, /^MetaFlow: \S/);
  // The agent itself refused it (401, which the proxy turns into Grafana's 400).
  const upstream = harnessServer.proxied.slice(before);
  assert.deepEqual(
    upstream.map((p) => [p.path, p.status]),
    [['/api/v1/health', 401]],
  );
  const query = await runQuery(BUILDER_QUERY, { uid: WRONG_TOKEN_UID });
  assert.equal(query.errors?.length, 1);
  results.push(`(f) wrong token: status ${result.status}, message "${result.message}"`);
});

async function queryWithVariables(services) {
  await harness((v) => window.harness.setVariables(v), { service: services, side: 'local' });
  const response = await runQuery({ ...BUILDER_QUERY, tapSide: ['$side'], filters: [{ tag: 'service', op: '=', values: ['$service'] }] }, { uid: DS_UID });
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  assert.deepEqual(tableOf(response.data[0] ?? { fields: [{ values: [] }, { values: [] }] }), Object.fromEntries(services.map((s) => [s, EXPECTED_REQUESTS_BY_SERVICE[s]])));
  return tableOf(response.data[0]);
}

test('(g) template variables: a multi-value filter and the tap side', async () => {
  const table = await queryWithVariables(['127.0.0.1:18080', '127.0.0.1:16379']);
  results.push(`(g) variables: ${JSON.stringify(table)}`);
});

test('(g2) template variables holding IPv6 services ([::1]:18080)', async () => {
  await queryWithVariables(['127.0.0.1:18080', '[::1]:18080']);
});

test('(h) SQL mode in the editor starts from the builder query', { timeout: 60_000 }, async () => {
  await page.getByTestId('metaflow-query-editor').getByRole('radio', { name: 'SQL', exact: true }).click();
  const q = await waitForQuery((x) => x.mode === 'sql' && typeof x.sql === 'string', 'switched to SQL mode');
  assert.match(q.sql, /FROM flow_metrics\.application/);
  await page.getByTestId('metaflow-sql-editor').waitFor();
  // Grafana's CodeEditor (Monaco, lazily loaded) shows the SQL.
  await page.locator('.monaco-editor .view-lines').filter({ hasText: 'flow_metrics' }).first().waitFor({ timeout: 30_000 });
  await page.getByTestId('harness-editor-host').screenshot({ path: path.join(ARTIFACTS, 'query-editor-sql.png') });
  results.push('(h) SQL mode: Monaco editor shows the generated SQL');
});

test('(h2) the SQL that SQL mode starts from runs', async () => {
    const q = await editorQuery();
    assert.equal(q.mode, 'sql');
    const response = await runQuery(q, { uid: DS_UID });
    assert.equal(response.errors, undefined, JSON.stringify(response.errors));
    assert.deepEqual(tableOf(response.data[0]), EXPECTED_REQUESTS_BY_SERVICE);
});

test('(i) the browser never sees the token and talks only to its origin', async () => {
  const settings = await harness(() => window.harness.instanceSettings);
  assert.ok(!JSON.stringify(settings).includes(token), 'instance settings carry no token');
  assert.deepEqual(settings[0].secureJsonFields, { apiToken: true });
  const origin = new URL(harnessServer.url).origin;
  const foreign = browserRequests.filter((r) => !r.url.startsWith(origin) && !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
  assert.deepEqual(foreign, [], 'no request left the harness origin');
  assert.ok(browserRequests.every((r) => !r.headers.authorization), 'no Authorization header from the browser');
  const proxiedRequests = browserRequests.filter((r) => r.url.includes('/api/datasources/proxy/uid/'));
  assert.ok(proxiedRequests.length >= 8, `API calls went through the proxy route (${proxiedRequests.length})`);
});

test('(j) no errors in the page', async () => {
  const state = await harness(() => ({ errors: window.harness.errors, missing: window.harness.missingRuntimeExports }));
  assert.deepEqual(state.missing, [], '@grafana/runtime exports the plugin used but the harness lacks');
  assert.deepEqual(state.errors, []);
  // Failed proxied calls in (e)/(f) log "Failed to load resource" (400), and Grafana's Inter font
  // is not in any npm package (404); nothing else may.
  const unexpected = consoleErrors.filter(
    (e) => !/Failed to load resource: the server responded with a status of (400 .*\/api\/datasources\/proxy\/uid\/|404 .*\/public\/fonts\/)/.test(e),
  );
  assert.deepEqual(unexpected, []);
});
