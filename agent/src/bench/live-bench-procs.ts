/**
 * Processes of `npm run bench:live` (live-bench.ts): the servers (nginx, redis-server) from temp
 * configs on loopback, the load generators (wrk, redis-benchmark) with their output parsed, and
 * `metaflow agent` as a separate process whose CPU time and peak memory are read from /proc (its
 * own and its loader's), whose kernel counters are read from the loader's `mf_stats` map, and
 * whose summary line is parsed when it exits.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '../../..');
export const METAFLOW_BIN = join(root, 'agent/bin/metaflow.js');

/** Every process the bench started, killed by `killAll` on any exit path. */
const started = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/** SIGTERM to everything still running (nginx's master takes its worker down with it). */
export function killAll(): void {
  for (const c of started) if (running(c)) c.kill('SIGTERM');
}

/** SIGTERM, then SIGKILL what is still running after `graceMs` (an agent flushing its store needs seconds). */
export async function stopAll(graceMs = 30_000): Promise<void> {
  killAll();
  const deadline = Date.now() + graceMs;
  while ([...started].some(running) && Date.now() < deadline) await sleep(50);
  for (const c of started) if (running(c)) c.kill('SIGKILL');
}

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort } from '../testing/live-servers';

export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** nginx with one worker answering `200 ok` on a loopback port, and redis-server without persistence. */
export async function startServers(dir: string, nginxPort: number, redisPort: number): Promise<void> {
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${nginxPort};
    location / { return 200 "ok"; }
  }
}
`,
  );
  track(spawn('nginx', ['-c', join(dir, 'nginx.conf')], { stdio: 'ignore' }));
  track(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
  await waitForPort(nginxPort);
  await waitForPort(redisPort);
}

/** Runs a command to its end, collecting its output; rejects on a non-zero exit. */
export function run(command: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr?.setEncoding('utf8').on('data', (t: string) => (err += t));
    child.on('error', rej);
    child.on('exit', (code, signal) => {
      if (code === 0) res(out);
      else rej(new Error(`${command} ${args.join(' ')}: ${signal ?? `exit ${code}`}: ${(err || out).slice(0, 400)}`));
    });
  });
}

export interface WorkloadResult {
  requestsPerSecond: number;
  /** Requests the load generator completed. */
  requests: number;
  seconds: number;
  /** Socket errors and non-2xx answers (wrk), or nothing. */
  errors: string;
  detail: string;
}

export async function runWrk(port: number, seconds: number): Promise<WorkloadResult> {
  const started = process.hrtime.bigint();
  const out = await run('wrk', ['-t1', '-c20', `-d${seconds}s`, `http://127.0.0.1:${port}/`]);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(out);
  if (!rps || !total) throw new Error(`wrk printed no result:\n${out}`);
  const unit = { ms: 0.001, s: 1, m: 60 }[total[3] as 'ms' | 's' | 'm'];
  const errors = [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(out)?.[0]].filter(Boolean).join('; ');
  return { requestsPerSecond: Number(rps[1]), requests: Number(total[1]), seconds: Number(total[2]) * unit || wall, errors, detail: '' };
}

/** `redis-benchmark -t get,set`: one rate for both, total requests over the sum of their times. */
export async function runRedisBenchmark(port: number, requests: number): Promise<WorkloadResult> {
  const started = process.hrtime.bigint();
  const out = await run('redis-benchmark', ['-p', String(port), '-q', '-n', String(requests), '-t', 'get,set', '-P', '1', '-c', '20', '--csv']);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const rates: Record<string, number> = {};
  for (const m of out.matchAll(/^"(\w+)","([\d.]+)"/gm)) rates[m[1]] = Number(m[2]);
  if (!rates.SET || !rates.GET) throw new Error(`redis-benchmark printed no result:\n${out}`);
  const seconds = requests / rates.SET + requests / rates.GET;
  return {
    requestsPerSecond: (2 * requests) / seconds,
    requests: 2 * requests,
    seconds: seconds || wall,
    errors: '',
    detail: `SET ${Math.round(rates.SET)}/s, GET ${Math.round(rates.GET)}/s`,
  };
}

export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export interface ProcSample {
  /** utime + stime of every thread, in seconds. */
  cpuSeconds: number;
  /** VmHWM: peak resident set, in KiB. */
  peakKb: number;
}

/** CPU time and peak RSS of a live process, or undefined once it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5); `fields` starts at field 3 (state).
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds, peakKb: hwm ? Number(hwm[1]) : 0 };
  } catch {
    return undefined;
  }
}

/** Children of a process (every thread's), from /proc/PID/task/TID/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/**
 * metaflow-loader processes on the machine that are not `ours`: another agent's eBPF programs
 * run in every process's syscalls, so a run "without" the agent is not one while they exist.
 */
export function otherLoaders(ours: number[] = []): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (!ours.includes(pid) && comm(pid) === 'metaflow-loader') out.push(pid);
  }
  return out;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Names of `enum mf_kstat` (bpf/metaflow.h), in order. */
const KSTAT_NAMES = [
  'dataEmitted',
  'dataFiltered',
  'dataRingDrops',
  'dataReadErrors',
  'lifecycleEmitted',
  'lifecycleRingDrops',
  'tcpEmitted',
  'tcpRingDrops',
  'tcpRttThrottled',
  'sslEmitted',
  'sslFiltered',
  'sslRingDrops',
  'internalRingDrops',
];

