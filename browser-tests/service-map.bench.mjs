/**
 * Benchmark of the service map panel in the browser harness (Debian's Chromium): layout plus
 * first render of a generated map of 500 nodes and 2,000 edges, the BUILT panel
 * (dist/panels/service-map/module.js) mounted afresh each run (a new panel: no remembered layout,
 * a new layout worker), timed from mount to the map drawn and painted. Median of 5; target < 1 s.
 *
 *   npm run build:plugins && node browser-tests/service-map.bench.mjs [--nodes 500] [--edges 2000] [--runs 5]
 *
 * The last run's map is saved as browser-tests/artifacts/service-map-bench.png.
 */
/* global process, console, window -- node, and page functions that run in the browser */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CHROMIUM_REQUIREMENT, launchChromium, openPage } from './harness/browser.mjs';
import { requireFiles } from './harness/processes.mjs';
import { startHarnessServer } from './harness/server.mjs';
import { buildPanelHarness, PANEL_HARNESS_BUILD_DIR, PANEL_HARNESS_DIR } from './harness/panel/build.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const PLUGIN_DIR = path.join(ROOT, 'dist', 'panels', 'service-map');
const PLUGIN_ID = JSON.parse(readFileSync(path.join(ROOT, 'src', 'panels', 'service-map', 'plugin.json'), 'utf8')).id;
const TARGET_MS = 1000;

const { values: args } = parseArgs({ options: { nodes: { type: 'string', default: '500' }, edges: { type: 'string', default: '2000' }, runs: { type: 'string', default: '5' } } });
const NODES = Number(args.nodes);
const EDGES = Number(args.edges);
const RUNS = Number(args.runs);

/**
 * A map as the agent's /api/v1/map answers one (same frames, fields and units): a tenth of the
 * nodes external clients, the rest services in five tiers calling mostly the next tiers, some
 * calls back, a few refused connections. Deterministic.
 */
