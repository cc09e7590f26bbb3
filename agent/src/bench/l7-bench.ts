/**
 * `npm run bench:l7` (and the second half of `npm run bench`): application-protocol parsing on a
 * large generated capture per protocol (see l7-bench-capture.ts), next to tshark on the same file
 * in the same run, then bytes of memory per open flow with and without L7.
 *
 * Ours: `replay()` of the capture into a fresh embedded store (chDB), L7 on (the default), timed
 * from the call to its return, which is after the final flush of every row into the store; the
 * store's opening and closing are outside the time. The stored request counts are then read with
 * `readSummary` and compared with what the generator wrote: a difference is printed loudly.
 *
 * tshark: `tshark -n -r FILE -Y <requests of the protocol> -T fields -e frame.number`, its output
 * counted as it streams, with the dissector forced on the server port where tshark needs it.
 *
 * Environment: METAFLOW_BENCH_REQUESTS scales the sizes (default 1: 500,000 HTTP/1 exchanges,
 * 100,000 for the others); METAFLOW_BENCH_L7_PROTOCOLS picks protocols (comma separated);
 * METAFLOW_BENCH_L7_FLOWS the open flows of the memory measurement (default 100,000);
 * METAFLOW_BENCH_L7_RUNS replays each capture that many times and keeps the fastest (default 1;
 * single runs vary by about ±15 % on a busy 2-core machine); METAFLOW_BENCH_L7_BREAKDOWN=1 adds
 * where the HTTP/1 time goes (decode + L4 alone, L7 with rows discarded, L4 with the store);
 * METAFLOW_BENCH_NO_TSHARK=1 skips tshark (profiling).
 *
 * HTTP/1 is also replayed in a child process whose every thread is on CPU 0 (`taskset -c 0`),
 * twice: first as cold as the line above (V8 compiles the pipeline meanwhile, about 0.6 s of CPU
 * whatever the capture's size), then warm, as an agent that has been running is (the L4 bench's
 * one-core line is warm too). Each with the CPU time of its threads by group: the pipeline's own
 * thread, the store's inserts and merges, libuv's pool (where chDB's asynchronous queries run their
 * calling part, and files are read and written), V8's compiler and GC helpers. That is the
 * target's "one core with the store", and where a request's time goes on it. A second child
 * replays the same capture with L7 off: the share of the same packets' L4 work (flows, network
 * metrics, flow log, and their rows in the store).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CaptureReader, openCaptureFile } from '../capture/capture-reader';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { ALL_L7_MODULES } from '../l7/modules';
import { replay } from '../pipeline/replay';
import { ChdbStore } from '../store/chdb-store';
import { RowCollector } from '../store/row-collector';
import { readSummary, Summary } from '../summary/summary';
import { cpuByGroup, threadCpu, ThreadGroup } from './thread-cpu';
import { ensureL7Capture, ExpectedL7, L7_BENCH_PROTOCOLS, L7BenchProtocol, L7CaptureManifest } from './l7-bench-capture';

const root = resolve(__dirname, '../../..');
const dataDir = join(root, 'bench-data');

/** Exchanges per protocol at scale 1. */
const BASE_EXCHANGES: Record<L7BenchProtocol, number> = {
  http1: 500_000,
  redis: 100_000,
  mysql: 100_000,
  kafka: 100_000,
  mqtt: 100_000,
  http2: 100_000,
  dns: 100_000,
};

/** How tshark is asked for the requests of each protocol: one output line per request frame. */
const TSHARK: Record<L7BenchProtocol, { filter: string; decodeAs?: string }> = {
  http1: { filter: 'http.request' },
  redis: { filter: 'resp.array && tcp.dstport == 6379' },
  mysql: { filter: 'mysql.command == 3' },
  kafka: { filter: 'kafka.api_key && tcp.dstport == 9092' },
  mqtt: { filter: '(mqtt.msgtype == 1 || mqtt.msgtype == 3) && tcp.dstport == 1883' },
  http2: { filter: 'http2.headers.method', decodeAs: 'tcp.port==8080,http2' },
  dns: { filter: 'dns.flags.response == 0' },
};

