import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CaptureFormatError, CaptureReader, openCaptureFile, readCapture } from './capture-reader';
import { LinkType, type CapturedPacket } from './captured-packet';

// ---------------------------------------------------------------- byte builders

function u16(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}

function u32(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

function u64(v: bigint, le: boolean): Buffer {
  const b = Buffer.alloc(8);
  if (le) b.writeBigUInt64LE(BigInt.asUintN(64, v));
  else b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
}

function pad4(b: Buffer): Buffer {
  const rest = (4 - (b.length % 4)) % 4;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(rest)]);
}

function frame(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

interface PcapOpts {
  le: boolean;
  nano?: boolean;
  linkTypeField?: number;
  snaplen?: number;
}

function pcapHeader(o: PcapOpts): Buffer {
  return Buffer.concat([
    u32(o.nano ? 0xa1b23c4d : 0xa1b2c3d4, o.le),
    u16(2, o.le),
    u16(4, o.le),
    u32(0, o.le),
    u32(0, o.le),
    u32(o.snaplen ?? 65535, o.le),
    u32(o.linkTypeField ?? LinkType.ETHERNET, o.le),
  ]);
}

function pcapRecord(le: boolean, sec: number, frac: number, data: Buffer, origLen = data.length): Buffer {
  return Buffer.concat([u32(sec, le), u32(frac, le), u32(data.length, le), u32(origLen, le), data]);
}

function block(type: number, body: Buffer, le: boolean): Buffer {
  const padded = pad4(body);
  const len = padded.length + 12;
  return Buffer.concat([u32(type, le), u32(len, le), padded, u32(len, le)]);
}

function opt(code: number, value: Buffer, le: boolean): Buffer {
  return Buffer.concat([u16(code, le), u16(value.length, le), pad4(value)]);
}

function shb(le: boolean): Buffer {
  const body = Buffer.concat([
    u32(0x1a2b3c4d, le),
    u16(1, le),
    u16(0, le),
    u64(-1n, le),
    opt(4, Buffer.from('test writer'), le), // shb_userappl
    opt(0, Buffer.alloc(0), le),
  ]);
  return block(0x0a0d0d0a, body, le);
}

function idb(le: boolean, linkType: number, snaplen: number, opts: Buffer[] = []): Buffer {
  const tail = opts.length > 0 ? [...opts, opt(0, Buffer.alloc(0), le)] : [];
  return block(1, Buffer.concat([u16(linkType, le), u16(0, le), u32(snaplen, le), ...tail]), le);
}

function tsresol(v: number, le: boolean): Buffer {
  return opt(9, Buffer.from([v]), le);
}

function tsoffset(sec: bigint, le: boolean): Buffer {
  return opt(14, u64(sec, le), le);
}

function epb(le: boolean, ifId: number, ts: bigint, data: Buffer, origLen = data.length, withOpts = false): Buffer {
  const parts = [
    u32(ifId, le),
    u32(Number(ts >> 32n), le),
    u32(Number(ts & 0xffffffffn), le),
    u32(data.length, le),
    u32(origLen, le),
    pad4(data),
  ];
  if (withOpts) parts.push(opt(1, Buffer.from('a comment'), le), opt(0, Buffer.alloc(0), le));
  return block(6, Buffer.concat(parts), le);
}

function spb(le: boolean, origLen: number, data: Buffer): Buffer {
  return block(3, Buffer.concat([u32(origLen, le), data]), le);
}

function pb(le: boolean, ifId: number, ts: bigint, data: Buffer): Buffer {
  return block(
    2,
    Buffer.concat([
      u16(ifId, le),
      u16(0, le),
      u32(Number(ts >> 32n), le),
      u32(Number(ts & 0xffffffffn), le),
      u32(data.length, le),
      u32(data.length, le),
      data,
    ]),
    le,
  );
}

// ---------------------------------------------------------------- reading helpers

interface Rec {
  tsUs: number;
  linkType: number;
  interfaceId: number;
  capLen: number;
  origLen: number;
  data: string;
}

function snap(p: CapturedPacket): Rec {
  assert.equal(p.data.length, p.capLen);
  return {
    tsUs: p.tsUs,
    linkType: p.linkType,
    interfaceId: p.interfaceId,
    capLen: p.capLen,
    origLen: p.origLen,
    data: p.data.toString('hex'),
  };
}

/** Feeds `file` in the given chunk sizes (the last one repeats) and returns the packets. */
function readChunks(file: Buffer, sizes: number[] = [file.length]): { recs: Rec[]; reader: CaptureReader } {
  const recs: Rec[] = [];
  const reader = new CaptureReader((p) => recs.push(snap(p)));
  let off = 0;
  let i = 0;
  while (off < file.length) {
    const n = Math.max(1, sizes[Math.min(i++, sizes.length - 1)]);
    reader.feed(file.subarray(off, off + n));
    off += n;
  }
  reader.end();
  return { recs, reader };
}

function readSplitAt(file: Buffer, at: number): Rec[] {
  return readChunks(file, [at, file.length]).recs;
}

// ---------------------------------------------------------------- classic pcap

for (const le of [true, false]) {
  for (const nano of [false, true]) {
    test(`pcap ${nano ? 'ns' : 'µs'} ${le ? 'little' : 'big'}-endian`, () => {
      const frac1 = nano ? 123456789 : 123456;
      const frac2 = nano ? 999 : 999999;
      const file = Buffer.concat([
        pcapHeader({ le, nano, linkTypeField: LinkType.LINUX_SLL }),
        pcapRecord(le, 1700000000, frac1, frame(60, 1)),
        pcapRecord(le, 1700000001, frac2, frame(54, 2), 1514),
        pcapRecord(le, 0xfffffffe, 0, Buffer.alloc(0), 0),
      ]);
      const { recs, reader } = readChunks(file);
      assert.equal(reader.format, 'pcap');
      assert.deepEqual(recs, [
        { tsUs: 1700000000123456, linkType: 113, interfaceId: 0, capLen: 60, origLen: 60, data: frame(60, 1).toString('hex') },
        {
          tsUs: nano ? 1700000001000000 : 1700000001999999,
          linkType: 113,
          interfaceId: 0,
          capLen: 54,
          origLen: 1514,
          data: frame(54, 2).toString('hex'),
        },
        { tsUs: 0xfffffffe * 1e6, linkType: 113, interfaceId: 0, capLen: 0, origLen: 0, data: '' },
      ]);
      assert.deepEqual(reader.stats, { packets: 3, bytes: 114, blocksSkipped: 0, bytesConsumed: file.length });
    });
  }
}

test('pcap link type field: FCS bits above the 16-bit link type are masked off', () => {
  // F bit (26) set and FCS length 4 (bits 28-31), link type Ethernet.
  const file = Buffer.concat([
    pcapHeader({ le: true, linkTypeField: 0x44000000 | LinkType.ETHERNET }),
    pcapRecord(true, 1, 2, frame(64, 3)),
  ]);
  const { recs } = readChunks(file);
  assert.equal(recs[0].linkType, LinkType.ETHERNET);
});

test('pcap with only a global header has no packets', () => {
  const { recs, reader } = readChunks(pcapHeader({ le: false }));
  assert.equal(recs.length, 0);
  assert.equal(reader.format, 'pcap');
  assert.equal(reader.stats.bytesConsumed, 24);
});

test('pcap data is a view of the fed chunk when the record lies within it', () => {
  const file = Buffer.concat([pcapHeader({ le: true }), pcapRecord(true, 1, 2, frame(100, 4))]);
  let seen: Buffer | undefined;
  const reader = new CaptureReader((p) => {
    seen = p.data;
  });
  reader.feed(file);
  reader.end();
  assert.ok(seen !== undefined);
  assert.equal(seen.buffer, file.buffer);
  assert.equal(seen.byteOffset, file.byteOffset + 40);
});

test('pcap record larger than 256 KiB is a format error naming its offset', () => {
  const file = Buffer.concat([
    pcapHeader({ le: true }),
    pcapRecord(true, 1, 0, frame(10, 1)),
    u32(2, true),
    u32(0, true),
    u32(256 * 1024 + 1, true),
    u32(256 * 1024 + 1, true),
  ]);
  const got: Rec[] = [];
  const reader = new CaptureReader((p) => got.push(snap(p)));
  assert.throws(() => reader.feed(file), (err: unknown) => {
    assert.ok(err instanceof CaptureFormatError);
    assert.match(err.message, /pcap record at byte 50 claims 262145 captured bytes/);
    assert.equal(err.offset, 50);
    return true;
  });
  assert.equal(got.length, 1);
  // The reader stays failed.
  assert.throws(() => reader.feed(Buffer.alloc(1)), CaptureFormatError);
});

// ---------------------------------------------------------------- pcapng

/** Two sections: the second in the other byte order. Interfaces with different resolutions. */
function multiInterfaceFile(le: boolean): { file: Buffer; expected: Rec[] } {
  const d = (n: number, s: number): Buffer => frame(n, s);
  const file = Buffer.concat([
    shb(le),
    idb(le, LinkType.ETHERNET, 0), // default resolution 10^-6
    idb(le, LinkType.RAW, 65535, [tsresol(9, le)]), // ns
    idb(le, LinkType.LINUX_SLL2, 128, [tsresol(0x80 | 20, le), tsoffset(1700000000n, le)]), // 2^-20 s + offset
    epb(le, 0, 1700000000123456n, d(60, 1)),
    epb(le, 1, 1700000000987654321n, d(41, 2), 41, true),
    epb(le, 2, (1000n << 20n) | 524288n, d(33, 3), 1500), // 1000.5 s after the offset
    epb(le, 2, 1n, d(7, 4)), // 2^-20 s = 0.95 µs: floors to the offset itself
    block(4, Buffer.concat([u16(1, le), u16(4, le), Buffer.from([10, 0, 0, 1]), u32(0, le)]), le), // NRB
    block(5, Buffer.concat([u32(0, le), u32(0, le), u32(0, le)]), le), // ISB
    block(0x00000bad, Buffer.from('custom block payload'), le), // custom
    spb(le, 80, d(80, 5)), // interface 0: no snaplen, last timestamp
    pb(le, 1, 1700000005000000999n, d(12, 6)), // obsolete packet block
    spb(le, 1514, d(20, 7)), // orig 1514 but only 20 bytes in the block
    shb(!le),
    idb(!le, LinkType.IPV6, 16, [tsresol(3, !le)]), // ms, snaplen 16
    epb(!le, 0, 1700000010123n, d(16, 8), 99),
    spb(!le, 40, d(40, 9)), // cut to the snaplen 16
  ]);
  const r = (tsUs: number, linkType: number, interfaceId: number, data: Buffer, origLen = data.length): Rec => ({
    tsUs,
    linkType,
    interfaceId,
    capLen: data.length,
    origLen,
    data: data.toString('hex'),
  });
  const expected = [
    r(1700000000123456, LinkType.ETHERNET, 0, d(60, 1)),
    r(1700000000987654, LinkType.RAW, 1, d(41, 2)),
    r(1700001000500000, LinkType.LINUX_SLL2, 2, d(33, 3), 1500),
    r(1700000000000000, LinkType.LINUX_SLL2, 2, d(7, 4)),
    r(1700000000000000, LinkType.ETHERNET, 0, d(80, 5)),
    r(1700000005000000, LinkType.RAW, 1, d(12, 6)),
    r(1700000005000000, LinkType.ETHERNET, 0, d(20, 7), 1514),
    r(1700000010123000, LinkType.IPV6, 0, d(16, 8), 99),
    r(1700000010123000, LinkType.IPV6, 0, d(16, 9), 40),
  ];
  return { file, expected };
}

for (const le of [true, false]) {
  test(`pcapng ${le ? 'little' : 'big'}-endian: interfaces, resolutions, SPB, PB, skipped blocks, second SHB`, () => {
    const { file, expected } = multiInterfaceFile(le);
    const { recs, reader } = readChunks(file);
    assert.equal(reader.format, 'pcapng');
    assert.deepEqual(recs, expected);
    assert.equal(reader.stats.packets, expected.length);
    assert.equal(reader.stats.bytes, expected.reduce((s, x) => s + x.capLen, 0));
    assert.equal(reader.stats.blocksSkipped, 3);
    assert.equal(reader.stats.bytesConsumed, file.length);
  });
}

test('pcapng: a new section forgets the interfaces of the previous one', () => {
  const file = Buffer.concat([
    shb(true),
    idb(true, 1, 0),
    idb(true, 1, 0),
    epb(true, 1, 5n, frame(4, 1)),
    shb(false),
    idb(false, 101, 0),
    epb(false, 1, 5n, frame(4, 2)),
  ]);
  const got: Rec[] = [];
  const reader = new CaptureReader((p) => got.push(snap(p)));
  assert.throws(
    () => reader.feed(file),
    /enhanced packet block at byte \d+ refers to interface 1, but the section describes 1 interface/,
  );
  assert.equal(got.length, 1);
});

test('pcapng timestamps: every resolution converts exactly to floor(µs), with offsets', () => {
  let seed = 12345;
  const rnd32 = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const resolutions = [0, 1, 3, 5, 6, 7, 9, 12, 13, 15, 19, 0x80, 0x80 | 10, 0x80 | 20, 0x80 | 31, 0x80 | 32, 0x80 | 33, 0x80 | 40, 0x80 | 52, 0x80 | 53, 0x80 | 64];
  const offsets = [0n, 1700000000n, -86400n];
  for (const res of resolutions) {
    for (const offset of offsets) {
      const k = BigInt(res & 0x7f);
      const unitsPerSec = res & 0x80 ? 2n ** k : 10n ** k;
      const ref = (ts: bigint): bigint => (ts * 1000000n) / unitsPerSec + offset * 1000000n;
      const values: bigint[] = [0n, 1n, 0xffffffffn, 0x100000000n, unitsPerSec - 1n, unitsPerSec, unitsPerSec + 1n];
      for (let i = 0; i < 200; i++) values.push((BigInt(rnd32()) << 32n) | BigInt(rnd32()));
      const kept = values
        .map((v) => {
          let ts = BigInt.asUintN(64, v);
          // Keep results representable exactly (|µs| < 2^53) so that equality is meaningful.
          while (ts > 0n && (ref(ts) >= 2n ** 53n || ref(ts) <= -(2n ** 53n))) ts >>= 1n;
          return ts;
        })
        .filter((ts) => ref(ts) < 2n ** 53n && ref(ts) > -(2n ** 53n));
      for (const le of [true, false]) {
        const opts = [tsresol(res, le)];
        if (offset !== 0n) opts.push(tsoffset(offset, le));
        const file = Buffer.concat([shb(le), idb(le, 1, 0, opts), ...kept.map((ts) => epb(le, 0, ts, frame(1, 0)))]);
        const { recs } = readChunks(file);
        assert.equal(recs.length, kept.length);
        for (let i = 0; i < kept.length; i++) {
          assert.equal(recs[i].tsUs, Number(ref(kept[i])), `res 0x${res.toString(16)} offset ${offset} ts ${kept[i]}`);
        }
      }
    }
  }
});

test('pcapng block data is a view of the fed chunk when the block lies within it', () => {
  const file = Buffer.concat([shb(true), idb(true, 1, 0), epb(true, 0, 1n, frame(50, 1))]);
  let seen: Buffer | undefined;
  const reader = new CaptureReader((p) => {
    seen = p.data;
  });
  reader.feed(file);
  reader.end();
  assert.ok(seen !== undefined);
  assert.equal(seen.buffer, file.buffer);
});

// ---------------------------------------------------------------- chunking

const smallPcap = Buffer.concat([
  pcapHeader({ le: false, nano: true }),
  pcapRecord(false, 10, 5000, frame(20, 1)),
  pcapRecord(false, 11, 6000, frame(3, 2)),
  pcapRecord(false, 12, 7000, Buffer.alloc(0)),
  pcapRecord(false, 13, 8000, frame(33, 4)),
]);

const smallPcapng = Buffer.concat([
  shb(true),
  idb(true, 1, 0),
  idb(true, 101, 0, [tsresol(9, true)]),
  epb(true, 0, 1000001n, frame(21, 1)),
  block(0x40000001, Buffer.from('skip me'), true),
  epb(true, 1, 2000000123000n, frame(3, 2), 3, true),
  spb(true, 9, frame(9, 3)),
  shb(false),
  idb(false, 228, 0, [tsresol(0x80 | 10, false)]),
  epb(false, 0, 3n * 1024n + 512n, frame(6, 4)),
]);

for (const [name, file] of [
  ['pcap', smallPcap],
  ['pcapng', smallPcapng],
] as const) {
  test(`${name}: same packets whether fed whole, byte by byte, or split at any point`, () => {
    const whole = readChunks(file);
    assert.ok(whole.recs.length >= 4);
    const byByte = readChunks(file, [1]);
    assert.deepEqual(byByte.recs, whole.recs);
    assert.deepEqual(byByte.reader.stats, whole.reader.stats);
    for (let at = 1; at < file.length; at++) {
      assert.deepEqual(readSplitAt(file, at), whole.recs, `split at ${at}`);
    }
    for (const size of [2, 3, 5, 7, 13, 64]) {
      assert.deepEqual(readChunks(file, [size]).recs, whole.recs, `chunks of ${size}`);
    }
  });
}

test('a large pcapng block arriving in small chunks grows the carry buffer', () => {
  const big = frame(200000, 9);
  const file = Buffer.concat([shb(true), idb(true, 1, 0), epb(true, 0, 7n, big), epb(true, 0, 8n, frame(5, 1))]);
  const { recs } = readChunks(file, [1000]);
  assert.equal(recs.length, 2);
  assert.equal(recs[0].data, big.toString('hex'));
  assert.equal(recs[1].tsUs, 8);
});

// ---------------------------------------------------------------- errors

test('input that is not a capture is rejected with its first bytes', () => {
  const reader = new CaptureReader(() => assert.fail('no packet expected'));
  assert.throws(
    () => reader.feed(Buffer.from('<!DOCTYPE html><html></html>')),
    (err: unknown) =>
      err instanceof CaptureFormatError &&
      err.message === 'not a pcap or pcapng capture (first bytes 3c 21 44 4f)',
  );
  assert.equal(reader.format, undefined);
});

test('not-a-capture is detected when the magic arrives byte by byte', () => {
  const reader = new CaptureReader(() => undefined);
  reader.feed(Buffer.from('G'));
  reader.feed(Buffer.from('I'));
  reader.feed(Buffer.from('F'));
  assert.throws(() => reader.feed(Buffer.from('8')), /first bytes 47 49 46 38/);
});

test('empty and tiny inputs are format errors at end()', () => {
  const empty = new CaptureReader(() => undefined);
  assert.throws(() => empty.end(), /not a pcap or pcapng capture \(the input is empty\)/);
  const tiny = new CaptureReader(() => undefined);
  tiny.feed(Buffer.from([0xd4, 0xc3]));
  assert.throws(() => tiny.end(), /only 2 byte\(s\): d4 c3/);
});

test('a capture cut mid-record fails at end() after delivering the earlier packets', () => {
  const full = Buffer.concat([
    pcapHeader({ le: true }),
    pcapRecord(true, 1, 0, frame(30, 1)),
    pcapRecord(true, 2, 0, frame(30, 2)),
    pcapRecord(true, 3, 0, frame(30, 3)),
  ]);
  const cut = full.subarray(0, full.length - 10); // 36 of 46 bytes of the third record
  for (const sizes of [[cut.length], [1], [50]]) {
    const got: number[] = [];
    const reader = new CaptureReader((p) => got.push(p.tsUs));
    let off = 0;
    while (off < cut.length) {
      reader.feed(cut.subarray(off, off + sizes[0]));
      off += sizes[0];
    }
    assert.deepEqual(got, [1e6, 2e6]);
    assert.throws(
      () => reader.end(),
      (err: unknown) =>
        err instanceof CaptureFormatError &&
        err.message === 'capture is cut mid-record at byte 116 (36 of 46 bytes of the record present)' &&
        err.offset === 116,
    );
  }
  // Cut inside the record header: the record length is not known yet.
  const inHeader = new CaptureReader(() => undefined);
  inHeader.feed(full.subarray(0, 24 + 46 + 5));
  assert.throws(() => inHeader.end(), /cut mid-record at byte 70 \(5 of at least 16 bytes/);
  // Cut inside a pcapng block.
  const ng = smallPcapng.subarray(0, smallPcapng.length - 3);
  const ngReader = new CaptureReader(() => undefined);
  ngReader.feed(ng);
  assert.throws(() => ngReader.end(), /capture is cut mid-record at byte \d+ \(\d+ of \d+ bytes of the record present\)/);
});

test('bad pcapng block lengths are format errors naming the offset', () => {
  const head = Buffer.concat([shb(true), idb(true, 1, 0)]);
  const good = epb(true, 0, 1n, frame(8, 1));
  const cases: [string, Buffer, RegExp][] = [];
  const notMultiple = Buffer.from(good);
  notMultiple.writeUInt32LE(good.length + 2, 4);
  cases.push(['not a multiple of 4', notMultiple, new RegExp(`block at byte ${head.length + good.length} \\(type 0x00000006\\) has an invalid total length ${good.length + 2}`)]);
  const tooShort = Buffer.from(good);
  tooShort.writeUInt32LE(8, 4);
  cases.push(['shorter than 12', tooShort, /has an invalid total length 8 \(must be a multiple of 4 and at least 12\)/]);
  const trailer = Buffer.from(good);
  trailer.writeUInt32LE(good.length + 4, good.length - 4);
  cases.push(['trailer mismatch', trailer, /has a trailing length \d+ that differs from its leading length \d+/]);
  const huge = Buffer.from(good);
  huge.writeUInt32LE(32 * 1024 * 1024, 4);
  cases.push(['over 16 MiB', huge, /larger than the 16777216-byte limit/]);
  const capTooBig = Buffer.from(good);
  capTooBig.writeUInt32LE(100, 20);
  cases.push(['cap len past the block', capTooBig, /captured length of 100 that does not fit/]);
  for (const [name, bad, re] of cases) {
    const file = Buffer.concat([head, good, bad, good]);
    for (const sizes of [[file.length], [1]]) {
      const got: number[] = [];
      const reader = new CaptureReader((p) => got.push(p.tsUs));
      assert.throws(
        () => {
          let off = 0;
          while (off < file.length) {
            reader.feed(file.subarray(off, off + sizes[0]));
            off += sizes[0];
          }
        },
        (err: unknown) => {
          assert.ok(err instanceof CaptureFormatError, name);
          assert.match(err.message, re, name);
          assert.equal(err.offset, head.length + good.length, name);
          return true;
        },
      );
      assert.deepEqual(got, [1], name);
    }
  }
});

test('pcapng section header with a bad byte-order magic is a format error', () => {
  const bad = shb(true);
  bad.writeUInt32LE(0x12345678, 8);
  const reader = new CaptureReader(() => undefined);
  assert.throws(() => reader.feed(bad), /section header block at byte 0 has an invalid byte-order magic \(bytes 78 56 34 12,/);
});

// ---------------------------------------------------------------- stream helpers

test('readCapture reads a stream, reports progress and resolves with the counters', async () => {
  const { file, expected } = multiInterfaceFile(true);
  const chunks: Buffer[] = [];
  for (let off = 0; off < file.length; off += 37) chunks.push(file.subarray(off, off + 37));
  const got: Rec[] = [];
  const progress: number[] = [];
  const stats = await readCapture(Readable.from(chunks), (p) => got.push(snap(p)), (n) => progress.push(n));
  assert.deepEqual(got, expected);
  assert.equal(stats.packets, expected.length);
  assert.equal(stats.bytesConsumed, file.length);
  assert.equal(progress.length, chunks.length);
  assert.equal(progress[progress.length - 1], file.length);
});

test('readCapture rejects with the CaptureFormatError; earlier packets stay delivered', async () => {
  const full = Buffer.concat([pcapHeader({ le: true }), pcapRecord(true, 1, 0, frame(30, 1)), pcapRecord(true, 2, 0, frame(30, 2))]);
  const got: number[] = [];
  await assert.rejects(
    readCapture(Readable.from([full.subarray(0, full.length - 1)]), (p) => got.push(p.tsUs)),
    (err: unknown) => err instanceof CaptureFormatError && /cut mid-record at byte 70/.test(err.message),
  );
  assert.deepEqual(got, [1e6]);
  await assert.rejects(readCapture(Readable.from([Buffer.from('hello world')]), () => undefined), /first bytes 68 65 6c 6c/);
});

test('openCaptureFile + readCapture on a file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capture-reader-'));
  try {
    const file = path.join(dir, 'x.pcapng');
    fs.writeFileSync(file, smallPcapng);
    const stream = openCaptureFile(file);
    assert.equal(stream.readableHighWaterMark, 1024 * 1024);
    const got: Rec[] = [];
    const stats = await readCapture(stream, (p) => got.push(snap(p)));
    assert.deepEqual(got, readChunks(smallPcapng).recs);
    assert.equal(stats.bytesConsumed, smallPcapng.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- real captures

function findCaptures(dir: string): string[] {
  const out: string[] = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...findCaptures(p));
    else if (/\.(pcap|pcapng)$/.test(ent.name)) out.push(p);
  }
  return out.sort();
}

/** "1265678319.618072000" -> µs since the epoch (floor). */
function epochToUs(s: string): number {
  const m = /^(\d+)\.(\d{9})$/.exec(s);
  assert.ok(m, `unexpected epoch format ${s}`);
  return Number(BigInt(m[1]) * 1000000n + BigInt(m[2].slice(0, 6)));
}

test('corpus: packet counts, bytes and first/last timestamps match the tshark oracles', async (t) => {
  const corpus = process.env.METAFLOW_CORPUS ?? path.resolve(__dirname, '../../../../shared/corpus');
  if (!fs.existsSync(corpus)) {
    t.skip(`corpus not found at ${corpus}`);
    return;
  }
  const files = findCaptures(corpus);
  assert.ok(files.length > 0, `no captures under ${corpus}`);
  let checked = 0;
  for (const file of files) {
    const oraclePath = `${file}.oracle.json`;
    if (!fs.existsSync(oraclePath)) continue;
    const oracle = JSON.parse(fs.readFileSync(oraclePath, 'utf8')) as {
      capture: { packets: number; bytes: number; first_epoch: string | null; last_epoch: string | null };
    };
    const name = path.relative(corpus, file);
    let packets = 0;
    let wireBytes = 0;
    let minTs = Infinity;
    let maxTs = -Infinity;
    const stats = await readCapture(openCaptureFile(file), (p) => {
      packets++;
      wireBytes += p.origLen;
      if (p.tsUs < minTs) minTs = p.tsUs;
      if (p.tsUs > maxTs) maxTs = p.tsUs;
    });
    assert.equal(packets, oracle.capture.packets, `${name}: packets`);
    assert.equal(stats.packets, packets, `${name}: stats.packets`);
    assert.equal(stats.bytesConsumed, fs.statSync(file).size, `${name}: bytesConsumed`);
    assert.equal(wireBytes, oracle.capture.bytes, `${name}: bytes (sum of orig len)`);
    if (oracle.capture.first_epoch !== null && oracle.capture.last_epoch !== null) {
      // The oracle's first/last are tshark's min/max frame.time_epoch.
      assert.equal(minTs, epochToUs(oracle.capture.first_epoch), `${name}: first timestamp`);
      assert.equal(maxTs, epochToUs(oracle.capture.last_epoch), `${name}: last timestamp`);
    }
    // The same file in odd-sized chunks goes through the carry path for most records.
    const bytes = fs.readFileSync(file);
    let again = 0;
    let sum = 0;
    const reader = new CaptureReader((p) => {
      again++;
      sum += p.tsUs % 1000003;
      sum += p.data.length > 0 ? p.data[p.data.length - 1] : 0;
    });
    let expectSum = 0;
    const whole = new CaptureReader((p) => {
      expectSum += p.tsUs % 1000003;
      expectSum += p.data.length > 0 ? p.data[p.data.length - 1] : 0;
    });
    whole.feed(bytes);
    whole.end();
    for (let off = 0; off < bytes.length; off += 997) reader.feed(bytes.subarray(off, off + 997));
    reader.end();
    assert.equal(again, packets, `${name}: packets in 997-byte chunks`);
    assert.equal(sum, expectSum, `${name}: content in 997-byte chunks`);
    checked++;
  }
  assert.ok(checked > 0, 'no capture with an oracle was found');
  t.diagnostic(`checked ${checked} captures under ${corpus}`);
});
