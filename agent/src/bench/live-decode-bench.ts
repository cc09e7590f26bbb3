/**
 * `npm run bench:live-decode`: the live agent's socket path without the kernel. A stream of
 * loader records like bench:live's (live-decode-stream.ts: wrk ↔ nginx, redis-benchmark ↔
 * redis-server, 20 keep-alive connections each) is fed in 64 KiB chunks, as the loader's pipe
 * delivers it, through what `metaflow agent` does with it: LoaderStreamParser → the agent's record
 * handlers → SocketTracker → L7 parsers → L7Output → the agent's BatchWriter, whose store takes
 * the batches and drops them; the agent's tick (the tracker's expiry and the writer's flush)
 * runs once per simulated second.
 *
 * The peer, measured in the same run on the same chunks, is the same path built from an earlier
 * commit (default: the last one before the hot path was rewritten; its `agent/src` is taken with
 * `git archive` and transpiled into a cache under the temp dir). Runs alternate between the two,
 * the first of each is a warm-up. Printed: the process's CPU time per socket record (what the
 * agent costs the host, and less disturbed than the wall clock by other work on the machine),
 * median and best of the timed runs, and records per second of wall clock; then the same for
 * decoding alone (the records decoded and what each version's agent reads of them). Both must
 * store the same rows: the request-log rows are counted and compared with the stream's requests.
 *
 * Environment: METAFLOW_BENCH_LIVE_DECODE_REQUESTS (per workload, default 100,000),
 * METAFLOW_BENCH_LIVE_DECODE_RUNS (timed runs of each, default 5),
 * METAFLOW_BENCH_LIVE_DECODE_WORKLOADS (default nginx,redis; empty: only the replay),
 * METAFLOW_BENCH_LIVE_DECODE_BASELINE (a git ref; `none` skips the peer),
 * METAFLOW_BENCH_LIVE_DECODE_ONLY=current|baseline (one side only, e.g. for `node --cpu-prof`),
 * METAFLOW_BENCH_LIVE_DECODE_REPLAY=FILE (also replays a recorded loader stdout, e.g.
 * `sudo bpf/build/metaflow-loader --no-packets > FILE` during a bench:live workload).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { L7Output } from '../l7/l7-output';
import { ALL_L7_MODULES } from '../l7/modules';
import { ProtocolInference } from '../l7/protocol-inference';
import { LoaderStreamParser } from '../live/loader-records';
import { ProcessTags, SocketTracker } from '../live/socket-tracker';
import { RowSink } from '../aggregate/network-aggregator';
import { BatchWriter } from '../store/batch-writer';
import { Store } from '../store/store';
import { TableDef } from '../store/tables';
import { chunks, liveStream, LiveWorkload } from './live-decode-stream';

const root = gitRoot() ?? resolve(__dirname, '../../..');
/** The last commit before the socket path's rewrite: the peer unless told otherwise. */
const DEFAULT_BASELINE = '9606483d5a570fdace0a82a53e6701ade70631ca';
const REQUESTS = Math.max(1000, Number(process.env.METAFLOW_BENCH_LIVE_DECODE_REQUESTS ?? 100_000));
const RUNS = Math.max(1, Number(process.env.METAFLOW_BENCH_LIVE_DECODE_RUNS ?? 5));
const BASELINE_REF = process.env.METAFLOW_BENCH_LIVE_DECODE_BASELINE ?? DEFAULT_BASELINE;
const ONLY = process.env.METAFLOW_BENCH_LIVE_DECODE_ONLY;
const REPLAY = process.env.METAFLOW_BENCH_LIVE_DECODE_REPLAY;
const WORKLOADS = (process.env.METAFLOW_BENCH_LIVE_DECODE_WORKLOADS ?? 'nginx,redis').split(',').filter((w): w is LiveWorkload => w === 'nginx' || w === 'redis');
/** Chunks per simulated second (~1 s of bench:live's record rate): rows dropped, tick run. */
const CHUNKS_PER_TICK = 512;
const HOUR_US = 3_600_000_000;