/**
 * The loader's per-CPU `mf_stats` counters, summed, read with bpftool from the map the loader
 * holds open (found through its fdinfo, so other agents on the machine do not mix in).
 */
export function readKernelStats(loaderPid: number): Record<string, number> | undefined {
  if (!has('bpftool')) return undefined;
  const ids = new Set<number>();
  try {
    for (const fd of readdirSync(`/proc/${loaderPid}/fdinfo`)) {
      const m = /^map_id:\s+(\d+)/m.exec(readFileSync(`/proc/${loaderPid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    }
  } catch {
    return undefined;
  }
  for (const id of ids) {
    const show = spawnSync('bpftool', ['map', 'show', 'id', String(id)], { encoding: 'utf8' });
    if (!/name mf_stats\b/.test(show.stdout)) continue;
    const dump = spawnSync('bpftool', ['map', 'dump', 'id', String(id), '-j'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    try {
      type Entry = { formatted?: { key: number; values: { cpu: number; value: number }[] } };
      const out: Record<string, number> = {};
      for (const e of JSON.parse(dump.stdout) as Entry[]) {
        if (!e.formatted) continue;
        const name = KSTAT_NAMES[e.formatted.key] ?? `k${e.formatted.key}`;
        out[name] = e.formatted.values.reduce((n, v) => n + Number(v.value), 0);
      }
      return out;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface AgentSummary {
  packets: number;
  socketEvents: number;
  requests: number;
  kernelDrops: number;
  storeRowsDropped: number;
  loaderRestarts: number;
}

/** The `metaflow agent: stopped. …` line of agent-command.ts. */
export function parseSummary(stderr: string): AgentSummary | undefined {
  const m =
    /stopped\. (\d+) packets, (\d+) socket events, (\d+) requests;.*?(\d+) records lost in the kernel(?: \([^)]*\))?, (\d+) rows dropped by the store, (\d+) loader restarts/.exec(
      stderr,
    );
  if (!m) return undefined;
  return {
    packets: Number(m[1]),
    socketEvents: Number(m[2]),
    requests: Number(m[3]),
    kernelDrops: Number(m[4]),
    storeRowsDropped: Number(m[5]),
    loaderRestarts: Number(m[6]),
  };
}

/** `metaflow agent` in its own process, with its loader as its child. */
export class AgentProcess {
  readonly child: ChildProcess;
  stderr = '';
  loaderPid = 0;
  private readonly exited: Promise<void>;
  /** Highest VmHWM seen, of the agent and of its loader. */
  peakKb = { agent: 0, loader: 0 };
  /** Last CPU seconds seen of the loader (it exits before the agent). */
  private loaderCpu = 0;

  constructor(store: string, filter: string, extraArgs: string[], nodeArgs: string[] = []) {
    this.child = track(
      spawn(process.execPath, [...nodeArgs, METAFLOW_BIN, 'agent', '--store', store, '--interfaces', 'lo', '--filter', filter, '--no-api', ...extraArgs], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    this.child.stderr?.setEncoding('utf8').on('data', (t: string) => (this.stderr += t));
    this.exited = new Promise((res) => this.child.once('exit', () => res()));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Resolves once the agent printed that it is capturing. */
  async ready(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!/metaflow agent: capturing/.test(this.stderr)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the agent exited before capturing:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`the agent did not start capturing within ${timeoutMs} ms:\n${this.stderr}`);
      await sleep(50);
    }
    this.loaderPid = childPids(this.pid).find((p) => comm(p) === 'metaflow-loader') ?? 0;
  }

  /** CPU seconds of the agent and its loader now; peaks are updated on the way. */
  sample(): { agent: number; loader: number } {
    const a = sampleProc(this.pid);
    const l = this.loaderPid ? sampleProc(this.loaderPid) : undefined;
    if (a) this.peakKb.agent = Math.max(this.peakKb.agent, a.peakKb);
    if (l) {
      this.peakKb.loader = Math.max(this.peakKb.loader, l.peakKb);
      this.loaderCpu = l.cpuSeconds;
    }
    return { agent: a?.cpuSeconds ?? NaN, loader: l?.cpuSeconds ?? this.loaderCpu };
  }

  /**
   * SIGTERM and wait for the exit, sampling /proc meanwhile: returns the last CPU seconds seen
   * (the flush of what was open included, up to the last 50 ms) and the parsed summary line.
   */
  async stop(timeoutMs = 120_000): Promise<{ cpu: { agent: number; loader: number }; summary?: AgentSummary }> {
    let last = this.sample();
    this.child.kill('SIGTERM');
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => (done = true));
    while (!done) {
      const s = this.sample();
      if (Number.isFinite(s.agent)) last = s;
      if (Date.now() > deadline) {
        this.child.kill('SIGKILL');
        await this.exited;
        throw new Error(`the agent did not exit within ${timeoutMs} ms of SIGTERM:\n${this.stderr}`);
      }
      await Promise.race([this.exited, sleep(50)]);
    }
    return { cpu: last, summary: parseSummary(this.stderr) };
  }
}
