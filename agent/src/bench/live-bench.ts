/**
 * `npm run bench:live`: the live agent's overhead on real servers. nginx (one worker, `return 200`)
 * under `wrk -t1 -c20` and redis-server under `redis-benchmark -t get,set -c20`, each without the
 * agent and with it (`metaflow agent --interfaces lo --filter 'tcp port …' --no-api`: eBPF socket
 * data on every process plus AF_PACKET on lo), alternated in one run (without/with, then
 * with/without, …), a fresh agent process per run with it.
 *
 * Printed per workload: median requests/s without and with, their ratio, the agent's CPU (its
 * Node.js process and its loader, from /proc, from the workload's start until 2 s after its end,
 * as seconds and as % of one core over the workload's time), its peak RSS (VmHWM of both), the
 * kernel drops of its summary line and of the loader's `mf_stats` map, and the requests it stored
 * (read from its chDB store after it exited) per observation point against the requests the load
 * generator completed: s-p (nginx / redis-server, eBPF), c-p (wrk / redis-benchmark, eBPF) and
 * local (packets on lo). Target (the issue): ≥ 0.90 of the throughput kept, zero kernel drops.
 * Each round also runs the workload beside the loader alone, its records thrown away: what the
 * eBPF programs and the packet ring cost the workload, apart from the agent that parses them.
 *
 * Environment: METAFLOW_BENCH_LIVE_ROUNDS (default 2: runs of each workload without and with the
 * agent), METAFLOW_BENCH_LIVE_SECONDS (wrk's duration, default 10), METAFLOW_BENCH_LIVE_REDIS_REQUESTS
 * (redis-benchmark's -n per command, default 200000), METAFLOW_BENCH_LIVE_WORKLOADS (nginx,redis),
 * METAFLOW_BENCH_LIVE_AGENT_ARGS (more `metaflow agent` arguments, e.g. `--no-packets`),
 * METAFLOW_BENCH_LIVE_CPU_PROF=DIR (the agent runs with `node --cpu-prof` into DIR),
 * METAFLOW_BENCH_LIVE_LOADER_ONLY=0 (skips the loader-alone runs).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLoader } from '../live/live-agent';
import { ChdbStore } from '../store/chdb-store';
import {
  AgentProcess,
  AgentSummary,
  freePort,
  has,
  METAFLOW_BIN,
  otherLoaders,
  readKernelStats,
  runRedisBenchmark,
  runWrk,
  sleep,
  startServers,
  stopAll,
  track,
  WorkloadResult,
} from './live-bench-procs';

type Workload = 'nginx' | 'redis';

const ROUNDS = Math.max(1, Number(process.env.METAFLOW_BENCH_LIVE_ROUNDS ?? 2));
const SECONDS = Math.max(1, Number(process.env.METAFLOW_BENCH_LIVE_SECONDS ?? 10));
const REDIS_REQUESTS = Math.max(1000, Number(process.env.METAFLOW_BENCH_LIVE_REDIS_REQUESTS ?? 200_000));
const WORKLOADS = (process.env.METAFLOW_BENCH_LIVE_WORKLOADS ?? 'nginx,redis').split(',').filter((w): w is Workload => w === 'nginx' || w === 'redis');
const AGENT_ARGS = (process.env.METAFLOW_BENCH_LIVE_AGENT_ARGS ?? '').split(/\s+/).filter(Boolean);
const CPU_PROF = process.env.METAFLOW_BENCH_LIVE_CPU_PROF;
const LOADER_ONLY = process.env.METAFLOW_BENCH_LIVE_LOADER_ONLY !== '0';
/** After the workload: time the agent gets to work off what is queued before its CPU is read. */
const SETTLE_MS = 2000;
const TARGET_RATIO = 0.9;
/** How long a run waits for another session's agent to end (its eBPF programs would be in the workload's syscalls). */
const OTHER_AGENT_WAIT_MS = Number(process.env.METAFLOW_BENCH_LIVE_WAIT_SECONDS ?? 120) * 1000;

