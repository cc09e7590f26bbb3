/**
 * Fuzzing the packet path: frames from the corpus (or crafted ones when it is absent) are
 * mutated — bit flips, truncation, corrupted length fields, random bytes — and fed through the
 * decoder and the flow tracker. Nothing may throw, and memory stays bounded. Mutated capture
 * files must fail only with CaptureFormatError.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CaptureFormatError, CaptureReader } from '../capture/capture-reader';
import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { RowCollector } from '../store/row-collector';
import { corpusCaptures, corpusDir } from '../testing/corpus';
import { Conversation } from '../testing/conversation';

/** xorshift32: a fixed seed makes every run mutate the same way, so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

interface Sample {
  linkType: number;
  data: Buffer;
}

function samples(): Sample[] {
  const out: Sample[] = [];
  const dir = corpusDir();
  if (dir) {
    for (const c of corpusCaptures(dir)) {
      const reader = new CaptureReader((p) => {
        if (out.length < 20_000) out.push({ linkType: p.linkType, data: Buffer.from(p.data) });
      });
      reader.feed(readFileSync(c.path));
      reader.end();
    }
  }
  // Crafted frames too, so the test means something without the corpus.
  const conv = new Conversation(['10.0.0.1', 4000], ['10.0.0.2', 80]).handshake().c('PA', { payload: 'GET / HTTP/1.1\r\n\r\n' }).s('PA', { payload: 'HTTP/1.1 200 OK\r\n\r\n' });
  const v6 = new Conversation(['2001:db8::1', 4000], ['2001:db8::2', 443]).handshake().c('FA').s('RA');
  for (const f of [...conv.frames, ...v6.frames]) out.push({ linkType: LinkType.ETHERNET, data: f.data });
  return out;
}

function mutate(src: Buffer, random: () => number): Buffer {
  const b = Buffer.from(src);
  const kind = Math.floor(random() * 5);
  if (kind === 0) {
    const flips = 1 + Math.floor(random() * 8);
    for (let i = 0; i < flips; i++) b[Math.floor(random() * b.length)] ^= 1 << Math.floor(random() * 8);
    return b;
  }
  if (kind === 1) return b.subarray(0, Math.floor(random() * b.length));
  if (kind === 2) {
    // Length and offset fields of IP/TCP/UDP headers sit in the first 60 bytes after the link header.
    const at = 14 + Math.floor(random() * 50);
    if (at + 1 < b.length) b.writeUInt16BE(Math.floor(random() * 0x10000), at);
    return b;
  }
  if (kind === 3) {
    for (let i = 14; i < Math.min(b.length, 80); i++) if (random() < 0.2) b[i] = Math.floor(random() * 256);
    return b;
  }
  const extra = Buffer.alloc(Math.floor(random() * 64));
  for (let i = 0; i < extra.length; i++) extra[i] = Math.floor(random() * 256);
  return Buffer.concat([b, extra]);
}

test('200,000 mutated packets: the decoder and the flow tracker never throw and memory stays bounded', () => {
  const base = samples();
  const random = rng(0x5eed);
  const maxFlows = 5_000;
  let rows = 0;
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'fuzz', maxFlows, runId: 1 });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  const pkt: CapturedPacket = { tsUs: 1_600_000_000_000_000, linkType: 1, interfaceId: 0, capLen: 0, origLen: 0, data: Buffer.alloc(0) };
  const heapBefore = process.memoryUsage().heapUsed;
  let decodedCount = 0;
  for (let i = 0; i < 200_000; i++) {
    const s = base[Math.floor(random() * base.length)];
    const data = mutate(s.data, random);
    pkt.data = data;
    pkt.capLen = data.length;
    pkt.origLen = data.length + (random() < 0.1 ? Math.floor(random() * 1000) : 0);
    pkt.linkType = random() < 0.02 ? Math.floor(random() * 300) : s.linkType;
    // Time moves forward mostly, sometimes jumps, sometimes steps back.
    pkt.tsUs += random() < 0.001 ? 400_000_000 : random() < 0.01 ? -5_000_000 : Math.floor(random() * 2000);
    if (decoder.decode(pkt, decoded)) {
      decodedCount++;
      tracker.process(decoded);
    }
    assert.ok(tracker.flows.size <= maxFlows);
    if ((i & 0xfff) === 0) {
      rows += sink.rowCount;
      sink.reset();
    }
  }
  tracker.finish();
  rows += sink.rowCount;
  assert.equal(tracker.flows.size, 0);
  assert.ok(decodedCount > 50_000, `a fair share still decodes (${decodedCount})`);
  assert.ok(decoder.counters.malformedTotal() > 1_000, 'damage is counted');
  assert.ok(rows > 0);
  const growth = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(growth < 256 * 1024 * 1024, `heap grew by ${growth} bytes`);
});

test('mutated capture files fail only with CaptureFormatError', () => {
  const dir = corpusDir();
  const files = dir ? corpusCaptures(dir).slice(0, 40).map((c) => readFileSync(c.path)) : [];
  const conv = new Conversation(['10.0.0.1', 4000], ['10.0.0.2', 80]).handshake();
  const crafted = Buffer.concat([
    Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'),
    ...conv.frames.map((f) => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(f.data.length, 8);
      h.writeUInt32LE(f.data.length, 12);
      return Buffer.concat([h, f.data]);
    }),
  ]);
  files.push(crafted);
  const random = rng(0xcafe);
  let formatErrors = 0;
  for (let i = 0; i < 2_000; i++) {
    const file = mutate(files[Math.floor(random() * files.length)], random);
    const reader = new CaptureReader(() => undefined);
    try {
      for (let at = 0; at < file.length; at += 997) reader.feed(file.subarray(at, at + 997));
      reader.end();
    } catch (error) {
      assert.ok(error instanceof CaptureFormatError, `unexpected ${String(error)}`);
      formatErrors++;
    }
  }
  assert.ok(formatErrors > 100);
});
