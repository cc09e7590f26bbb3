/**
 * Acceptance test of the MetaFlow service map panel in a real browser (Debian's Chromium driven by
 * playwright-core): the BUILT dist/panels/service-map/module.js, loaded as Grafana loads plugins,
 * drawing the map a live `metaflow serve` answers for the demo capture (POST /api/v1/map), in the
 * light and dark themes; its data links, tooltips, search, zoom, stability and option migration.
 *
 *   npm run build && node browser-tests/service-map.browser.test.mjs
 *
 * Needs: chromium at /usr/bin/chromium (or $CHROMIUM_PATH), the devDependency playwright-core.
 * Screenshots go to browser-tests/artifacts/service-map-*.png.
 */
/* global console, window, document, getComputedStyle, CSS -- node, and page functions that run in the browser */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CHROMIUM_REQUIREMENT, launchChromium, openPage, runCleanups, summary, timer } from './harness/browser.mjs';
import { startHarnessServer } from './harness/server.mjs';
import { startDemoAgent } from './harness/panel/agent.mjs';
import { requireFiles } from './harness/processes.mjs';
import { buildPanelHarness, PANEL_HARNESS_BUILD_DIR, PANEL_HARNESS_DIR } from './harness/panel/build.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const PLUGIN_DIR = path.join(ROOT, 'dist', 'panels', 'service-map');
const PLUGIN_ID = JSON.parse(readFileSync(path.join(ROOT, 'src', 'panels', 'service-map', 'plugin.json'), 'utf8')).id;
const WORKLOAD = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'captures', 'demo-loopback.workload.json'), 'utf8'));

// The capture's time range, from the workload's phases, widened to whole minutes (rates per second of it).
const FROM = (Math.floor(Math.min(...WORKLOAD.phases.map((p) => p.start)) / 60) - 1) * 60_000;
const TO = (Math.ceil(Math.max(...WORKLOAD.phases.map((p) => p.end)) / 60) + 1) * 60_000;
const ALL_TIME = { from: 0, to: 4102444800000 };