const PROTOCOL: Record<Workload, string> = { nginx: 'http1', redis: 'redis' };
const SIDES = ['s-p', 'c-p', 'local'] as const;

interface StoredRow {
  l7_protocol: string;
  tap_side: string;
  port: number;
  rows: string;
  requests: string;
}

interface AgentRun {
  startupSeconds: number;
  /** CPU seconds from the workload's start to its end. */
  cpu: { agent: number; loader: number };
  /** CPU seconds in the SETTLE_MS after the workload's end (working off a backlog), of both. */
  tailCpu: number;
  /** CPU seconds from SIGTERM to the exit (final flush), of both. */
  stopCpu: number;
  wallSeconds: number;
  peakKb: { agent: number; loader: number };
  summary?: AgentSummary;
  kernel?: Record<string, number>;
  /** Requests stored on the workload's port, per observation point. */
  stored: Record<string, number>;
  otherRows: string;
  /** The agent's complaints (store errors, loader restarts), each distinct line once. */
  complaints: string[];
}

interface Run {
  workload: Workload;
  round: number;
  withAgent: boolean;
  /** Beside the loader alone (no agent): the kernel side's cost. */
  loaderOnly?: boolean;
  result: WorkloadResult;
  agent?: AgentRun;
  load: number[];
  /** Another agent's loader ran at the start or the end of the workload: not a clean measurement. */
  contaminated: boolean;
}

const write = (s: string): void => void process.stdout.write(s);
const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
const mb = (kb: number): string => (kb / 1024).toFixed(0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'live capture needs root';
  for (const c of ['nginx', 'redis-server', 'redis-benchmark', 'wrk']) if (!has(c)) return `${c} is not installed (apt-get install nginx-light redis-server redis-tools wrk)`;
  if (!ensureLoader()) return 'the eBPF loader is not built and could not be built (bash bpf/install-deps.sh && make -C bpf)';
  return undefined;
}

async function storedRequests(dir: string, workload: Workload, port: number): Promise<{ stored: Record<string, number>; other: string }> {
  const store = new ChdbStore(dir);
  try {
    const rows = await store.query<StoredRow>(
      `SELECT l7_protocol, tap_side, port_1 AS port, count() AS rows, countIf(attributes['counts_as_request'] = '1') AS requests
       FROM flow_log.l7_flow_log GROUP BY ALL ORDER BY ALL`,
    );
    const stored: Record<string, number> = {};
    const other: string[] = [];
    for (const r of rows) {
      if (r.port === port && r.l7_protocol === PROTOCOL[workload]) stored[r.tap_side] = (stored[r.tap_side] ?? 0) + Number(r.requests);
      else other.push(`${r.l7_protocol}/${r.tap_side}/${r.port}:${r.rows}`);
    }
    return { stored, other: other.join(' ') };
  } finally {
    await store.close();
  }
}

/** The workload, checking at its start and end that no other agent's loader is running. */
async function runWorkload(workload: Workload, ports: Record<Workload, number>, ours: number[]): Promise<{ result: WorkloadResult; contaminated: boolean }> {
  const before = otherLoaders(ours);
  const result = await (workload === 'nginx' ? runWrk(ports.nginx, SECONDS) : runRedisBenchmark(ports.redis, REDIS_REQUESTS));
  const after = otherLoaders(ours);
  return { result, contaminated: before.length + after.length > 0 };
}

/** Waits (up to OTHER_AGENT_WAIT_MS) until no other session's loader runs. */
async function waitForOtherLoaders(): Promise<void> {
  const deadline = Date.now() + OTHER_AGENT_WAIT_MS;
  let said = false;
  while (otherLoaders().length > 0 && Date.now() < deadline) {
    if (!said) write(`  (another metaflow-loader runs on this machine: pid ${otherLoaders().join(', ')}; waiting up to ${OTHER_AGENT_WAIT_MS / 1000} s for it to end)\n`);
    said = true;
    await sleep(500);
  }
}

