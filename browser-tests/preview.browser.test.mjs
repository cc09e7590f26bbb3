/**
 * Acceptance test of the service-map preview in a real browser (Debian's Chromium driven by
 * playwright-core): `metaflow serve --preview` over the replayed demo capture, its printed URL
 * opened as a user would, and the page checked to draw, with the BUILT data source and panel, the
 * map the API answers for the same range, through the agent's data source proxy (the browser
 * never holding the token), without errors; the theme, the refresh button and a data source error.
 *
 *   npm run build && node browser-tests/preview.browser.test.mjs
 *
 * Needs: chromium at /usr/bin/chromium (or $CHROMIUM_PATH), the devDependency playwright-core.
 * Screenshots go to browser-tests/artifacts/preview-service-map*.png.
 */
/* global console, fetch, URL, window, document, getComputedStyle -- node, and page functions that run in the browser */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CHROMIUM_REQUIREMENT, launchChromium, openPage, runCleanups, summary, timer } from './harness/browser.mjs';
import { startDemoAgent } from './harness/panel/agent.mjs';
import { requireFiles } from './harness/processes.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const ALL_TIME = { from: 0, to: 4102444800000 };
const PROXY_ROUTE = '/api/datasources/proxy/uid/metaflow/metaflow/v1/';

let agent;
let page;
let consoleErrors;
const cleanups = [];
const results = [];
const timings = {};
const timed = timer(timings);
/** Every request of the page: method, URL, status, and the Authorization it carried. */
const exchanges = [];

const preview = (fn, arg) => page.evaluate(fn, arg);
const panel = () => page.getByTestId('metaflow-servicemap-panel');
const idsOf = (testId) => page.locator(`[data-testid="${testId}"]`).evaluateAll((els) => els.map((el) => el.getAttribute('data-id')).sort());

/** The ids of the map's nodes and edges as the API answers them: its `nodes` and `edges` frames' id fields. */
function mapIds(response) {
  const ids = (name) => response.frames.find((f) => f.name === name).fields.find((f) => f.name === 'id').values.slice().sort();
  return { nodes: ids('nodes'), edges: ids('edges') };
}

/** Waits until the panel has drawn the map it was given. */
async function waitDrawn() {
  await page.waitForFunction(() => {
    const root = document.querySelector('[data-testid="metaflow-servicemap-panel"]');
    return root?.getAttribute('data-render-state') === 'ready' && document.querySelectorAll('[data-testid="servicemap-node"]').length === Number(root.getAttribute('data-node-count'));
  });
}

before(
  async () => {
    requireFiles([
      ['the built preview page (npm run build)', path.join(ROOT, 'dist', 'preview', 'index.html')],
      ['the built data source (npm run build)', path.join(ROOT, 'dist', 'datasource', 'module.js')],
      ['the built panel (npm run build)', path.join(ROOT, 'dist', 'panels', 'service-map', 'module.js')],
      ['the built agent (npm run build)', path.join(ROOT, 'agent', 'dist', 'cli', 'main.js')],
      CHROMIUM_REQUIREMENT,
    ]);
    const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'metaflow-preview-browser-'));
    cleanups.push(() => rmSync(tmpDir, { recursive: true, force: true }));
    agent = await timed('agent (replay, serve --preview)', () => startDemoAgent({ preview: true }));
    cleanups.push(() => agent.stop());
    assert.equal(agent.previewUrl, `${agent.url}/preview/`, 'serve --preview prints the page URL');
    results.push(`printed: Service map preview: ${agent.previewUrl}`);

    const browser = await timed('browser start', () => launchChromium({ profileDir: path.join(tmpDir, 'chromium-profile'), viewport: { width: 1200, height: 760 } }));
    cleanups.push(() => browser.context.close());
    ({ page, consoleErrors } = browser);
    page.on('requestfinished', async (r) => {
      const response = await r.response();
      exchanges.push({ method: r.method(), url: r.url(), status: response?.status(), authorization: (await r.allHeaders()).authorization });
    });
    await timed('page load and first map', async () => {
      assert.equal(await openPage(page, agent.previewUrl, 'preview'), undefined, 'the preview started');
      await waitDrawn();
    });
  },
  { timeout: 180_000 },
);

after(async () => {
  await runCleanups(cleanups);
  console.log(summary('preview browser', results, timings));
});