interface OursResult {
  seconds: number;
  cpuSeconds: number;
  requests: number;
  packets: number;
  rowsWritten: number;
  rowsDropped: number;
  summary: Summary;
}

interface TsharkResult {
  seconds: number;
  requests: number;
  note?: string;
}

interface Row {
  protocol: L7BenchProtocol;
  manifest: L7CaptureManifest;
  ours: OursResult;
  tshark: TsharkResult;
  mismatches: string[];
}

/** `onReplayed`: called when the replay returned, before the store is read or closed (closing ends its threads). */
async function ours(capture: string, protocol: L7BenchProtocol, onReplayed?: () => void, l7 = true): Promise<OursResult> {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-l7-bench-'));
  const store = new ChdbStore(dir);
  try {
    const cpu0 = process.cpuUsage();
    const started = process.hrtime.bigint();
    const r = await replay({ input: capture, store, host: 'bench', l7: l7 ? undefined : false });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    onReplayed?.();
    const summary = await readSummary(store);
    return {
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      requests: summary.l7[protocol]?.request ?? 0,
      packets: r.packets,
      rowsWritten: r.store.rowsWritten,
      rowsDropped: r.store.rowsDropped + r.store.insertsFailed,
      summary,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface OneCoreReplay {
  seconds: number;
  /** Requests stored (0 with L7 off). */
  requests: number;
  cpu: Record<ThreadGroup, number>;
}

interface OneCoreResult {
  /** The process's first replay: V8 compiles the pipeline while it runs. */
  cold: OneCoreReplay;
  /** A second replay in the same process, into another fresh store: the pipeline's code is compiled, as in an agent that has been running. */
  warm: OneCoreReplay;
}

/** `--one-core FILE PROTOCOL [l4]`: two replays into fresh stores (L7 off with `l4`), with their threads' CPU time; prints JSON. */
async function oneCoreRun(capture: string, protocol: L7BenchProtocol, l4Only: boolean): Promise<void> {
  const replayOnce = async (): Promise<OneCoreReplay> => {
    const before = threadCpu();
    let after = before;
    const o = await ours(capture, protocol, () => (after = threadCpu()), !l4Only);
    return { seconds: o.seconds, requests: o.requests, cpu: cpuByGroup(before, after) };
  };
  const cold = await replayOnce();
  const result: OneCoreResult = { cold, warm: await replayOnce() };
  process.stdout.write(JSON.stringify(result) + '\n');
}

/** The replays of `capture` in a child process with every thread on CPU 0, or why they did not run. */
function oneCore(capture: string, protocol: L7BenchProtocol, l4Only = false): OneCoreResult | string {
  if (spawnSync('sh', ['-c', 'command -v taskset']).status !== 0) return 'taskset not installed';
  const args = [process.execPath, __filename, '--one-core', capture, protocol, ...(l4Only ? ['l4'] : [])];
  const child = spawnSync('taskset', ['-c', '0', ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (child.status !== 0) return `failed (exit ${child.status}): ${(child.stderr || child.stdout).slice(0, 300)}`;
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as OneCoreResult;
  } catch {
    return `unreadable output: ${child.stdout.slice(0, 300)}`;
  }
}

/** The pipeline without a store: rows are built, counted and dropped. */
async function withoutStore(capture: string, l7: boolean): Promise<{ seconds: number; rows: number }> {
  const started = process.hrtime.bigint();
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'bench', l7: l7 ? { modules: ALL_L7_MODULES } : undefined });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  let rows = 0;
  const reader = new CaptureReader((pkt) => {
    if (decoder.decode(pkt, decoded)) tracker.process(decoded);
  });
  for await (const chunk of openCaptureFile(capture) as AsyncIterable<Buffer>) {
    reader.feed(chunk);
    rows += sink.rowCount;
    sink.reset();
  }
  reader.end();
  tracker.finish();
  rows += sink.rowCount;
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, rows };
}

function tsharkInstalled(): boolean {
  return spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
}

/** Runs tshark and counts its output lines as they stream (one per request frame). */
function tshark(capture: string, protocol: L7BenchProtocol): Promise<TsharkResult> {
  const t = TSHARK[protocol];
  const home = mkdtempSync(join(tmpdir(), 'metaflow-tshark-home-'));
  const args = ['-n', '-r', capture, ...(t.decodeAs ? ['-d', t.decodeAs] : []), '-Y', t.filter, '-T', 'fields', '-e', 'frame.number'];
  return new Promise((resolvePromise) => {
    const started = process.hrtime.bigint();
    const child = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: home } });
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2000) stderr += chunk.toString();
    });
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      rmSync(home, { recursive: true, force: true });
      const note = code === 0 ? undefined : `exit ${code}: ${stderr.trim().slice(0, 200)}`;
      resolvePromise({ seconds, requests: lines, note });
    });
  });
}

