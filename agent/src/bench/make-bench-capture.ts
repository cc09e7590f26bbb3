/**
 * Builds the benchmark capture from the project's own loopback recording: `copies` copies of
 * it, each with its addresses rewritten (client 10.a.b.1 / server 10.a.b.2, or fd00::a:b:1 / :2)
 * so every copy's flows are distinct, and each copy started `staggerUs` after the previous one
 * so thousands of flows are open at once. Classic pcap, written streaming.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CaptureReader } from '../capture/capture-reader';
import { pcapGlobalHeader, writePcapRecordHeader } from '../capture/pcap-writer';

interface BasePacket {
  tsUs: number;
  data: Buffer;
  origLen: number;
  ipOffset: number;
  ipVersion: number;
  /** Which address (0 src, 1 dst) belongs to the server side, from the well-known server ports. */
  serverIs: 0 | 1;
}

const SERVER_PORTS = new Set([18080, 16379, 18099]);

export function makeBenchCapture(basePath: string, outPath: string, copies: number, staggerUs: number): { packets: number } {
  const base: BasePacket[] = [];
  let linkType = 1;
  const reader = new CaptureReader((p) => {
    linkType = p.linkType;
    const data = Buffer.from(p.data);
    const ipOffset = 14;
    const ipVersion = data[ipOffset] >> 4;
    const l4 = ipOffset + (ipVersion === 4 ? (data[ipOffset] & 15) * 4 : 40);
    const dport = data.readUInt16BE(l4 + 2);
    base.push({ tsUs: p.tsUs, data, origLen: p.origLen, ipOffset, ipVersion, serverIs: SERVER_PORTS.has(dport) ? 1 : 0 });
  });
  reader.feed(readFileSync(basePath));
  reader.end();
  const t0 = base[0].tsUs;
  // Every (copy, packet) pair in time order: copies are shifted by k * stagger.
  const order: { t: number; k: number; i: number }[] = [];
  for (let k = 0; k < copies; k++) for (let i = 0; i < base.length; i++) order.push({ t: base[i].tsUs - t0 + k * staggerUs, k, i });
  order.sort((a, b) => a.t - b.t);
  const fd = openSync(outPath, 'w');
  writeSync(fd, pcapGlobalHeader(linkType));
  const chunk = Buffer.alloc(4 << 20);
  let used = 0;
  const start = 1_700_000_000_000_000;
  for (const { t, k, i } of order) {
    const b = base[i];
    const need = 16 + b.data.length;
    if (used + need > chunk.length) {
      writeSync(fd, chunk, 0, used);
      used = 0;
    }
    writePcapRecordHeader(chunk, used, start + t, b.data.length, b.origLen);
    b.data.copy(chunk, used + 16);
    rewrite(chunk, used + 16 + b.ipOffset, b.ipVersion, b.serverIs, k);
    used += need;
  }
  writeSync(fd, chunk, 0, used);
  closeSync(fd);
  return { packets: order.length };
}

function rewrite(buf: Buffer, ip: number, version: number, serverIs: 0 | 1, k: number): void {
  const hi = (k >> 8) & 255;
  const lo = k & 255;
  if (version === 4) {
    for (const side of [0, 1]) {
      const at = ip + 12 + side * 4;
      buf[at] = 10;
      buf[at + 1] = hi;
      buf[at + 2] = lo;
      buf[at + 3] = side === serverIs ? 2 : 1;
    }
    return;
  }
  for (const side of [0, 1]) {
    const at = ip + 8 + side * 16;
    buf.fill(0, at, at + 16);
    buf[at] = 0xfd;
    buf[at + 12] = (k >> 16) & 255;
    buf[at + 13] = hi;
    buf[at + 14] = lo;
    buf[at + 15] = side === serverIs ? 2 : 1;
  }
}

if (require.main === module) {
  const [base, out, copies, stagger] = process.argv.slice(2);
  const r = makeBenchCapture(base, out, Number(copies ?? 5400), Number(stagger ?? 2000));
  process.stdout.write(`${out}: ${r.packets} packets\n`);
}