async function withAgent(dir: string, tag: string, workload: Workload, ports: Record<Workload, number>): Promise<{ result: WorkloadResult; contaminated: boolean; agent: AgentRun }> {
  const storeDir = join(dir, `store-${tag}`);
  const filter = `tcp port ${ports.nginx} or tcp port ${ports.redis}`;
  const t0 = Date.now();
  const agent = new AgentProcess(storeDir, filter, AGENT_ARGS, CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=agent-${tag}.cpuprofile`] : []);
  try {
    await agent.ready();
    const startupSeconds = (Date.now() - t0) / 1000;
    await sleep(1000);
    const before = agent.sample();
    const w0 = process.hrtime.bigint();
    const { result, contaminated } = await runWorkload(workload, ports, [agent.loaderPid]);
    const wallSeconds = Number(process.hrtime.bigint() - w0) / 1e9;
    const ended = agent.sample();
    await sleep(SETTLE_MS);
    const settled = agent.sample();
    const kernel = agent.loaderPid ? readKernelStats(agent.loaderPid) : undefined;
    const stop = await agent.stop();
    const { stored, other } = await storedRequests(storeDir, workload, ports[workload]);
    const sum = (c: { agent: number; loader: number }): number => c.agent + c.loader;
    return {
      result,
      contaminated,
      agent: {
        startupSeconds,
        cpu: { agent: ended.agent - before.agent, loader: ended.loader - before.loader },
        tailCpu: sum(settled) - sum(ended),
        stopCpu: sum(stop.cpu) - sum(settled),
        wallSeconds,
        peakKb: { ...agent.peakKb },
        summary: stop.summary,
        kernel,
        stored,
        otherRows: other,
        complaints: complaints(agent.stderr),
      },
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\nagent stderr:\n${agent.stderr}`);
  } finally {
    // A failed or interrupted run: the agent still gets its SIGTERM and time to flush and close its store.
    if (agent.child.exitCode === null && agent.child.signalCode === null) await agent.stop().catch(() => undefined);
    rmSync(storeDir, { recursive: true, force: true });
  }
}

/** The workload beside the loader alone, the way the agent starts it, its records written to /dev/null. */
async function withLoaderOnly(workload: Workload, ports: Record<Workload, number>): Promise<{ result: WorkloadResult; contaminated: boolean }> {
  const loaderPath = ensureLoader() as string;
  const filter = `tcp port ${ports.nginx} or tcp port ${ports.redis}`;
  const loader = track(spawn(loaderPath, ['--interfaces', 'lo', '--filter', filter], { stdio: ['ignore', openSync('/dev/null', 'w'), 'ignore'] }));
  try {
    // The agent's own start-up wait: programs loaded and attached.
    await sleep(1500);
    return await runWorkload(workload, ports, [loader.pid ?? 0]);
  } finally {
    loader.kill('SIGTERM');
    if (loader.exitCode === null && loader.signalCode === null) await new Promise((resolve) => loader.once('exit', resolve));
  }
}