/** Process tags as the agent's ProcessTable gives them, without /proc. */
const TAGS: ProcessTags = {
  local: (pid, comm) => ({ pid, process: comm, container: '', service: comm }),
  isListening: (_t, port) => port === 18080 || port === 16379,
};

interface Pipeline {
  feed(chunk: Buffer): void;
  /** The agent's one-second tick (expiry of the socket flows). */
  tick(): void;
  /** The agent stops: every socket flow ends. */
  finish(): void;
  readonly socketEvents: number;
}

interface Implementation {
  label: string;
  make(sink: RowSink): Pipeline;
  /** The loader's records decoded, and per socket record what its agent reads of it, nothing more. */
  decodeOnly(): Pipeline;
}

/** A store that takes every insert and keeps nothing but the count of rows per table. */
function discardingStore(rows: Map<string, number>): Store {
  return {
    description: 'discarding store (bench)',
    exec: () => Promise.resolve(),
    insert: (table: TableDef, _data: Buffer, n: number) => {
      rows.set(table.name, (rows.get(table.name) ?? 0) + n);
      return Promise.resolve();
    },
    query: <T>() => Promise.resolve([] as T[]),
    close: () => Promise.resolve(),
  };
}

/** This tree: the handlers are live-agent.ts's (LiveAgent's data and sockEvent handlers). */
function current(): Implementation {
  return {
    label: 'this tree',
    make(sink) {
      const out = new L7Output(sink, 'bench');
      const sockets = new SocketTracker(out, new ProtocolInference(ALL_L7_MODULES), TAGS);
      let bootOffsetUs = 0;
      let socketEvents = 0;
      let lastUs = 0;
      const parser = new LoaderStreamParser({
        hello: (h) => (bootOffsetUs = Number(h.bootOffsetNs / 1000n)),
        stats: (s) => (bootOffsetUs = Number(s.bootOffsetNs / 1000n)),
        data: (d) => {
          socketEvents++;
          lastUs = d.tsUs + bootOffsetUs;
          sockets.loaderData(d, lastUs);
        },
        sockEvent: (e) => {
          socketEvents++;
          sockets.loaderEvent(e, e.tsUs + bootOffsetUs);
        },
      });
      return {
        feed: (chunk) => parser.feed(chunk),
        tick: () => {
          sockets.expire(lastUs, 300_000_000);
          out.beginSecond(Math.floor(lastUs / 1e6));
        },
        finish: () => {
          sockets.finish(lastUs + HOUR_US);
          out.flush();
        },
        get socketEvents() {
          return socketEvents;
        },
      };
    },
    decodeOnly() {
      let socketEvents = 0;
      let sum = 0;
      // What SocketTracker.loaderData reads of a record for a socket whose flow is open.
      const parser = new LoaderStreamParser({
        data: (d) => {
          socketEvents++;
          sum += d.tsUs + d.pid + d.sockHi + d.sockLo + d.ipProto + d.bytes + d.payload.length + (d.tls ? 1 : 0) + (d.direction === 'egress' ? 1 : 0);
        },
        sockEvent: (e) => {
          socketEvents++;
          sum += e.tsUs + e.pid + e.sockHi + e.sockLo;
        },
      });
      return decodePipeline(parser, () => socketEvents, () => sum);
    },
  };
}

function decodePipeline(parser: { feed(b: Buffer): void }, events: () => number, sum: () => number): Pipeline {
  return {
    feed: (chunk) => parser.feed(chunk),
    tick: () => undefined,
    finish: () => {
      if (Number.isNaN(sum())) throw new Error('unreachable');
    },
    get socketEvents() {
      return events();
    },
  };
}