function generateMap(nodeCount, edgeCount, seed = 42) {
  let s = seed >>> 0;
  const random = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 4294967296;
  };
  const clients = Math.max(1, Math.round(nodeCount / 10));
  const ids = Array.from({ length: nodeCount }, (_, i) => (i < clients ? `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}` : `svc-${i - clients}.prod:${8000 + (i % 50)}`));
  const tier = (i) => (i < clients ? 0 : 1 + Math.floor(((i - clients) * 5) / (nodeCount - clients)));
  const byTier = new Map();
  ids.forEach((_, i) => byTier.set(tier(i), [...(byTier.get(tier(i)) ?? []), i]));
  const pick = (list) => list[Math.floor(random() * list.length)];
  const edges = new Map();
  let guard = 0;
  while (edges.size < edgeCount && guard++ < edgeCount * 50) {
    const a = Math.floor(random() * nodeCount);
    const ta = tier(a);
    const r = random();
    const tb = r < 0.05 ? Math.max(1, ta - 1) : Math.min(5, ta + (r < 0.8 ? 1 : 2));
    const candidates = byTier.get(tb);
    if (!candidates || ta === 5) continue;
    const b = pick(candidates);
    if (a === b) continue;
    const key = `${ids[a]}->${ids[b]}`;
    if (!edges.has(key)) edges.set(key, { source: ids[a], target: ids[b], rate: Math.exp(random() * 6 - 2), errors: random() < 0.8 ? random() * 0.01 : random() * 0.3, failures: random() < 0.02 ? 1 + Math.floor(random() * 10) : 0 });
  }
  const list = [...edges.entries()];
  const num = (name, values, unit, displayNameFromDS) => ({ name, type: 'number', values, config: { ...(unit ? { unit } : {}), ...(displayNameFromDS ? { displayNameFromDS } : {}) } });
  const str = (name, values, displayNameFromDS) => ({ name, type: 'string', values, ...(displayNameFromDS ? { config: { displayNameFromDS } } : {}) });
  const targets = new Set(list.map(([, e]) => e.target));
  const serverRate = new Map();
  for (const [, e] of list) serverRate.set(e.target, (serverRate.get(e.target) ?? 0) + e.rate);
  const nodes = {
    name: 'nodes',
    meta: { preferredVisualisationType: 'nodeGraph' },
    fields: [
      str('id', ids),
      str('title', ids),
      str('subtitle', ids.map((id) => (targets.has(id) ? 'service' : 'external client'))),
      num('mainstat', ids.map((id) => serverRate.get(id) ?? 0.5), 'reqps', 'requests/s'),
      num('secondarystat', ids.map((id) => (targets.has(id) ? 200 + random() * 5000 : null)), 'µs', 'avg response time'),
      num('arc__errors', ids.map(() => random() * 0.05), undefined, 'errors'),
      num('arc__ok', ids.map(() => 0.95), undefined, 'ok'),
      num('detail__server_error_ratio', ids.map((id) => (targets.has(id) ? random() * 0.08 : null)), 'percentunit', 'error ratio as server'),
      num('detail__client_request_rate', ids.map(() => random() * 10), 'reqps', 'requests/s as client'),
      num('detail__client_error_ratio', ids.map(() => random() * 0.02), 'percentunit', 'error ratio as client'),
      num('detail__bytes', ids.map(() => random() * 1e6), 'Bps', 'bytes/s'),
      str('detail__kind', ids.map((id) => (targets.has(id) ? 'known' : 'external')), 'kind'),
    ],
  };
  const edgeFrame = {
    name: 'edges',
    meta: { preferredVisualisationType: 'nodeGraph' },
    fields: [
      str('id', list.map(([k]) => k)),
      str('source', list.map(([, e]) => e.source)),
      str('target', list.map(([, e]) => e.target)),
      num('mainstat', list.map(([, e]) => e.rate), 'reqps', 'requests/s'),
      num('secondarystat', list.map(([, e]) => e.errors), 'percentunit', 'error ratio'),
      num('detail__rrt_avg', list.map(() => 100 + random() * 5000), 'µs', 'avg response time'),
      num('detail__rrt_p99', list.map(() => 1000 + random() * 50000), 'µs', 'p99 response time'),
      num('detail__timeout_ratio', list.map(() => 0), 'percentunit', 'timeout ratio'),
      num('detail__bytes', list.map(([, e]) => e.rate * 800), 'Bps', 'bytes/s'),
      num('detail__rtt', list.map(() => 20 + random() * 500), 'µs', 'rtt'),
      num('detail__retrans_ratio', list.map(() => random() * 0.01), 'percentunit', 'retransmission ratio'),
      num('detail__connection_failures', list.map(([, e]) => e.failures), 'short', 'connection failures'),
      str('detail__tap_side', list.map(() => 's-p'), 'tap side'),
      str('detail__seen_at', list.map(() => 's-p c-p'), 'seen at'),
    ],
  };
  return { frames: [nodes, edgeFrame], nodes: ids.length, edges: list.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  requireFiles([['the built panel (npm run build:plugins)', path.join(PLUGIN_DIR, 'module.js')], CHROMIUM_REQUIREMENT]);
  const map = generateMap(NODES, EDGES);
  const bundle = await buildPanelHarness();
  const server = await startHarnessServer({ pluginDir: PLUGIN_DIR, bundleDir: PANEL_HARNESS_BUILD_DIR, pageFile: path.join(PANEL_HARNESS_DIR, 'index.html'), datasources: [] });
  const profile = mkdtempSync(path.join(os.tmpdir(), 'metaflow-servicemap-bench-'));
  const { context, page, pageErrors } = await launchChromium({ profileDir: profile, viewport: { width: 1400, height: 900 } });
  try {
    const bootError = await openPage(page, `${server.url}?plugin=${PLUGIN_ID}&width=1200&height=800`);
    if (bootError) throw new Error(`harness: ${bootError}`);
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await page.evaluate((frames) => window.harness.mountFresh(frames), map.frames);
      if (r.nodes !== map.nodes || r.edges !== map.edges) throw new Error(`drew ${r.nodes} nodes / ${r.edges} edges of ${map.nodes} / ${map.edges}`);
      runs.push(r);
    }
    mkdirSync(path.join(HERE, 'artifacts'), { recursive: true });
    await page.getByTestId('harness-panel').screenshot({ path: path.join(HERE, 'artifacts', 'service-map-bench.png') });
    const totals = runs.map((r) => r.ms);
    const layouts = runs.map((r) => r.layoutMs);
    const m = median(totals);
    console.log(`service map bench (${bundle.built ? 'harness built' : 'harness cached'}, Chromium headless, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)})`);
    console.log(`  map: ${map.nodes} nodes, ${map.edges} edges (generated)`);
    console.log(`  layout engine: ${[...new Set(runs.map((r) => r.engine))].join(', ')}`);
    console.log(`  layout (in the worker, request to result): ${layouts.map((x) => x.toFixed(0)).join(', ')} ms; median ${median(layouts).toFixed(0)} ms`);
    console.log(`  layout + first render (mount to painted):  ${totals.map((x) => x.toFixed(0)).join(', ')} ms; median ${m.toFixed(0)} ms`);
    console.log(`  target < ${TARGET_MS} ms: ${m < TARGET_MS ? 'met' : 'MISSED'}`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
    process.exitCode = m < TARGET_MS ? 0 : 1;
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
