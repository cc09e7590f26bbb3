/**
 * The L4 pipeline on the first N packets of the benchmark capture, next to another build of the
 * agent (a copy of an earlier `agent/dist`) measured alternately in the same script, so a change
 * is judged by a ratio rather than by one number on a shared, noisy machine.
 *
 *   node agent/dist/bench/l4-compare.js --baseline /tmp/base/agent/dist [--packets 1000000]
 *     [--rounds 3] [--modes read,decode,discard,chdb] [--verify] [--profile DIR]
 *
 * Modes: `read` (capture reader only), `decode` (reader + decoder), `discard` (the whole L4
 * pipeline, rows built then thrown away), `chdb` (replay into a fresh embedded store), `chdb-l7`
 * (the same with the application protocols parsed). Each run is
 * its own process, builds alternate, and the median of the rounds is reported. `--verify` checks
 * that both builds stored the same rows (every table hashed, except the random flow ids), and
 * `--profile` writes a `--cpu-prof` profile of this build's runs into DIR.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

type ReaderModule = typeof import('../capture/capture-reader');
type DecoderModule = typeof import('../decode/packet-decoder');
type DecodedModule = typeof import('../decode/decoded-packet');
type TrackerModule = typeof import('../flow/flow-tracker');
type CollectorModule = typeof import('../store/row-collector');
type ReplayModule = typeof import('../pipeline/replay');
type ChdbModule = typeof import('../store/chdb-store');
type TablesModule = typeof import('../store/tables');

const root = resolve(__dirname, '../../..');
const MODES = ['read', 'decode', 'discard', 'chdb', 'chdb-l7'] as const;
type Mode = (typeof MODES)[number];

interface RunResult {
  seconds: number;
  /** CPU seconds of the whole process (every thread: the store's too), steadier than wall time on a busy machine. */
  cpu: number;
  packets: number;
  rows: number;
  digest?: Record<string, string>;
}

/** The first `packets` records of a classic pcap file, copied into `out`. */
function truncatePcap(input: string, out: string, packets: number): number {
  const fd = openSync(input, 'r');
  const outFd = openSync(out, 'w');
  const header = Buffer.alloc(24);
  readSync(fd, header, 0, 24, 0);
  const le = header.readUInt32LE(0) === 0xa1b2c3d4 || header.readUInt32LE(0) === 0xa1b23c4d;
  writeSync(outFd, header);
  let pos = 24;
  let n = 0;
  const rec = Buffer.alloc(16);
  const chunk = Buffer.alloc(1 << 20);
  let used = 0;
  while (n < packets) {
    if (readSync(fd, rec, 0, 16, pos) < 16) break;
    const incl = le ? rec.readUInt32LE(8) : rec.readUInt32BE(8);
    if (used + 16 + incl > chunk.length) {
      writeSync(outFd, chunk, 0, used);
      used = 0;
    }
    rec.copy(chunk, used);
    if (readSync(fd, chunk, used + 16, incl, pos + 16) < incl) break;
    used += 16 + incl;
    pos += 16 + incl;
    n++;
  }
  writeSync(outFd, chunk, 0, used);
  closeSync(fd);
  closeSync(outFd);
  return n;
}

async function worker(dist: string, mode: Mode, file: string, verify: boolean): Promise<RunResult> {
  const load = createRequire(join(dist, 'index.js'));
  const { CaptureReader, openCaptureFile, readFileChunks } = load(join(dist, 'capture/capture-reader')) as Partial<ReaderModule> & Pick<ReaderModule, 'CaptureReader' | 'openCaptureFile'>;
  const { PacketDecoder } = load(join(dist, 'decode/packet-decoder')) as DecoderModule;
  const { DecodedPacket } = load(join(dist, 'decode/decoded-packet')) as DecodedModule;
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (): number => {
    const u = process.cpuUsage(cpuStart);
    return (u.user + u.system) / 1e6;
  };
  if (mode === 'chdb' || mode === 'chdb-l7') {
    const { replay } = load(join(dist, 'pipeline/replay')) as ReplayModule;
    const { ChdbStore } = load(join(dist, 'store/chdb-store')) as ChdbModule;
    const dir = mkdtempSync(join(tmpdir(), 'metaflow-compare-'));
    const store = new ChdbStore(dir);
    const r = await replay({ input: file, store, host: 'bench', l7: mode === 'chdb-l7' ? {} : false });
    const seconds = elapsed();
    const cpuSeconds = cpu();
    const digest = verify ? await storeDigest(store, load(join(dist, 'store/tables')) as TablesModule) : undefined;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    return { seconds, cpu: cpuSeconds, packets: r.packets, rows: r.store.rowsWritten, digest };
  }
  let packets = 0;
  let rows = 0;
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  let onPacket: (p: Parameters<DecoderModule['PacketDecoder']['prototype']['decode']>[0]) => void = () => void packets++;
  let afterChunk = (): void => undefined;
  let finish = (): void => undefined;
  if (mode === 'decode') {
    onPacket = (p) => {
      packets++;
      decoder.decode(p, decoded);
    };
  } else if (mode === 'discard') {
    const { FlowTracker } = load(join(dist, 'flow/flow-tracker')) as TrackerModule;
    const { RowCollector } = load(join(dist, 'store/row-collector')) as CollectorModule;
    const sink = new RowCollector();
    const tracker = new FlowTracker(sink, { host: 'bench' });
    onPacket = (p) => {
      packets++;
      if (decoder.decode(p, decoded)) tracker.process(decoded);
    };
    afterChunk = () => {
      rows += sink.rowCount;
      sink.reset();
    };
    finish = () => {
      // As a replay ends: a slice of flows at a time, rows taken between slices.
      while (!tracker.finishSome(10_000)) afterChunk();
      afterChunk();
    };
  }
  const reader = new CaptureReader(onPacket);
  // How each build's replay reads a file (older builds: a read stream).
  const chunks: AsyncIterable<Buffer> = readFileChunks ? readFileChunks(file) : openCaptureFile(file);
  for await (const chunk of chunks) {
    reader.feed(chunk);
    afterChunk();
  }
  reader.end();
  finish();
  return { seconds: elapsed(), cpu: cpu(), packets, rows };
}