// The peer's modules, as much of their shape as its handlers use (live-agent.ts at that commit).
interface OldDataRecord {
  tsNs: bigint;
  sockId: string;
  pid: number;
  comm: string;
  ipProto: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  direction: 'egress' | 'ingress';
  bytes: number;
  payload: Buffer;
  tls: boolean;
}
interface OldSockEvent {
  tsNs: bigint;
  sockId: string;
  pid: number;
  kind: 'connect' | 'accept' | 'close';
  ipProto: number;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  comm: string;
}
interface OldModules {
  parser: { LoaderStreamParser: new (on: { hello(h: { bootOffsetNs: bigint }): void; stats(s: { bootOffsetNs: bigint }): void; data(d: OldDataRecord): void; sockEvent(e: OldSockEvent): void }) => { feed(b: Buffer): void } };
  tracker: {
    SocketTracker: new (
      out: unknown,
      inference: unknown,
      tags: ProcessTags,
    ) => { data(e: unknown): void; role(e: unknown): void; close(pid: number, id: string, tsUs: number): void; expire(nowUs: number, timeoutUs: number): void; finish(nowUs: number): void };
  };
  output: { L7Output: new (sink: RowSink, host: string) => { beginSecond(s: number): void; flush(): void } };
  inference: { ProtocolInference: new (modules: unknown) => unknown };
  modules: { ALL_L7_MODULES: unknown };
}

/** The peer: the same path from `dist` (transpiled from an earlier commit). */
function baseline(dist: string, label: string): Implementation {
  const load = createRequire(__filename);
  const m: OldModules = {
    parser: load(join(dist, 'live/loader-records.js')) as OldModules['parser'],
    tracker: load(join(dist, 'live/socket-tracker.js')) as OldModules['tracker'],
    output: load(join(dist, 'l7/l7-output.js')) as OldModules['output'],
    inference: load(join(dist, 'l7/protocol-inference.js')) as OldModules['inference'],
    modules: load(join(dist, 'l7/modules.js')) as OldModules['modules'],
  };
  return {
    label,
    make(sink) {
      const out = new m.output.L7Output(sink, 'bench');
      const sockets = new m.tracker.SocketTracker(out, new m.inference.ProtocolInference(m.modules.ALL_L7_MODULES), TAGS);
      let bootOffsetUs = 0;
      let socketEvents = 0;
      let lastUs = 0;
      const wallUs = (tsNs: bigint): number => Number(tsNs / 1000n) + bootOffsetUs;
      // live-agent.ts's handlers at that commit.
      const parser = new m.parser.LoaderStreamParser({
        hello: (h) => (bootOffsetUs = Number(h.bootOffsetNs / 1000n)),
        stats: (s) => (bootOffsetUs = Number(s.bootOffsetNs / 1000n)),
        data: (d) => {
          socketEvents++;
          const ipProto = d.tls && d.ipProto === 0 ? 6 : d.ipProto;
          if (ipProto !== 6 && ipProto !== 17) return;
          lastUs = wallUs(d.tsNs);
          sockets.data({
            tsUs: lastUs,
            pid: d.pid,
            comm: d.comm,
            socketId: d.sockId,
            transport: ipProto === 6 ? 'tcp' : 'udp',
            localIp: d.localIp,
            localPort: d.localPort,
            remoteIp: d.remoteIp,
            remotePort: d.remotePort,
            direction: d.direction,
            bytes: d.bytes,
            payload: d.payload,
            tls: d.tls,
          });
        },
        sockEvent: (e) => {
          socketEvents++;
          if (e.kind === 'close') sockets.close(e.pid, e.sockId, wallUs(e.tsNs));
          else sockets.role({ ...e, tsUs: wallUs(e.tsNs), socketId: e.sockId, transport: e.ipProto === 17 ? 'udp' : 'tcp', role: e.kind === 'connect' ? 'client' : 'server' });
        },
      });
      return {
        feed: (chunk) => parser.feed(chunk),
        tick: () => {
          sockets.expire(lastUs, 300_000_000);
          out.beginSecond(Math.floor(lastUs / 1e6));
        },
        finish: () => {
          sockets.finish(lastUs + HOUR_US);
          out.flush();
        },
        get socketEvents() {
          return socketEvents;
        },
      };
    },
    decodeOnly() {
      let socketEvents = 0;
      let sum = 0;
      // What live-agent.ts's handlers read of every record at that commit.
      const parser = new m.parser.LoaderStreamParser({
        hello: () => undefined,
        stats: () => undefined,
        data: (d) => {
          socketEvents++;
          sum +=
            Number(d.tsNs / 1000n) + d.pid + d.comm.length + d.sockId.length + d.ipProto + d.localIp.length + d.localPort + d.remoteIp.length + d.remotePort + d.bytes + d.payload.length + (d.tls ? 1 : 0) + (d.direction === 'egress' ? 1 : 0);
        },
        sockEvent: (e) => {
          socketEvents++;
          sum += Number(e.tsNs / 1000n) + e.pid + e.sockId.length;
        },
      });
      return decodePipeline(parser, () => socketEvents, () => sum);
    },
  };
}