/** The demo map, from the workload: callers (external clients), servers as `addr:port` / `[v6]:port`. */
const service = (addr, port) => `${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
const EXPECTED_EDGES = [
  ...WORKLOAD.servers.flatMap((s) => Object.keys(s.by_address).map((addr) => `${addr}->${service(addr, s.port)}`)),
  ...WORKLOAD.refused.map((r) => `127.0.0.1->127.0.0.1:${r.port}`),
].sort();
const EXPECTED_NODES = [...new Set(EXPECTED_EDGES.flatMap((e) => e.split('->')))].sort();
const REFUSED_EDGE = `127.0.0.1->127.0.0.1:${WORKLOAD.refused[0].port}`;

let agent;
let server;
let page;
let consoleErrors;
let mapFrames;
const cleanups = [];
const results = [];
const timings = {};
const timed = timer(timings);
const requests = [];

const harness = (fn, arg) => page.evaluate(fn, arg);
const panel = () => page.getByTestId('metaflow-servicemap-panel');
const nodes = () => page.getByTestId('servicemap-node');
const edges = () => page.getByTestId('servicemap-edge');
const nodeById = (id) => page.locator(`[data-testid="servicemap-node"][data-id="${id}"]`);

/** Node positions (layout coordinates) by id, from their transforms. */
const positions = () =>
  harness(() =>
    Object.fromEntries(
      [...document.querySelectorAll('[data-testid="servicemap-node"]')].map((el) => [el.getAttribute('data-id'), el.getAttribute('transform').match(/[-\d.]+/g).map(Number)]),
    ),
  );

async function waitReady() {
  await page.waitForFunction(() => document.querySelector('[data-testid="metaflow-servicemap-panel"]')?.getAttribute('data-render-state') === 'ready');
}

/** The point of an edge's visible path halfway along it, in page coordinates. */
const edgeMidpoint = (id) =>
  harness((edgeId) => {
    const g = document.querySelector(`[data-testid="servicemap-edge"][data-id="${CSS.escape(edgeId)}"]`);
    const path = g.querySelectorAll('path')[1];
    const p = path.getPointAtLength(path.getTotalLength() / 2);
    const m = path.getScreenCTM();
    return { x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f };
  }, id);

/** Explore state of an Explore link's href. */
function exploreState(href) {
  const m = /\/explore\?left=(.*)$/.exec(href);
  assert.ok(m, `an Explore link: ${href}`);
  return JSON.parse(decodeURIComponent(m[1]));
}

before(
  async () => {
    requireFiles([
      ['the built panel (npm run build)', path.join(PLUGIN_DIR, 'module.js')],
      ['the built agent (npm run build)', path.join(ROOT, 'agent', 'dist', 'cli', 'main.js')],
      CHROMIUM_REQUIREMENT,
    ]);
    const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'metaflow-servicemap-browser-'));
    cleanups.push(() => rmSync(tmpDir, { recursive: true, force: true }));
    const [bundle, started] = await Promise.all([timed('harness bundle', () => buildPanelHarness()), timed('agent (replay, serve)', () => startDemoAgent())]);
    agent = started;
    cleanups.push(() => agent.stop());
    timings['harness bundle'] = bundle.ms;
    results.push(`panel harness bundle ${bundle.built ? 'built' : 'up to date'}`);

    // The map, as the agent's query API answers it.
    const response = await timed('map query', () => agent.post('/api/v1/map', { from: FROM, to: TO, level: 'service' }));
    mapFrames = response.frames;
    const allTime = await agent.post('/api/v1/map', { ...ALL_TIME, level: 'service' });
    assert.deepEqual([allTime.nodes, allTime.edges], [response.nodes, response.edges], 'the capture range holds the whole map');
    results.push(`POST /api/v1/map (level service): ${response.nodes} nodes, ${response.edges} edges; frames ${mapFrames.map((f) => f.name).join(', ')}`);

    server = await startHarnessServer({ pluginDir: PLUGIN_DIR, bundleDir: PANEL_HARNESS_BUILD_DIR, pageFile: path.join(PANEL_HARNESS_DIR, 'index.html'), datasources: [] });
    cleanups.push(() => server.close());

    const browser = await timed('browser start', () => launchChromium({ profileDir: path.join(tmpDir, 'chromium-profile'), viewport: { width: 1000, height: 640 } }));
    cleanups.push(() => browser.context.close());
    ({ page, consoleErrors } = browser);
    page.on('request', (r) => requests.push(r.url()));
    const bootError = await timed('page load', () => openPage(page, `${server.url}?plugin=${PLUGIN_ID}&from=${FROM}&to=${TO}&width=900&height=520`));
    assert.equal(bootError, undefined, 'the harness loaded the panel');
  },
  { timeout: 180_000 },
);

after(async () => {
  await runCleanups(cleanups);
  console.log(summary('service map browser', results, timings));
});

test('(a) the panel loads as an AMD module and draws the agent\'s map: nodes and edges in the DOM, laid out in a Web Worker', async () => {
  assert.deepEqual(await harness(() => window.harness.pluginExports), ['plugin']);
  await page.getByTestId('metaflow-servicemap-empty').waitFor();
  await harness((frames) => window.harness.setFrames(frames), mapFrames);
  await waitReady();
  const ids = async (locator) => (await locator.evaluateAll((els) => els.map((el) => el.getAttribute('data-id')))).sort();
  assert.deepEqual(await ids(nodes()), EXPECTED_NODES);
  assert.deepEqual(await ids(edges()), EXPECTED_EDGES);
  assert.equal(EXPECTED_NODES.length, 6);
  assert.equal(EXPECTED_EDGES.length, 4);
  assert.equal(await panel().getAttribute('data-node-count'), '6');
  assert.equal(await panel().getAttribute('data-edge-count'), '4');
  // The layout ran off the main thread, from the bundle's own function (Blob URL worker).
  assert.equal(await panel().getAttribute('data-layout-engine'), 'worker');
  assert.ok(requests.some((u) => u.startsWith('blob:')), 'the worker came from a blob: URL');
  // Encoding: the refused connections dashed, external callers dashed, the rest solid.
  assert.deepEqual(await ids(page.locator('[data-testid="servicemap-edge"][data-dashed="true"]')), [REFUSED_EDGE]);
  for (const caller of ['127.0.0.1', '::1']) assert.equal(await nodeById(caller).locator('circle').getAttribute('stroke-dasharray'), '4 3');
  assert.equal(await nodeById('127.0.0.1:18080').locator('circle').getAttribute('stroke-dasharray'), null);
  // Callers on the left of the services they call.
  const p = await positions();
  for (const e of EXPECTED_EDGES) {
    const [s, t] = e.split('->');
    assert.ok(p[s][0] < p[t][0], `${s} left of ${t}`);
  }
  const statuses = await nodes().evaluateAll((els) => Object.fromEntries(els.map((el) => [el.getAttribute('data-id'), el.getAttribute('data-status')])));
  results.push(`(a) ${EXPECTED_NODES.length} nodes, ${EXPECTED_EDGES.length} edges drawn; layout in a ${await panel().getAttribute('data-layout-engine')} (${await panel().getAttribute('data-layout-ms')} ms); statuses ${JSON.stringify(statuses)}`);
});

test('(b) light and dark themes, from the Grafana theme', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const host = page.getByTestId('harness-panel');
  const labelColor = () => nodeById('127.0.0.1:18080').locator('text').first().getAttribute('fill');
  const light = { background: await host.evaluate((el) => getComputedStyle(el).backgroundColor), label: await labelColor() };
  await host.screenshot({ path: path.join(ARTIFACTS, 'service-map-light.png') });
  assert.equal(await harness(() => window.harness.setTheme('dark')), 'dark');
  await waitReady();
  const dark = { background: await host.evaluate((el) => getComputedStyle(el).backgroundColor), label: await labelColor() };
  await host.screenshot({ path: path.join(ARTIFACTS, 'service-map-dark.png') });
  const sum = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
  assert.ok(sum(light.background) > 600, `light background: ${light.background}`);
  assert.ok(sum(dark.background) < 150, `dark background: ${dark.background}`);
  assert.notEqual(light.label, dark.label, 'labels follow the theme');
  assert.equal(await nodes().count(), 6, 'the map is still drawn');
  results.push(`(b) screenshots service-map-light.png, service-map-dark.png (backgrounds ${light.background} / ${dark.background})`);
});

test('(c) clicking an edge opens its link menu with the request log in Explore', async () => {
  const edgeId = '127.0.0.1->127.0.0.1:18080';
  const { x, y } = await edgeMidpoint(edgeId);
  await page.mouse.click(x, y);
  const header = page.getByTestId('servicemap-menu-header');
  await header.waitFor();
  assert.equal(await header.innerText(), '127.0.0.1 → 127.0.0.1:18080');
  const link = page.getByTestId('servicemap-link').filter({ hasText: 'Request log of this edge' });
  await link.waitFor();
  const state = exploreState(await link.getAttribute('href'));
  assert.equal(state.datasource, 'metaflow');
  assert.deepEqual(state.range, { from: String(FROM), to: String(TO) });
  assert.deepEqual(
    { dataType: state.queries[0].dataType, format: state.queries[0].format, filters: state.queries[0].filters, tapSide: state.queries[0].tapSide },
    {
      dataType: 'l7_flow_log',
      format: 'logs',
      filters: [
        { tag: 'service_0', op: '=', values: ['127.0.0.1'] },
        { tag: 'service_1', op: '=', values: ['127.0.0.1:18080'] },
      ],
      tapSide: ['local'],
    },
  );
  // The link's query, run as the data source runs it (its request builder's shape), is the edge's traffic.
  const q = state.queries[0];
  const log = await agent.post('/api/v1/query', {
    dataType: q.dataType,
    interval: q.interval,
    from: FROM,
    to: TO,
    step: 60,
    metrics: q.metrics,
    groupBy: q.groupBy,
    filters: q.filters.map((f) => ({ tag: f.tag, op: f.op, value: f.values[0] })),
    tapSide: q.tapSide,
    orderBy: q.orderBy,
    limit: q.limit,
    format: q.format,
  });
  const http = WORKLOAD.servers.find((s) => s.port === 18080);
  assert.equal(log.frames[0].fields[0].values.length, http.by_address['127.0.0.1'].requests, 'the request log of the edge holds its requests');
  await page.getByTestId('harness-panel').screenshot({ path: path.join(ARTIFACTS, 'service-map-edge-menu.png') });
  await page.keyboard.press('Escape');
  await header.waitFor({ state: 'detached' });
  results.push(`(c) edge menu: "Request log of this edge" → Explore, l7_flow_log, service_0=127.0.0.1, service_1=127.0.0.1:18080, tap side local (the agent answers it with ${http.by_address['127.0.0.1'].requests} requests); screenshot service-map-edge-menu.png`);
});

test('(d) a service\'s menu links its RED dashboard, with template variables resolved', async () => {
  await harness(() => window.harness.setVariables({ tap_side: 'local' }));
  await harness(() =>
    window.harness.setOptions({ links: { ...window.harness.state().options.links, redDashboardUrl: '/d/metaflow-red/metaflow-red-overview?var-service=${__data.fields.id}&var-tap_side=$tap_side&${__url_time_range}' } }),
  );
  await nodeById('[::1]:18080').locator('circle').click();
  const red = page.getByTestId('servicemap-link').filter({ hasText: 'RED dashboard of this service' });
  await red.waitFor();
  assert.equal(await red.getAttribute('href'), `/d/metaflow-red/metaflow-red-overview?var-service=%5B%3A%3A1%5D%3A18080&var-tap_side=local&from=${FROM}&to=${TO}`);
  assert.equal(await page.getByTestId('servicemap-link').filter({ hasText: 'Request log of this service' }).count(), 1);
  await page.keyboard.press('Escape');
  // An external caller has no RED dashboard.
  await nodeById('::1').locator('circle').click();
  await page.getByTestId('servicemap-link').filter({ hasText: 'Request log of this client' }).waitFor();
  assert.equal(await page.getByTestId('servicemap-link').filter({ hasText: 'RED dashboard' }).count(), 0);
  await page.keyboard.press('Escape');
  results.push('(d) node menu: RED dashboard link with ${__data.fields.id}, $tap_side and ${__url_time_range} resolved');
});

test('(e) the tooltip shows every metric of an edge, with units', async () => {
  const { x, y } = await edgeMidpoint('::1->[::1]:18080');
  await page.mouse.move(x, y);
  const tooltip = page.getByTestId('servicemap-tooltip');
  await tooltip.waitFor();
  const text = await tooltip.innerText();
  for (const label of ['requests/s', 'error ratio', 'avg response time', 'p99 response time', 'bytes/s', 'rtt', 'retransmission ratio', 'connection failures', 'tap side']) {
    assert.ok(text.includes(label), `tooltip shows ${label}: ${text}`);
  }
  assert.match(text, /req\/s/);
  assert.match(text, /\d+(\.\d+)?%/);
  assert.match(text, /µs|ms/);
  await page.getByTestId('harness-panel').screenshot({ path: path.join(ARTIFACTS, 'service-map-tooltip.png') });
  await page.mouse.move(5, 5);
  await tooltip.waitFor({ state: 'detached' });
  results.push(`(e) tooltip: ${text.split('\n').length} lines`);
});

test('(f) search highlights a node and its neighbours; zoom, pan and fit move the view', async () => {
  const view = page.getByTestId('servicemap-view');
  const transform = () => view.getAttribute('transform');
  await page.getByLabel('find a node').fill('16379');
  const dimmed = async () => (await page.locator('[data-testid="servicemap-node"][data-dimmed="true"]').evaluateAll((els) => els.map((el) => el.getAttribute('data-id')))).sort();
  assert.deepEqual(await dimmed(), ['127.0.0.1:18080', '127.0.0.1:18099', '::1', '[::1]:18080']);
  await page.getByLabel('find a node').press('Escape');
  assert.deepEqual(await dimmed(), []);
  const fitted = await transform();
  const box = await page.getByRole('img', { name: 'service map' }).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction((t) => document.querySelector('[data-testid="servicemap-view"]').getAttribute('transform') !== t, fitted);
  const zoomed = await transform();
  const scale = (t) => Number(/scale\(([-\d.]+)\)/.exec(t)[1]);
  assert.ok(scale(zoomed) > scale(fitted), `wheel zoomed in: ${fitted} → ${zoomed}`);
  await page.mouse.move(box.x + 40, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + 140, box.y + 90, { steps: 5 });
  await page.mouse.up();
  assert.notEqual(await transform(), zoomed, 'dragging panned');
  await page.getByRole('button', { name: 'Fit the map' }).click();
  await page.waitForFunction((t) => document.querySelector('[data-testid="servicemap-view"]').getAttribute('transform') === t, fitted);
  results.push(`(f) search dims 4 of 6 nodes; zoom ${scale(fitted).toFixed(2)} → ${scale(zoomed).toFixed(2)}; pan; fit restores`);
});

test('(g) stable between refreshes: the same map keeps every position, a new node moves the others little', async () => {
  const before = await positions();
  await harness((frames) => window.harness.setFrames(frames), mapFrames);
  await waitReady();
  assert.deepEqual(await positions(), before, 'a refresh with the same map moves nothing');
  // One more service called by 127.0.0.1.
  const grown = mapFrames.map((f) => ({
    ...f,
    fields: f.fields.map((field) => {
      const extra = f.name === 'nodes' ? { id: '127.0.0.1:9000', title: '127.0.0.1:9000', subtitle: 'service', mainstat: 1e-3 } : { id: '127.0.0.1->127.0.0.1:9000', source: '127.0.0.1', target: '127.0.0.1:9000', mainstat: 1e-3 };
      return { ...field, values: [...field.values, extra[field.name] ?? (field.type === 'number' ? 0 : '')] };
    }),
  }));
  await harness((frames) => window.harness.setFrames(frames), grown);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="servicemap-node"]').length === 7);
  await waitReady();
  const after = await positions();
  const moved = Object.keys(before).map((id) => Math.hypot(after[id][0] - before[id][0], after[id][1] - before[id][1]));
  assert.ok(Math.max(...moved) < 40, `existing nodes moved at most ${Math.max(...moved).toFixed(1)} px (of 80 px spacing)`);
  await harness((frames) => window.harness.setFrames(frames), mapFrames);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="servicemap-node"]').length === 6);
  results.push(`(g) same map: nothing moved; one node added: others moved ≤ ${Math.max(...moved).toFixed(1)} px`);
});

test('(h) saved options of the placeholder version migrate to complete options', async () => {
  const r = await harness(() => window.harness.migrate({ options: {}, pluginVersion: '0.0.1' }));
  assert.equal(r.migrated, true);
  assert.equal(r.options.version, 1);
  assert.equal(r.options.colorBy, 'errorRatio');
  const same = await harness(() => window.harness.migrate({ options: { ...window.harness.state().options }, pluginVersion: '0.1.0' }));
  assert.equal(same.migrated, false, 'current options are left alone');
  const partial = await harness(() => window.harness.migrate({ options: { grouping: 'external', colorBy: 'bogus' }, pluginVersion: '0.1.0' }));
  assert.equal(partial.migrated, true, 'options without the current version migrate even at the same plugin version');
  assert.deepEqual([partial.options.grouping, partial.options.colorBy], ['external', 'errorRatio']);
  await harness((o) => window.harness.setOptions(o), partial.options);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="servicemap-node"]').length === 5);
  assert.equal(await nodeById('__external__').count(), 1);
  results.push('(h) migration: {} → defaults v1; {grouping: external, colorBy: bogus} → external clients folded (5 nodes)');
});

test('(i) no errors in the page, nothing fetched from elsewhere', async () => {
  const state = await harness(() => ({ errors: window.harness.errors, missing: window.harness.missingRuntimeExports }));
  assert.deepEqual(state.missing, []);
  assert.deepEqual(state.errors, []);
  // Grafana's Inter font is in no npm package (404); nothing else may fail.
  assert.deepEqual(
    consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 404 .*\/public\/fonts\//.test(e)),
    [],
  );
  const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
});