/** Per stored table: row count and a sum of row hashes, without flow ids and insertion times. */
async function storeDigest(store: { query<T>(sql: string): Promise<T[]> }, tables: TablesModule): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables.ALL_TABLES) {
    if (t.derivedFrom && !t.derivedFrom.materialized) continue;
    const columns = t.columns.filter((c) => c.name !== 'flow_id').map((c) => `\`${c.name}\``);
    const final = t.derivedFrom ? ' FINAL' : '';
    const [row] = await store.query<{ n: string; h: string }>(
      `SELECT toString(count()) AS n, toString(sum(cityHash64(${columns.join(', ')}))) AS h FROM ${t.database}.${t.name}${final}`,
    );
    out[t.name] = `${row.n} rows, hash ${row.h}`;
  }
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function main(): void {
  const args = process.argv.slice(2);
  const baseline = option(args, '--baseline', '');
  if (!baseline || !existsSync(join(baseline, 'pipeline/replay.js'))) {
    process.stderr.write(`usage: l4-compare --baseline <other agent/dist> [--packets N] [--rounds R] [--modes ${MODES.join(',')}] [--verify] [--profile DIR]\n`);
    process.exit(2);
  }
  const packetsWanted = Number(option(args, '--packets', '1000000'));
  const rounds = Number(option(args, '--rounds', '3'));
  const modes = option(args, '--modes', 'discard,chdb').split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`);
  const verify = args.includes('--verify');
  const profile = option(args, '--profile', '');
  const capture = process.env.METAFLOW_BENCH_CAPTURE ?? join(root, 'bench-data', 'bench.pcap');
  const work = mkdtempSync(join(tmpdir(), 'metaflow-compare-'));
  const file = join(work, 'first.pcap');
  const packets = truncatePcap(capture, file, packetsWanted);
  process.stdout.write(`${packets} packets (${(statSync(file).size / 1e6).toFixed(1)} MB) of ${capture}; ${rounds} rounds, builds alternating\n`);
  const builds = [
    { name: 'baseline', dist: resolve(baseline) },
    { name: 'this', dist: __dirname.replace(/\/bench$/, '') },
  ];
  const results = new Map<string, RunResult[]>();
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      // Alternate which build goes first, so neither always runs on a warmer machine.
      const order = round % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) {
        const prof = profile && b.name === 'this' ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
        const child = spawnSync(process.execPath, [...prof, __filename, '--worker', b.dist, mode, file, verify ? 'verify' : ''], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
        });
        if (child.status !== 0) throw new Error(`${b.name} ${mode} failed: ${child.stderr}`);
        const r = JSON.parse(child.stdout) as RunResult;
        const key = `${mode}\t${b.name}`;
        results.set(key, [...(results.get(key) ?? []), r]);
      }
    }
  }
  process.stdout.write('mode      build       median s   Mpackets/s   cpu s   runs (s)                    rows\n');
  for (const mode of modes) {
    const base = results.get(`${mode}\tbaseline`) as RunResult[];
    const mine = results.get(`${mode}\tthis`) as RunResult[];
    for (const [name, runs] of [
      ['baseline', base],
      ['this', mine],
    ] as const) {
      const m = median(runs.map((r) => r.seconds));
      const c = median(runs.map((r) => r.cpu));
      process.stdout.write(
        `${mode.padEnd(10)}${name.padEnd(10)}${m.toFixed(3).padStart(10)}${(packets / m / 1e6).toFixed(3).padStart(13)}${c.toFixed(2).padStart(8)}   ` +
          `${runs.map((r) => r.seconds.toFixed(2)).join(' ').padEnd(28)}${runs[0].rows}\n`,
      );
    }
    const ratio = median(base.map((r) => r.seconds)) / median(mine.map((r) => r.seconds));
    const cpuRatio = median(base.map((r) => r.cpu)) / median(mine.map((r) => r.cpu));
    process.stdout.write(`${mode.padEnd(10)}speed-up this ÷ baseline: ${ratio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× cpu\n`);
    if (verify && mode.startsWith('chdb')) {
      // Tables one build does not have (schema changes in between) are left out.
      const common = Object.keys(base[0].digest ?? {}).filter((t) => t in (mine[0].digest ?? {}));
      const pick = (r: RunResult): string => JSON.stringify(common.map((t) => r.digest?.[t]));
      const same = [...base, ...mine].every((r) => pick(r) === pick(base[0]));
      process.stdout.write(same ? '  stored rows identical in every run\n' : '  STORED ROWS DIFFER\n');
      for (const r of [base[0], mine[0]]) process.stdout.write(`  ${JSON.stringify(r.digest)}\n`);
    }
  }
  rmSync(work, { recursive: true, force: true });
}

if (process.argv[2] === '--worker') {
  const [, , , dist, mode, file, verify] = process.argv;
  void worker(dist, mode as Mode, file, verify === 'verify').then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
} else {
  main();
}