function gitRoot(): string | undefined {
  const r = spawnSync('git', ['-C', __dirname, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function git(args: string[]): string | undefined {
  const r = spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `agent/src` of `ref`, transpiled (no type check) into a cache dir; its `dist`, or why not. */
async function baselineDist(ref: string): Promise<{ dist?: string; commit?: string; why?: string }> {
  const commit = git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (!commit) return { why: `git does not know ${ref} here` };
  const base = join(tmpdir(), `metaflow-live-decode-${commit.slice(0, 12)}`);
  const dist = join(base, 'dist');
  if (existsSync(join(dist, '.complete'))) return { dist, commit };
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const tar = spawnSync('sh', ['-c', 'git -C "$1" archive "$2" agent/src | tar -x -C "$3"', 'sh', root, commit, base], { encoding: 'utf8' });
  if (tar.status !== 0) return { why: `git archive failed: ${tar.stderr.trim()}` };
  const ts = (await import('typescript')).default;
  const src = join(base, 'agent/src');
  const building = `${dist}.part`;
  for (const file of tsFiles(src)) {
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const to = join(building, relative(src, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, js);
  }
  writeFileSync(join(building, '.complete'), commit);
  renameSync(building, dist);
  return { dist, commit };
}

interface RunResult {
  /** Wall time, and CPU time of the process (user + system, GC threads included). */
  seconds: number;
  cpuSeconds: number;
  socketEvents: number;
  logRows: number;
  redRows: number;
}

async function runOnce(impl: Implementation, input: Buffer[], decodeOnly: boolean): Promise<RunResult> {
  const rows = new Map<string, number>();
  const writer = new BatchWriter(discardingStore(rows));
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const p = decodeOnly ? impl.decodeOnly() : impl.make(writer);
  for (let i = 0; i < input.length; i++) {
    p.feed(input[i]);
    if ((i + 1) % CHUNKS_PER_TICK === 0) {
      p.tick();
      await writer.flush();
    }
  }
  p.finish();
  await writer.flush();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, socketEvents: p.socketEvents, logRows: rows.get('l7_flow_log') ?? 0, redRows: rows.get('application_map_1s') ?? 0 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Measured {
  /** CPU seconds: median and least of the timed runs; wall seconds: median. */
  median: number;
  best: number;
  wall: number;
  result: RunResult;
}

/** Runs each implementation RUNS times after a warm-up, alternating between them. */
async function timeAll(impls: Implementation[], input: Buffer[], decodeOnly: boolean): Promise<Measured[]> {
  const cpu = impls.map(() => [] as number[]);
  const wall = impls.map(() => [] as number[]);
  const results: RunResult[] = [];
  for (let run = 0; run <= RUNS; run++) {
    // Alternate, and swap the order every run, so drift and GC state hit both alike.
    const order = run % 2 === 0 ? impls.map((_, i) => i) : impls.map((_, i) => impls.length - 1 - i);
    for (const i of order) {
      const r = await runOnce(impls[i], input, decodeOnly);
      if (run > 0) {
        cpu[i].push(r.cpuSeconds);
        wall[i].push(r.seconds);
      }
      results[i] = r;
    }
  }
  return impls.map((_, i) => ({ median: median(cpu[i]), best: Math.min(...cpu[i]), wall: median(wall[i]), result: results[i] }));
}

function printRows(what: string, impls: Implementation[], m: Measured[], withRows: boolean): void {
  const events = m[0].result.socketEvents;
  process.stdout.write(
    `  ${what}`.padEnd(36) + 'CPU µs/event'.padStart(13) + '(best)'.padStart(9) + 'events/s'.padStart(12) + (withRows ? 'l7_flow_log rows'.padStart(18) + 'RED rows'.padStart(10) : '') + '\n',
  );
  impls.forEach((impl, i) => {
    const { median: s, best, wall, result: r } = m[i];
    process.stdout.write(
      `    ${impl.label}`.padEnd(36) +
        fmt((s / events) * 1e6, 3).padStart(13) +
        fmt((best / events) * 1e6, 3).padStart(9) +
        fmt(events / wall).padStart(12) +
        (withRows ? fmt(r.logRows).padStart(18) + fmt(r.redRows).padStart(10) : '') +
        '\n',
    );
  });
  if (impls.length === 2) {
    process.stdout.write(`    ${impls[1].label}: ${(m[0].median / m[1].median).toFixed(2)}× fewer µs/event than ${impls[0].label} (best runs: ${(m[0].best / m[1].best).toFixed(2)}×)\n`);
  }
}

async function measure(name: string, input: Buffer[], impls: Implementation[], expectedLogRows: number | undefined): Promise<void> {
  const full = await timeAll(impls, input, false);
  const decode = await timeAll(impls, input, true);
  const results = full.map((f) => f.result);
  process.stdout.write(`\n${name}: ${fmt(results[0].socketEvents)} socket records (data + socket events), ${input.length} chunks of 64 KiB\n`);
  printRows('decode → tracker → L7 → rows', impls, full, true);
  printRows('decode alone', impls, decode, false);
  if (results.some((r) => r.logRows !== results[0].logRows || r.redRows !== results[0].redRows || r.socketEvents !== results[0].socketEvents)) {
    process.stdout.write(`  !!! the two stored different rows: compare them before trusting the times\n`);
  }
  const mine = results[results.length - 1];
  if (expectedLogRows !== undefined && mine.logRows !== expectedLogRows) {
    process.stdout.write(`  !!! ${fmt(mine.logRows)} request-log rows, expected ${fmt(expectedLogRows)} (one per request at c-p and at s-p)\n`);
  }
}

async function main(): Promise<void> {
  const impls: Implementation[] = [];
  if (ONLY !== 'current' && BASELINE_REF !== 'none') {
    const b = await baselineDist(BASELINE_REF);
    if (b.dist && b.commit) impls.push(baseline(b.dist, `baseline ${b.commit.slice(0, 9)}`));
    else process.stdout.write(`no baseline: ${b.why}\n`);
  }
  if (ONLY !== 'baseline') impls.push(current());
  process.stdout.write(
    `bench:live-decode: loader records → socket tracker → L7 → rows (store stubbed), ${RUNS} timed runs each after a warm-up, alternated; ` +
      `µs/event is the process's CPU time (median, and best run), events/s on the wall clock (median); ` +
      `node ${process.version}, ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  );
  for (const workload of WORKLOADS) {
    const s = liveStream(workload, REQUESTS);
    await measure(`${workload} (${fmt(s.requests)} requests on ${s.connections} connections, ${fmt(s.bytes.length / 1e6, 1)} MB)`, chunks(s.bytes), impls, 2 * s.requests);
  }
  if (REPLAY) await measure(`replay of ${REPLAY}`, chunks(readFileSync(REPLAY)), impls, undefined);
}

void main();