function complaints(stderr: string): string[] {
  const seen = new Set<string>();
  for (const line of stderr.split('\n')) {
    if (!/store:|error|fail|restart|broken|stopped \(/i.test(line) || /: stopped\. /.test(line)) continue;
    seen.add(line.replace(/\d+/g, 'N').slice(0, 240));
  }
  return [...seen].slice(0, 5);
}

function describe(r: Run): string {
  const beside = r.withAgent ? 'with   ' : r.loaderOnly ? 'loader alone' : 'without';
  const base = `${r.workload} round ${r.round + 1} ${beside}: ${Math.round(r.result.requestsPerSecond)} req/s, ${r.result.requests} requests in ${r.result.seconds.toFixed(1)} s`;
  const extra = [r.result.detail, r.result.errors].filter(Boolean).join('; ');
  const warn = r.contaminated ? '; CONTAMINATED: another metaflow-loader ran during it' : '';
  let line = `${base}${extra ? ` (${extra})` : ''}; load ${fmtLoad(r.load)}${warn}\n`;
  const a = r.agent;
  if (a) {
    const cpu = a.cpu.agent + a.cpu.loader;
    line +=
      `    agent: CPU ${cpu.toFixed(2)} s = ${((100 * cpu) / a.wallSeconds).toFixed(0)} % of a core during the workload (node ${a.cpu.agent.toFixed(2)} s, loader ${a.cpu.loader.toFixed(2)} s), ` +
      `then ${a.tailCpu.toFixed(2)} s in the ${SETTLE_MS / 1000} s after it and ${a.stopCpu.toFixed(2)} s to stop; peak RSS node ${mb(a.peakKb.agent)} MB + loader ${mb(a.peakKb.loader)} MB, ` +
      `started in ${a.startupSeconds.toFixed(1)} s\n`;
    const s = a.summary;
    line += s
      ? `    summary: ${s.packets} packets, ${s.socketEvents} socket events, ${s.requests} requests, ${s.kernelDrops} kernel drops, ${s.storeRowsDropped} store rows dropped, ${s.loaderRestarts} restarts\n`
      : '    summary: the agent printed no summary line\n';
    if (a.kernel) {
      const k = a.kernel;
      const ring = (k.dataRingDrops ?? 0) + (k.lifecycleRingDrops ?? 0) + (k.tcpRingDrops ?? 0) + (k.sslRingDrops ?? 0);
      const split = s ? ` → drops: BPF ring ${ring} (2 s before the stop), AF_PACKET ring ≈ ${Math.max(0, s.kernelDrops - ring)}` : '';
      line += `    mf_stats: ${Object.entries(k).map(([n, v]) => `${n}=${v}`).join(' ')}${split}\n`;
    }
    line += `    stored ${PROTOCOL[r.workload]} requests: ${SIDES.map((side) => `${side} ${a.stored[side] ?? 0} (${((a.stored[side] ?? 0) / r.result.requests).toFixed(3)})`).join(', ')}`;
    line += a.otherRows ? `; other rows: ${a.otherRows.slice(0, 300)}\n` : '\n';
    for (const c of a.complaints) line += `    agent said: ${c}\n`;
  }
  return line;
}

function table(runs: Run[]): boolean {
  const header =
    'workload'.padEnd(16) +
    'without req/s'.padStart(14) +
    'with req/s'.padStart(12) +
    'ratio'.padStart(7) +
    'loader alone'.padStart(13) +
    'agent CPU s*'.padStart(13) +
    'CPU %'.padStart(7) +
    'peak RSS MB'.padStart(12) +
    'kernel drops'.padStart(13) +
    'store drops'.padStart(12) +
    '  stored/sent s-p c-p local (min)';
  write(`\n${header}\n`);
  let met = true;
  const notes: string[] = [];
  for (const w of WORKLOADS) {
    // Runs during which another agent's loader ran are left out when clean runs exist.
    const clean = (rs: Run[]): Run[] => (rs.some((r) => !r.contaminated) ? rs.filter((r) => !r.contaminated) : rs);
    const without = clean(runs.filter((r) => r.workload === w && !r.withAgent && !r.loaderOnly));
    const loaderOnly = clean(runs.filter((r) => r.workload === w && r.loaderOnly));
    const withs = clean(runs.filter((r) => r.workload === w && r.withAgent));
    const left = runs.filter((r) => r.workload === w).length - without.length - withs.length - loaderOnly.length;
    const dirty = [...without, ...withs, ...loaderOnly].filter((r) => r.contaminated).length;
    if (left || dirty) notes.push(`${w}: ${left} runs left out and ${dirty} kept that ran beside another metaflow-loader`);
    const a = withs.map((r) => r.agent).filter((x): x is AgentRun => x !== undefined);
    const off = median(without.map((r) => r.result.requestsPerSecond));
    const on = median(withs.map((r) => r.result.requestsPerSecond));
    const ratio = on / off;
    const loaderRatio = median(loaderOnly.map((r) => r.result.requestsPerSecond)) / off;
    const cpu = median(a.map((x) => x.cpu.agent + x.cpu.loader + x.tailCpu));
    const pct = median(a.map((x) => (100 * (x.cpu.agent + x.cpu.loader)) / x.wallSeconds));
    const peak = Math.max(...a.map((x) => x.peakKb.agent + x.peakKb.loader));
    const drops = a.reduce((n, x) => n + (x.summary?.kernelDrops ?? NaN), 0);
    const storeDrops = a.reduce((n, x) => n + (x.summary?.storeRowsDropped ?? NaN), 0);
    const kept = SIDES.map((side) => Math.min(...withs.map((r) => (r.agent?.stored[side] ?? 0) / r.result.requests)).toFixed(3)).join(' ');
    write(
      `${w === 'nginx' ? 'nginx / wrk' : 'redis / r-bench'}`.padEnd(16) +
        Math.round(off).toString().padStart(14) +
        Math.round(on).toString().padStart(12) +
        ratio.toFixed(3).padStart(7) +
        (loaderOnly.length ? loaderRatio.toFixed(3) : '-').padStart(13) +
        cpu.toFixed(2).padStart(13) +
        pct.toFixed(0).padStart(7) +
        mb(peak).padStart(12) +
        String(drops).padStart(13) +
        String(storeDrops).padStart(12) +
        `  ${kept}\n`,
    );
    const ok = ratio >= TARGET_RATIO && drops === 0;
    met &&= ok;
    write(`  target ${w}: throughput kept ${(100 * ratio).toFixed(1)} % (≥ ${100 * TARGET_RATIO} %) ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}; kernel drops ${drops} (0) ${drops === 0 ? 'met' : 'NOT met'}\n`);
  }
  for (const n of notes) write(`note: ${n}\n`);
  write(
    `* during the workload and the ${SETTLE_MS / 1000} s after it (the backlog); CPU % is during the workload, of one core; peak RSS is the agent's plus its loader's; drops are summed over the runs with the agent; ` +
      `loader alone: throughput beside the loader with its records thrown away, over without (the kernel side's share of the cost)\n`,
  );
  return met;
}

async function main(): Promise<number> {
  const skip = whyNot();
  if (skip) {
    write(`bench:live skipped: ${skip}\n`);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-live-bench-'));
  const onSignal = (): void => {
    // SIGTERM to everything (the agent flushes and exits), SIGKILL after 30 s, then the files.
    void stopAll().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const runs: Run[] = [];
  try {
    const ports: Record<Workload, number> = { nginx: await freePort(), redis: await freePort() };
    await startServers(dir, ports.nginx, ports.redis);
    write(
      `bench:live: ${cpus().length} CPUs, load ${fmtLoad(loadavg())}; nginx on ${ports.nginx}, redis on ${ports.redis}; ${ROUNDS} rounds; ` +
        `wrk -t1 -c20 -d${SECONDS}s, redis-benchmark -t get,set -c20 -P1 -n ${REDIS_REQUESTS}; agent: ${METAFLOW_BIN} agent --interfaces lo --no-api ${AGENT_ARGS.join(' ')}\n`,
    );
    // Warm-up, not measured.
    await runWrk(ports.nginx, 2);
    await runRedisBenchmark(ports.redis, 20_000);
    for (let round = 0; round < ROUNDS; round++) {
      for (const workload of WORKLOADS) {
        for (const on of round % 2 === 0 ? [false, true] : [true, false]) {
          await waitForOtherLoaders();
          const load = loadavg();
          const run: Run = on
            ? { workload, round, withAgent: true, load, ...(await withAgent(dir, `${workload}-${round}`, workload, ports)) }
            : { workload, round, withAgent: false, load, ...(await runWorkload(workload, ports, [])) };
          runs.push(run);
          write(describe(run));
          await sleep(1000);
        }
        if (LOADER_ONLY) {
          await waitForOtherLoaders();
          const load = loadavg();
          const run: Run = { workload, round, withAgent: false, loaderOnly: true, load, ...(await withLoaderOnly(workload, ports)) };
          runs.push(run);
          write(describe(run));
          await sleep(1000);
        }
      }
    }
    const met = table(runs);
    write(`\nload average at the end: ${fmtLoad(loadavg())}\ntargets (≥ ${TARGET_RATIO} of throughput, zero kernel drops): ${met ? 'met' : 'NOT met'}\n`);
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e: Error) => {
    process.stderr.write(`bench:live failed: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