test('(a) the page draws the map the API answers for its range, which covers the stored data', async () => {
  const range = await preview(() => window.preview.range);
  assert.ok(range && range.to > range.from, `the page chose a range: ${JSON.stringify(range)}`);
  const expected = mapIds(await agent.post('/api/v1/map', { ...range, level: 'service', tapSideMode: 'preferred' }));
  assert.deepEqual(mapIds(await agent.post('/api/v1/map', { ...ALL_TIME, level: 'service', tapSideMode: 'preferred' })), expected, 'the range holds the whole stored map');
  assert.ok(expected.nodes.length > 0 && expected.edges.length > 0, 'the demo data has a map');
  assert.deepEqual(await idsOf('servicemap-node'), expected.nodes);
  assert.deepEqual(await idsOf('servicemap-edge'), expected.edges);
  assert.equal(await panel().getAttribute('data-node-count'), String(expected.nodes.length));
  assert.equal(await panel().getAttribute('data-edge-count'), String(expected.edges.length));
  assert.equal(await page.getByRole('heading', { name: 'MetaFlow service map' }).count(), 1, 'the page is titled');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'preview-service-map.png'), animations: 'disabled' });
  results.push(`(a) ${expected.nodes.length} nodes, ${expected.edges.length} edges drawn, as POST /api/v1/map answers for ${new Date(range.from).toISOString()} – ${new Date(range.to).toISOString()}; screenshot preview-service-map.png`);
});

test('(b) the data source\'s requests went through the proxy route, and the browser never held the token', async () => {
  const proxied = exchanges.filter((e) => new URL(e.url).pathname.startsWith(PROXY_ROUTE));
  assert.ok(proxied.some((e) => e.method === 'POST' && e.url.endsWith(`${PROXY_ROUTE}map`) && e.status === 200), `the map query went through the proxy: ${JSON.stringify(proxied)}`);
  assert.ok(proxied.some((e) => e.method === 'GET' && e.url.endsWith(`${PROXY_ROUTE}health`) && e.status === 200), 'the range came from the health route, through the proxy');
  assert.deepEqual(exchanges.filter((e) => new URL(e.url).pathname.startsWith('/api/v1/')), [], 'nothing called the API directly');
  assert.deepEqual(exchanges.filter((e) => e.authorization !== undefined), [], 'no request carried an Authorization header');
  const logged = await preview(() => window.preview.requests.map((r) => r.url));
  assert.ok(logged.every((u) => u.startsWith('api/datasources/proxy/uid/metaflow/')), `the data source's own requests: ${logged.join(', ')}`);
  const settings = await (await fetch(new URL('/api/frontend/settings', agent.previewUrl))).text();
  assert.ok(!settings.includes(agent.token), 'the boot data does not hold the token');
  results.push(`(b) ${proxied.length} requests through ${PROXY_ROUTE}* (${[...new Set(proxied.map((e) => `${e.method} ${new URL(e.url).pathname.slice(PROXY_ROUTE.length)}`))].join(', ')}), none with a token`);
});

test('(c) the theme toggles between Grafana\'s light and dark themes', async () => {
  const background = () => page.getByTestId('preview').evaluate((el) => getComputedStyle(el).backgroundColor);
  const light = await background();
  await page.getByRole('radio', { name: 'Dark' }).click();
  await page.locator('[data-testid="preview"][data-theme="dark"]').waitFor();
  await waitDrawn();
  const dark = await background();
  const sum = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
  assert.ok(sum(light) > 600, `light background: ${light}`);
  assert.ok(sum(dark) < 150, `dark background: ${dark}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'preview-service-map-dark.png'), animations: 'disabled' });
  await page.getByRole('radio', { name: 'Light' }).click();
  await page.locator('[data-testid="preview"][data-theme="light"]').waitFor();
  results.push(`(c) backgrounds ${light} / ${dark}; screenshot preview-service-map-dark.png`);
});

test('(d) refresh runs the query again; an error of the data source is shown', async () => {
  const before = await preview(() => window.preview.queries);
  const nodes = await idsOf('servicemap-node');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.waitForFunction((n) => window.preview.queries > n, before);
  await page.getByRole('button', { name: 'Refresh' }).and(page.locator(':enabled')).waitFor();
  await waitDrawn();
  assert.deepEqual(await idsOf('servicemap-node'), nodes, 'the same map after a refresh');
  // The API refusing the map query: its message reaches the page through the data source.
  await page.route(`**${PROXY_ROUTE}map`, (route) => route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'level "galaxy" is not a map level' }) }));
  await page.getByRole('button', { name: 'Refresh' }).click();
  const alert = page.getByTestId('preview-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /MetaFlow: level "galaxy" is not a map level/);
  await page.unroute(`**${PROXY_ROUTE}map`);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await alert.waitFor({ state: 'detached' });
  await waitDrawn();
  results.push('(d) refresh redraws the same map; a 400 from the API shows as "MetaFlow: level "galaxy" is not a map level"');
});

test('(e) no errors in the page, nothing fetched from elsewhere', async () => {
  const state = await preview(() => ({ errors: window.preview.errors, missing: window.preview.missingRuntimeExports }));
  assert.deepEqual(state.missing, []);
  assert.deepEqual(state.errors, []);
  // Grafana's Inter font is in no npm package (404); the refused map query of (d) is expected.
  assert.deepEqual(
    consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (404 .*\/public\/fonts\/|400 .*\/v1\/map)/.test(e)),
    [],
  );
  const origin = new URL(agent.previewUrl).origin;
  assert.deepEqual(
    exchanges.map((e) => e.url).filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')),
    [],
  );
});