/** Differences between what the store counted and what the generator wrote. */
function compare(protocol: L7BenchProtocol, expected: ExpectedL7, manifest: L7CaptureManifest, s: Summary): string[] {
  const out: string[] = [];
  const got = s.l7[protocol];
  if (!got) return [`no ${protocol} requests stored at all (protocols stored: ${Object.keys(s.l7).join(', ') || 'none'})`];
  for (const key of ['requests', 'responses', 'client_error', 'server_error'] as const) {
    const stored = key === 'requests' ? got.request : key === 'responses' ? got.response : got[key];
    if (stored !== expected[key]) out.push(`${key}: stored ${stored}, generated ${expected[key]} (${stored - expected[key] > 0 ? '+' : ''}${stored - expected[key]})`);
  }
  if (got.timeout !== 0) out.push(`timeouts: stored ${got.timeout}, generated 0`);
  const codes = new Set([...Object.keys(expected.codes), ...Object.keys(got.codes)]);
  for (const c of [...codes].sort((a, b) => Number(a) - Number(b))) {
    const a = got.codes[c] ?? 0;
    const b = expected.codes[c] ?? 0;
    if (a !== b) out.push(`response code ${c}: stored ${a}, generated ${b}`);
  }
  for (const [other, l] of Object.entries(s.l7)) if (other !== protocol) out.push(`also stored as ${other}: ${l.request} requests`);
  const flows = manifest.transport === 'tcp' ? s.flows.tcp : s.flows.udp;
  if (flows !== manifest.connections) out.push(`${manifest.transport} flows: stored ${flows}, generated ${manifest.connections}`);
  if (s.packets !== manifest.packets) out.push(`packets: stored ${s.packets}, generated ${manifest.packets}`);
  const malformed = Object.entries(s.malformed);
  if (malformed.length) out.push(`malformed: ${malformed.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return out;
}

type MemoryMode = 'l7' | 'l7-answered' | 'l4';

function memoryChild(flows: number, mode: MemoryMode): Record<string, number | string> | string {
  const child = spawnSync(process.execPath, ['--expose-gc', join(__dirname, 'l7-flow-memory.js'), String(flows), mode], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (child.status !== 0) return `failed (exit ${child.status}): ${(child.stderr || child.stdout).slice(0, 300)}`;
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as Record<string, number | string>;
  } catch {
    return `unreadable output: ${child.stdout.slice(0, 300)}`;
  }
}

/** A replay's CPU time by thread group, in µs per request. */
function cpuPerRequest(cpu: Record<ThreadGroup, number>, requests: number): string {
  const us = (sec: number): string => ((sec * 1e6) / requests).toFixed(1);
  return (
    `pipeline thread ${us(cpu.pipeline)}, store inserts ${us(cpu.storeInserts)}, store merges ${us(cpu.storeMerges)}, ` +
    `libuv pool (the store's query calls, file reads and writes) ${us(cpu.ioPool)}, V8 compiler and GC helpers ${us(cpu.runtimeHelpers)}`
  );
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

async function main(): Promise<void> {
  if (process.argv[2] === '--one-core') return oneCoreRun(process.argv[3], process.argv[4] as L7BenchProtocol, process.argv[5] === 'l4');
  const scale = Number(process.env.METAFLOW_BENCH_REQUESTS ?? 1);
  if (!(scale > 0)) throw new Error(`METAFLOW_BENCH_REQUESTS must be a positive scale factor, not ${process.env.METAFLOW_BENCH_REQUESTS}`);
  const wanted = (process.env.METAFLOW_BENCH_L7_PROTOCOLS ?? L7_BENCH_PROTOCOLS.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of wanted) if (!L7_BENCH_PROTOCOLS.includes(p as L7BenchProtocol)) throw new Error(`unknown protocol ${p} (one of ${L7_BENCH_PROTOCOLS.join(', ')})`);
  const protocols = wanted as L7BenchProtocol[];
  const withTshark = process.env.METAFLOW_BENCH_NO_TSHARK !== '1' && tsharkInstalled();
  const runs = Math.max(1, Math.floor(Number(process.env.METAFLOW_BENCH_L7_RUNS ?? 1)) || 1);
  process.stdout.write(
    `L7 benchmark: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, scale ${scale}, load average ${loadavg()[0].toFixed(2)} (other work on the machine skews wall times)\n`,
  );
  if (!withTshark) process.stdout.write(process.env.METAFLOW_BENCH_NO_TSHARK === '1' ? 'tshark skipped (METAFLOW_BENCH_NO_TSHARK=1)\n' : 'tshark is not installed: no peer numbers\n');

  // chDB loads its engine on the first session: do that before anything is timed.
  const warm = mkdtempSync(join(tmpdir(), 'metaflow-l7-warm-'));
  const warmStore = new ChdbStore(warm);
  await warmStore.query('SELECT 1');
  await warmStore.close();
  rmSync(warm, { recursive: true, force: true });

  const rows: Row[] = [];
  let oneCoreHttp1: OneCoreResult | string | undefined;
  for (const protocol of protocols) {
    const exchanges = Math.max(1, Math.round(BASE_EXCHANGES[protocol] * scale));
    const buildStart = Date.now();
    const { path, manifest, built } = ensureL7Capture(dataDir, protocol, exchanges);
    const mb = manifest.bytes / 1e6;
    process.stdout.write(
      `\n${protocol}: ${path} (${built ? `built in ${((Date.now() - buildStart) / 1000).toFixed(1)} s` : 'reused'})\n` +
        `  ${fmt(manifest.packets)} packets, ${mb.toFixed(1)} MB, ${fmt(manifest.connections)} ${manifest.transport === 'tcp' ? 'connections' : 'sockets'} (${manifest.concurrency} at once), ` +
        `${fmt(manifest.expected.requests)} requests over ${manifest.captureSeconds.toFixed(1)} s of capture time\n`,
    );
    let o = await ours(path, protocol);
    for (let run = 1; run < runs; run++) {
      process.stdout.write(`  metaflow run ${run}: ${o.seconds.toFixed(2)} s\n`);
      const again = await ours(path, protocol);
      if (again.seconds < o.seconds) o = again;
    }
    process.stdout.write(
      `  metaflow: ${o.seconds.toFixed(2)} s${runs > 1 ? ` (fastest of ${runs})` : ''} (${o.cpuSeconds.toFixed(2)} CPU s), ${fmt(o.requests)} requests stored, ${fmt(o.rowsWritten)} rows written` +
        (o.rowsDropped ? `, ${fmt(o.rowsDropped)} ROWS DROPPED` : '') +
        '\n',
    );
    let ts: TsharkResult = { seconds: NaN, requests: NaN, note: withTshark ? undefined : 'not run' };
    if (withTshark) {
      ts = await tshark(path, protocol);
      process.stdout.write(`  tshark:   ${ts.seconds.toFixed(2)} s, ${fmt(ts.requests)} request frames${ts.note ? ` (${ts.note})` : ''}\n`);
      if (!ts.note && ts.requests !== manifest.expected.requests) process.stdout.write(`  note: tshark found ${fmt(ts.requests)} request frames, the generator wrote ${fmt(manifest.expected.requests)} requests\n`);
    }
    const mismatches = compare(protocol, manifest.expected, manifest, o.summary);
    if (o.rowsDropped) mismatches.push(`${o.rowsDropped} rows dropped or failed in the store`);
    if (mismatches.length) {
      process.stdout.write(`  !!!!!!!! MISMATCH: what the store counted is not what was generated (${protocol}) !!!!!!!!\n`);
      for (const m of mismatches) process.stdout.write(`  !!! ${m}\n`);
    } else {
      process.stdout.write(`  stored counts match the generated workload (requests, responses, errors by side, response codes, flows, packets)\n`);
    }
    if (protocol === 'http1') {
      oneCoreHttp1 = oneCore(path, protocol);
      if (typeof oneCoreHttp1 === 'string') process.stdout.write(`  one core: ${oneCoreHttp1}\n`);
      else {
        const { cold, warm } = oneCoreHttp1;
        const requests = warm.requests;
        const line = (what: string, r: OneCoreReplay): string =>
          `  ${what}: ${r.seconds.toFixed(2)} s, ${fmt(r.requests / r.seconds)} requests/s; CPU µs per request: ${cpuPerRequest(r.cpu, r.requests)}\n`;
        process.stdout.write(line('one core (every thread on CPU 0), first replay of the process', cold) + line('one core, warm (a second replay in the same process)', warm));
        const l4 = oneCore(path, protocol, true);
        if (typeof l4 === 'string') process.stdout.write(`  one core, L7 off: ${l4}\n`);
        else
          process.stdout.write(
            `  the same packets with L7 off, one core, warm: ${l4.warm.seconds.toFixed(2)} s, ${((l4.warm.seconds * 1e6) / requests).toFixed(1)} µs per request of the capture ` +
              `(the L4 share of the warm time above); CPU µs per request: ${cpuPerRequest(l4.warm.cpu, requests)}\n`,
          );
      }
    }
    rows.push({ protocol, manifest, ours: o, tshark: ts, mismatches });
    if (protocol === 'http1' && process.env.METAFLOW_BENCH_L7_BREAKDOWN === '1') {
      const l4 = await withoutStore(path, false);
      const l7 = await withoutStore(path, true);
      const l4Store = (await ours(path, protocol, undefined, false)).seconds;
      const us = (sec: number): string => `${((sec * 1e6) / manifest.expected.requests).toFixed(1)} µs/request`;
      process.stdout.write(
        `  breakdown: read + decode + L4 flows, rows dropped  ${l4.seconds.toFixed(2)} s (${us(l4.seconds)})\n` +
          `             … + L7 (reassembly, parser, request log rows), rows dropped  ${l7.seconds.toFixed(2)} s (${us(l7.seconds)}; L7 ${us(l7.seconds - l4.seconds)})\n` +
          `             L4 only into the store  ${l4Store.toFixed(2)} s (${us(l4Store)})\n` +
          `             L4 + L7 into the store (above)  ${o.seconds.toFixed(2)} s (${us(o.seconds)}; the store's share ${us(o.seconds - l7.seconds)})\n`,
      );
    }
  }

  process.stdout.write(
    '\nrequests/s = requests stored ÷ seconds (ours: replay into chDB incl. final flush; tshark: its own request count ÷ its time); ' +
      `mqtt counts one CONNECT per connection besides the PUBLISHes; load average now ${loadavg()[0].toFixed(2)}\n`,
  );
  const header =
    'protocol'.padEnd(9) +
    'requests'.padStart(10) +
    'seconds'.padStart(9) +
    'requests/s'.padStart(12) +
    'packets/s'.padStart(12) +
    'req/CPU-s'.padStart(11) +
    'tshark s'.padStart(10) +
    'tshark req/s'.padStart(14) +
    'ours÷tshark'.padStart(13) +
    '  counts';
  process.stdout.write(header + '\n' + '-'.repeat(header.length) + '\n');
  for (const r of rows) {
    const rps = r.ours.requests / r.ours.seconds;
    const trps = r.tshark.requests / r.tshark.seconds;
    const ratio = rps / trps;
    process.stdout.write(
      r.protocol.padEnd(9) +
        fmt(r.ours.requests).padStart(10) +
        r.ours.seconds.toFixed(2).padStart(9) +
        fmt(rps).padStart(12) +
        fmt(r.ours.packets / r.ours.seconds).padStart(12) +
        fmt(r.ours.requests / r.ours.cpuSeconds).padStart(11) +
        (Number.isFinite(r.tshark.seconds) ? r.tshark.seconds.toFixed(2) : '-').padStart(10) +
        (r.tshark.note ? '-' : fmt(trps)).padStart(14) +
        (Number.isFinite(ratio) && !r.tshark.note ? `${ratio.toFixed(2)}×` : '-').padStart(13) +
        `  ${r.mismatches.length ? 'MISMATCH' : 'match'}` +
        '\n',
    );
  }
  const http = rows.find((r) => r.protocol === 'http1');
  if (http) {
    const rps = http.ours.requests / http.ours.seconds;
    const one = typeof oneCoreHttp1 === 'object' ? oneCoreHttp1.warm.requests / oneCoreHttp1.warm.seconds : NaN;
    const cold = typeof oneCoreHttp1 === 'object' ? oneCoreHttp1.cold.requests / oneCoreHttp1.cold.seconds : NaN;
    process.stdout.write(
      `\nHTTP/1 target ≥ 300,000 requests/s on one core with the store: ${fmt(one)} requests/s with every thread on one core, warm (${fmt(cold)} in the process's first replay); ` +
        `${fmt(rps)} requests/s wall on ${cpus().length} CPUs, ${fmt(http.ours.requests / http.ours.cpuSeconds)} per CPU-second ` +
        `(the process's CPU time, chDB's threads included) → ${one >= 300_000 ? 'met' : 'NOT met'}\n`,
    );
  }
  const bad = rows.filter((r) => r.mismatches.length);
  if (bad.length) process.stdout.write(`\n!!! stored counts differ from the generated workload for: ${bad.map((r) => r.protocol).join(', ')} (details above)\n`);

  const flows = Number(process.env.METAFLOW_BENCH_L7_FLOWS ?? 100_000);
  process.stdout.write(`\nmemory per open flow: ${fmt(flows)} HTTP/1 flows held open, each in a separate process, after GC (heapUsed + external growth ÷ flows)\n`);
  const results = { l7: memoryChild(flows, 'l7'), 'l7-answered': memoryChild(flows, 'l7-answered'), l4: memoryChild(flows, 'l4') };
  const labels: Record<MemoryMode, string> = {
    l7: 'L7 on (default), one request pending ',
    'l7-answered': 'L7 on, request answered (idle flow)  ',
    l4: 'L4 only (handshake + request)        ',
  };
  for (const mode of ['l7', 'l7-answered', 'l4'] as const) {
    const m = results[mode];
    if (typeof m === 'string') {
      process.stdout.write(`  ${mode}: ${m}\n`);
      continue;
    }
    process.stdout.write(
      `  ${labels[mode]}: ${fmt(Number(m.bytesPerFlow)).padStart(6)} bytes per open flow ` +
        `(heap ${fmt(Number(m.heapUsedPerFlow))}, external ${fmt(Number(m.externalPerFlow))} of which ArrayBuffers ${fmt(Number(m.arrayBuffersPerFlow))}; ` +
        `${fmt(Number(m.open))} open, rss ${m.rssMiB} MiB)\n`,
    );
  }
  if (typeof results.l7 !== 'string' && typeof results.l4 !== 'string') {
    process.stdout.write(`  L7 state costs ${fmt(Number(results.l7.bytesPerFlow) - Number(results.l4.bytesPerFlow))} bytes per open flow over L4 (ratio ${(Number(results.l7.bytesPerFlow) / Number(results.l4.bytesPerFlow)).toFixed(2)}×)\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
