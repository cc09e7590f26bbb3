/**
 * Memory with many concurrent flows: `count` handshakes from distinct clients to one server,
 * spread over 10 s of capture time so none times out, through decoder, flow tracker, aggregation
 * and the embedded store. Prints peak RSS as JSON (run in its own process by the benchmark).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { BatchWriter } from '../store/batch-writer';
import { ChdbStore } from '../store/chdb-store';
import { migrate } from '../store/store';
import { ethernet, ipv4, tcpSegment } from '../testing/packet-builder';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-flows-bench-'));
  const store = new ChdbStore(dir);
  await migrate(store);
  const writer = new BatchWriter(store);
  const tracker = new FlowTracker(writer, { host: 'bench', maxFlows: count + 1024 });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  // One template frame per handshake step; addresses and ports are patched in place.
  const templates = (['S', 'SA', 'A'] as const).map((flags, i) => {
    const fromClient = i !== 1;
    const seg = tcpSegment({ src: '10.0.0.1', dst: '10.0.0.2', sport: fromClient ? 1024 : 80, dport: fromClient ? 80 : 1024, flags, seq: 1000, ack: 1 });
    return ethernet(ipv4(fromClient ? '10.0.0.1' : '10.0.0.2', fromClient ? '10.0.0.2' : '10.0.0.1', 6, seg));
  });
  const pkt: CapturedPacket = { tsUs: 0, linkType: LinkType.ETHERNET, interfaceId: 0, capLen: 0, origLen: 0, data: templates[0] };
  const started = Date.now();
  const t0 = 1_700_000_000_000_000;
  for (let f = 0; f < count; f++) {
    const client = (10 << 24) | (1 + (f >> 14));
    const port = 1024 + (f & 0x3fff);
    for (let step = 0; step < 3; step++) {
      const frame = templates[step];
      const clientAt = step === 1 ? 30 : 26; // IPv4 address offset of the client in this frame
      frame.writeUInt32BE(client >>> 0, clientAt);
      frame.writeUInt16BE(port, step === 1 ? 36 : 34);
      pkt.data = frame;
      pkt.capLen = pkt.origLen = frame.length;
      pkt.tsUs = t0 + Math.floor((f * 10_000_000) / count) + step * 10;
      if (decoder.decode(pkt, decoded)) tracker.process(decoded);
    }
    if ((f & 0xfff) === 0 && writer.backlogged) await writer.drained();
  }
  const open = tracker.flows.size;
  const heapAtPeak = process.memoryUsage();
  const rssBeforeFinishMiB = peakRssMiB();
  while (!tracker.finishSome(10_000)) if (writer.backlogged) await writer.drained();
  await writer.flush();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    JSON.stringify({
      flows: count,
      concurrentFlowsAtEnd: open,
      seconds: (Date.now() - started) / 1000,
      peakRssMiB: peakRssMiB(),
      peakRssBeforeFinishMiB: rssBeforeFinishMiB,
      heapUsedMiB: Math.round(heapAtPeak.heapUsed / 1048576),
      arrayBuffersMiB: Math.round(heapAtPeak.arrayBuffers / 1048576),
      rowsWritten: writer.stats.rowsWritten,
    }) + '\n',
  );
}

/**
 * Peak resident memory of this process in MiB. From /proc's VmHWM where there is one: getrusage's
 * maxRSS survives exec on Linux, so a process spawned by a large parent (the benchmark, after its
 * in-process replays) would report the parent's size.
 */
function peakRssMiB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Math.round(Number(hwm[1]) / 1024);
  } catch {
    // No /proc: fall back to getrusage.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

void main();
