/**
 * `npm run bench:query`: latency of the RED overview dashboard's queries through the query API
 * (validate → compile → chDB → frames: what the API does minus HTTP) over a day of generated
 * 1-minute data, next to the same questions written by hand in ClickHouse SQL and run on the same
 * store in the same run. Runs alternate (the order rotating each round) after warm-up; the report is
 * p50 and p95 per panel and the ratio ours ÷ hand-written. Target: ≤ 1.2.
 *
 * Also timed, to tell where a difference comes from: our compiled SQL run directly on the store
 * (engine + JSON parse, no frames), and the whole dashboard at once (Grafana sends its panels'
 * queries concurrently).
 *
 * Environment: METAFLOW_BENCH_SERVICES (200), METAFLOW_BENCH_ENDPOINTS (10 per service),
 * METAFLOW_BENCH_CLIENTS (3 per service), METAFLOW_BENCH_RUNS (25), METAFLOW_BENCH_SHOW_SQL=1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compileQuery } from '../query/compile-query';
import { QueryService } from '../query/query-service';
import { MAX_LIMIT, validateQuery } from '../query/structured-query';
import { ChdbStore } from '../store/chdb-store';
import { migrate } from '../store/store';
import { APPLICATION_1M, DataShape, loadDay, makeServices, rng } from './query-bench-data';
import { compareResults, keyedFrames, keyedRows, loadPanels } from './query-bench-panels';

const root = resolve(__dirname, '../../..');
const DASHBOARD = join(root, 'provisioning/dashboards/metaflow/red-overview.json');
const TARGET = 1.2;
const WARMUP = 2;
const STEP = 300;

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

const out = (text = ''): void => void process.stdout.write(text + '\n');

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Nearest-rank percentile of samples in ms. */
function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

interface Contender {
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Warm-up, then `runs` rounds; each round runs every contender once, the order rotating from round
 * to round so none always runs first (after the other's caches, or during its cleanup).
 */
async function measure(contenders: Contender[], runs: number): Promise<number[][]> {
  for (let i = 0; i < WARMUP; i++) for (const c of contenders) await c.run();
  const samples = contenders.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (r + k) % contenders.length;
      samples[i].push(await timed(contenders[i].run));
    }
  }
  return samples;
}

interface Row {
  title: string;
  ours: number[];
  oursSql: number[];
  hand: number[];
  rows: number;
}

const fmt = (ms: number): string => ms.toFixed(1);
const ratioText = (r: number): string => `${r.toFixed(2)}×`;

