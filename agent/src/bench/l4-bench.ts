/**
 * `npm run bench`: the L4 pipeline (reader → decoder → flows → aggregation → embedded ClickHouse)
 * on a large capture built from the project's own recording, next to peers measured in the same
 * run on the same file: tcpdump (read floor), nDPI's ndpiReader (a fast C flow analyser) and
 * tshark's TCP conversations. Then peak memory with a million concurrent flows.
 *
 * Every line is the median of METAFLOW_BENCH_RUNS runs (3 by default), each run listed beside
 * it: on a shared two-core machine one run swings by ±15%. Ours run in this process, so their
 * first run also pays for compiling the pipeline and for the process's first touch of the memory
 * it then reuses; that run is in the list.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CaptureReader, readFileChunks } from '../capture/capture-reader';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { replay } from '../pipeline/replay';
import { ChdbStore } from '../store/chdb-store';
import { RowCollector } from '../store/row-collector';
import { makeBenchCapture } from './make-bench-capture';

const root = resolve(__dirname, '../../..');
const capture = process.env.METAFLOW_BENCH_CAPTURE ?? join(root, 'bench-data', 'bench.pcap');

interface Result {
  name: string;
  seconds: number;
  /** CPU seconds of every thread of the run (ours: the store's too), user and system. */
  cpu?: number;
  note?: string;
  /** Every run's seconds, in order, when `seconds` is their median. */
  runs?: number[];
}

const RUNS = Math.max(1, Number(process.env.METAFLOW_BENCH_RUNS ?? 3));

/** The median of `RUNS` runs of `once`, with every run's time kept. */
async function medianOf(once: () => Result | Promise<Result>): Promise<Result> {
  const results: Result[] = [];
  for (let i = 0; i < RUNS; i++) results.push(await once());
  const sorted = [...results].sort((a, b) => a.seconds - b.seconds);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], runs: results.map((r) => r.seconds) };
}

function timeCommand(name: string, command: string, args: string[]): Result {
  const which = spawnSync('sh', ['-c', `command -v ${command}`]);
  if (which.status !== 0) return { name, seconds: NaN, note: `${command} not installed` };
  const started = process.hrtime.bigint();
  const cpuBefore = childrenCpuSeconds();
  const run = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: tmpdir() }, maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { name, seconds, cpu: childrenCpuSeconds() - cpuBefore, note: run.status === 0 ? undefined : `exit ${run.status}: ${String(run.stderr).slice(0, 200)}` };
}

async function ours(withStore: boolean, withL7 = false): Promise<Result> {
  if (withStore) {
    // The engine's session opens outside the time, as in bench:l7; the replay creates the tables.
    const dir = mkdtempSync(join(tmpdir(), 'metaflow-bench-'));
    const store = new ChdbStore(dir);
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    const r = await replay({ input: capture, store, host: 'bench', l7: withL7 ? {} : false });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = cpuSeconds(process.cpuUsage(cpuBefore));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    const name = withL7 ? 'metaflow L4 + L7 pipeline + chDB store' : 'metaflow L4 pipeline + chDB store';
    return { name, seconds, cpu, note: `${r.store.rowsWritten} rows stored` };
  }
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  let rows = 0;
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'bench' });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  const reader = new CaptureReader((pkt) => {
    if (decoder.decode(pkt, decoded)) tracker.process(decoded);
  });
  const discard = (): void => {
    rows += sink.rowCount;
    sink.reset();
  };
  for await (const chunk of readFileChunks(capture)) {
    reader.feed(chunk);
    discard();
  }
  reader.end();
  // As a replay ends: a slice of flows at a time, rows taken between slices.
  while (!tracker.finishSome(10_000)) discard();
  discard();
  return { name: 'metaflow L4 pipeline, rows discarded', seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSeconds(process.cpuUsage(cpuBefore)), note: `${rows} rows` };
}

function cpuSeconds(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e6;
}

/** CPU seconds of the finished children of this process (/proc's cutime + cstime). */
function childrenCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of stat(5), counted after the command name: clock ticks of 1/100 s.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}

function countPackets(): number {
  let n = 0;
  const reader = new CaptureReader(() => void n++);
  reader.feed(readFileSync(capture));
  reader.end();
  return n;
}

/**
 * `--one-run`: the store replay, timed once after an untimed one of each kind, so the child is
 * where the in-process runs' median is (their first run pays for compiling the pipeline and the
 * engine's first inserts); prints its result.
 */
async function oneRun(): Promise<void> {
  await ours(false);
  await ours(true);
  process.stdout.write(JSON.stringify(await ours(true)) + '\n');
}