async function main(): Promise<void> {
  const shape: DataShape = {
    services: env('METAFLOW_BENCH_SERVICES', 200),
    endpointsPerService: env('METAFLOW_BENCH_ENDPOINTS', 10),
    clientsPerService: env('METAFLOW_BENCH_CLIENTS', 3),
    dayStart: Date.UTC(2025, 0, 15) / 1000,
    minutes: 1440,
    batchRows: 100_000,
  };
  const runs = Math.max(20, env('METAFLOW_BENCH_RUNS', 25));
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-query-bench-'));
  const store = new ChdbStore(dir);
  try {
    await migrate(store);
    const random = rng(20250115);
    const services = makeServices(shape, random);
    out(
      `data: a day of 1-minute RED rows into ${APPLICATION_1M.database}.${APPLICATION_1M.name}: ${shape.services} services × ` +
        `${shape.endpointsPerService} endpoints, ${shape.clientsPerService} client hosts per service, tap sides s and c`,
    );
    const load = await loadDay(store, shape, services, random);
    const counted = await store.query<{ n: string; parts: string }>(
      `SELECT count() AS n, (SELECT count() FROM system.parts WHERE active AND database = '${APPLICATION_1M.database}' AND table = '${APPLICATION_1M.name}') AS parts FROM ${APPLICATION_1M.database}.${APPLICATION_1M.name}`,
    );
    out(
      `  ${load.rows.toLocaleString('en')} rows (s: ${load.sRows.toLocaleString('en')}, c: ${load.cRows.toLocaleString('en')}), ` +
        `${(load.bytes / 1e9).toFixed(2)} GB of JSONEachRow, ${(load.requests / 1e6).toFixed(1)} M requests seen by servers`,
    );
    out(
      `  load ${load.loadSeconds.toFixed(1)} s (${Math.round(load.rows / load.loadSeconds).toLocaleString('en')} rows/s; generating ${load.generateSeconds.toFixed(1)} s of it, overlapped with inserts), ` +
        `OPTIMIZE FINAL ${load.optimizeSeconds.toFixed(1)} s; stored ${Number(counted[0].n).toLocaleString('en')} rows in ${counted[0].parts} part(s)`,
    );
    if (Number(counted[0].n) !== load.rows) out(`  !!! MISMATCH: generated ${load.rows} rows, the table holds ${counted[0].n}`);

    const service = new QueryService(store, { version: 'bench' });
    const panels = loadPanels(DASHBOARD, {
      fromSec: shape.dayStart,
      toSec: shape.dayStart + 86_400,
      step: STEP,
      services: services.map((s) => s.name),
      tapSide: 's',
      fullLimit: MAX_LIMIT,
    });
    out(`\nqueries: the ${panels.length} panels of ${DASHBOARD.slice(root.length + 1)}, 24 h, step ${STEP} s, $service = All (${services.length}), $tap_side = s`);

    // Same answers? And does the dashboard's query, as saved, return the whole answer?
    let mismatches = 0;
    for (const p of panels) {
      const ours = await service.structured(p.query);
      const hand = await store.query<Record<string, unknown>>(p.hand);
      const problems = compareResults(p, keyedFrames(p, ours.frames), keyedRows(p, hand));
      const sent = await service.structured(p.asSent);
      const sentRows = keyedFrames(p, sent.frames).size;
      const truncated = sentRows < hand.length ? `; as saved in the dashboard (limit ${validateQuery(p.asSent).limit}) only ${sentRows} rows: TRUNCATED` : '';
      out(`  ${p.title.padEnd(28)} ${String(hand.length).padStart(6)} rows  ${problems.length ? '!!! MISMATCH' : 'same numbers'}${truncated}`);
      for (const line of problems) out(`      !!! ${line}`);
      if (problems.length) mismatches++;
      if (process.env.METAFLOW_BENCH_SHOW_SQL) out(`    ours:\n${ours.sql.replace(/^/gm, '      ')}\n    hand-written:\n      ${p.hand}`);
    }

    out(`\ntiming: ${WARMUP} warm-up runs each, then ${runs} rounds of ours / our SQL alone / hand-written in rotating order`);
    const results: Row[] = [];
    for (const p of panels) {
      const compiled = compileQuery(validateQuery(p.query));
      const [ours, oursSql, hand] = await measure(
        [
          { name: 'ours', run: () => service.structured(p.query) },
          { name: 'our SQL', run: () => store.query(compiled.sql, compiled.params) },
          { name: 'hand-written', run: () => store.query(p.hand) },
        ],
        runs,
      );
      const rows = (await store.query(p.hand)).length;
      results.push({ title: p.title, ours, oursSql, hand, rows });
      out(`  ${p.title}: done`);
    }
    // The dashboard as Grafana loads it: every panel's query at once.
    const [dashOurs, dashSql, dashHand] = await measure(
      [
        { name: 'ours', run: () => Promise.all(panels.map((p) => service.structured(p.query))) },
        {
          name: 'our SQL',
          run: () =>
            Promise.all(
              panels.map((p) => {
                const c = compileQuery(validateQuery(p.query));
                return store.query(c.sql, c.params);
              }),
            ),
        },
        { name: 'hand-written', run: () => Promise.all(panels.map((p) => store.query(p.hand))) },
      ],
      runs,
    );

    out('\n' + 'panel'.padEnd(30) + 'rows'.padStart(7) + '   ours p50     p95' + '   our SQL p50' + '   hand p50     p95' + '   ratio p50    p95');
    const line = (title: string, rows: string, o: number[], s: number[], h: number[]): number => {
      const r50 = percentile(o, 0.5) / percentile(h, 0.5);
      const r95 = percentile(o, 0.95) / percentile(h, 0.95);
      out(
        title.padEnd(30) +
          rows.padStart(7) +
          fmt(percentile(o, 0.5)).padStart(11) +
          fmt(percentile(o, 0.95)).padStart(8) +
          fmt(percentile(s, 0.5)).padStart(14) +
          fmt(percentile(h, 0.5)).padStart(11) +
          fmt(percentile(h, 0.95)).padStart(8) +
          ratioText(r50).padStart(12) +
          ratioText(r95).padStart(7) +
          (r50 > TARGET ? '  > target' : ''),
      );
      return r50;
    };
    const ratios = results.map((r) => line(r.title, String(r.rows), r.ours, r.oursSql, r.hand));
    // Overall: the dashboard's panels one after another (sum of p50s), and the geometric mean.
    const sum = (rows: Row[], pick: (r: Row) => number[], p: number): number => rows.reduce((a, r) => a + percentile(pick(r), p), 0);
    const total50 = sum(results, (r) => r.ours, 0.5) / sum(results, (r) => r.hand, 0.5);
    const total95 = sum(results, (r) => r.ours, 0.95) / sum(results, (r) => r.hand, 0.95);
    const geomean = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
    out(
      'all panels, one by one'.padEnd(37) +
        fmt(sum(results, (r) => r.ours, 0.5)).padStart(11) +
        fmt(sum(results, (r) => r.ours, 0.95)).padStart(8) +
        fmt(sum(results, (r) => r.oursSql, 0.5)).padStart(14) +
        fmt(sum(results, (r) => r.hand, 0.5)).padStart(11) +
        fmt(sum(results, (r) => r.hand, 0.95)).padStart(8) +
        ratioText(total50).padStart(12) +
        ratioText(total95).padStart(7),
    );
    const concurrent = line('all panels at once (Grafana)', '', dashOurs, dashSql, dashHand);
    out(`\ngeometric mean of the per-panel p50 ratios: ${ratioText(geomean)}`);
    const worst = Math.max(...ratios);
    const met = total50 <= TARGET && worst <= TARGET;
    out(
      `target: ours ÷ hand-written ≤ ${TARGET} (p50) — overall ${ratioText(total50)}, worst panel ${ratioText(worst)}, ` +
        `dashboard at once ${ratioText(concurrent)}: ${met ? 'MET' : 'NOT MET'}${met && concurrent > TARGET ? ' (one by one; not when the panels load together)' : ''}`,
    );
    if (mismatches) out(`!!! ${mismatches} panel(s) answered differently from the hand-written SQL: see above`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