/** The store replay in a child process whose every thread is on CPU 0: the pipeline and the store's insert threads share one core. */
function oneCore(): Result {
  const name = 'metaflow L4 pipeline + chDB store, one core';
  if (spawnSync('sh', ['-c', 'command -v taskset']).status !== 0) return { name, seconds: NaN, note: 'taskset not installed' };
  const run = spawnSync('taskset', ['-c', '0', process.execPath, __filename, '--one-run'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  try {
    const r = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as Result;
    return { ...r, name, note: `${r.note}; taskset -c 0, after untimed warm-up runs` };
  } catch {
    return { name, seconds: NaN, note: `exit ${run.status}: ${run.stderr.slice(0, 200)}` };
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--one-run') return oneRun();
  if (!existsSync(capture)) {
    mkdirSync(join(root, 'bench-data'), { recursive: true });
    process.stdout.write(`building ${capture} from fixtures/captures/demo-loopback.pcap …\n`);
    makeBenchCapture(join(root, 'fixtures/captures/demo-loopback.pcap'), capture, 5400, 2000);
  }
  const packets = countPackets();
  const megabytes = statSync(capture).size / 1e6;
  process.stdout.write(`capture: ${capture}\n  ${packets} packets, ${megabytes.toFixed(1)} MB\n\n`);
  process.stdout.write(`each line: median of ${RUNS} runs (METAFLOW_BENCH_RUNS), the runs in order at the end\n\n`);
  const results: Result[] = [
    await medianOf(() => timeCommand('tcpdump -r FILE -w /dev/null (read floor)', 'tcpdump', ['-r', capture, '-w', '/dev/null'])),
    await medianOf(() => timeCommand('ndpiReader -i FILE', 'ndpiReader', ['-i', capture, '-q'])),
    await medianOf(() => timeCommand('tshark -r FILE -q -z conv,tcp', 'tshark', ['-n', '-r', capture, '-q', '-z', 'conv,tcp'])),
    await medianOf(() => ours(false)),
    await medianOf(() => ours(true)),
    await medianOf(() => oneCore()),
    await medianOf(() => ours(true, true)),
  ];
  // Ratios are against the L4 pipeline with the store, the measure.
  const mine = results.find((r) => r.name === 'metaflow L4 pipeline + chDB store') as Result;
  process.stdout.write('name'.padEnd(46) + 'seconds'.padStart(9) + 'cpu s'.padStart(7) + 'Mpackets/s'.padStart(12) + 'MB/s'.padStart(9) + '  metaflow L4+store speed ÷ this\n');
  for (const r of results) {
    const pps = packets / r.seconds / 1e6;
    const ratio = r.seconds / mine.seconds;
    process.stdout.write(
      r.name.padEnd(46) +
        r.seconds.toFixed(2).padStart(9) +
        (r.cpu === undefined || Number.isNaN(r.cpu) ? '-' : r.cpu.toFixed(2)).padStart(7) +
        pps.toFixed(3).padStart(12) +
        (megabytes / r.seconds).toFixed(1).padStart(9) +
        `  ${Number.isFinite(ratio) ? ratio.toFixed(2) + '×' : '-'}` +
        (r.note ? `   (${r.note})` : '') +
        (r.runs && r.runs.length > 1 ? `   runs ${r.runs.map((x) => x.toFixed(2)).join(' ')} s` : '') +
        '\n',
    );
  }
  const rate = (name: string, per: 'wall' | 'cpu' = 'wall'): string => {
    const r = results.find((x) => x.name.startsWith(name));
    const seconds = per === 'wall' ? r?.seconds : r?.cpu;
    return r && seconds !== undefined && Number.isFinite(seconds) ? (packets / seconds / 1e6).toFixed(2) : '-';
  };
  process.stdout.write(
    `\ntarget ≥ 1.3 M packets/s on one core (set where ndpiReader did 0.9): with the store ${rate('metaflow L4 pipeline + chDB store')} ` +
      `(its insert threads on the other core), ${rate('metaflow L4 pipeline + chDB store, one core')} with every thread on one core, ` +
      `${rate('metaflow L4 pipeline + chDB store', 'cpu')} per CPU-second of all threads; ndpiReader ${rate('ndpiReader')}\n`,
  );
  const flows = Number(process.env.METAFLOW_BENCH_FLOWS ?? 1_000_000);
  process.stdout.write(`\nconcurrent flows: ${flows} handshakes held open, through the store (separate process)\n`);
  const child = spawnSync(process.execPath, [join(__dirname, 'concurrent-flows.js'), String(flows)], { encoding: 'utf8' });
  process.stdout.write(child.stdout || child.stderr);
}

void main();
