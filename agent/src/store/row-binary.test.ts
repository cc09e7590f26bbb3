import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkType } from '../capture/captured-packet';
import { replay } from '../pipeline/replay';
import { Conversation } from '../testing/conversation';
import { Random } from '../testing/fuzz';
import { pcapFile } from '../testing/packet-builder';
import { formatAddress, parseAddress } from '../util/ip-format';
import { ChdbStore } from './chdb-store';
import { encodeString, putAddressText, putI64, putString, putU64, putVarint, stringBound } from './row-binary';

test('address text written as bytes is formatAddress, byte for byte', () => {
  const text = (version: number, words: Uint32Array): string => {
    const b = Buffer.alloc(64);
    return b.toString('latin1', 0, putAddressText(b, 0, version, words, 0));
  };
  const fixed = ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.22.133.4', '::', '::1', '1::', 'fd00::a:5001', '2001:db8::1:0:0:1', '1:0:2:3:4:5:6:7', '1:0:0:2:0:0:3:4', '::ffff:a0b:c0d', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'];
  for (const a of fixed) {
    const parsed = parseAddress(a);
    assert.ok(parsed, a);
    assert.equal(text(parsed.version, parsed.words), formatAddress(parsed.version, parsed.words), a);
  }
  const random = new Random(11);
  const words = new Uint32Array(4);
  for (let i = 0; i < 20_000; i++) {
    // Mostly zero groups, so runs of every length and position come up.
    for (let k = 0; k < 4; k++) {
      const hi = random.int(3) === 0 ? random.int(0x10000) : 0;
      const lo = random.int(3) === 0 ? random.int(0x10000) : 0;
      words[k] = ((hi << 16) | lo) >>> 0;
    }
    const version = random.int(4) === 0 ? 4 : 6;
    if (version === 4) words[3] = random.next();
    assert.equal(text(version, words), formatAddress(version, words));
  }
});

test('64-bit integers: what the JSON rows held (fractions rounded, negatives 0 for UInt64)', () => {
  const b = Buffer.alloc(8);
  for (const [v, want] of [
    [0, 0n],
    [1, 1n],
    [255, 255n],
    [2 ** 32 - 1, 2n ** 32n - 1n],
    [2 ** 32, 2n ** 32n],
    [2 ** 53 - 1, 2n ** 53n - 1n],
    [2.6, 3n],
    [-5, 0n],
  ] as const) {
    b.fill(0);
    putU64(b, 0, v);
    assert.equal(b.readBigUInt64LE(0), want, String(v));
  }
  for (const v of [0, 1, -1, 1_700_000_000_123_456, -1_700_000_000_123_456, 2 ** 53 - 1, -(2 ** 53) + 1]) {
    putI64(b, 0, v);
    assert.equal(b.readBigInt64LE(0), BigInt(v), String(v));
  }
});

test('strings need no escaping: tabs, newlines, backslashes, quotes, NUL and UTF-8 in the host tag (RowBinary and Native tables)', async () => {
  const host = 'a\tb\nc\\d"e\0f✓é';
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-rowbinary-'));
  const store = new ChdbStore(join(dir, 'store'));
  try {
    const capture = join(dir, 'c.pcap');
    writeFileSync(capture, pcapFile(LinkType.ETHERNET, new Conversation(['10.0.0.1', 4000], ['10.0.0.2', 80]).handshake().c('PA', { dt: 10, payload: 'x' }).frames));
    await replay({ input: capture, store, host, l7: false });
    for (const table of ['flow_log.l4_flow_log', 'flow_metrics.network_map_1s', 'flow_metrics.network_map_1m']) {
      const got = await store.query<{ host: string; n: number }>(`SELECT host, count() AS n FROM ${table} GROUP BY host`);
      assert.deepEqual(got.map((r) => r.host), [host], table);
    }
    assert.equal(encodeString(host).length, 1 + Buffer.byteLength(host));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('putString writes what encodeString encodes, within its bound, and nothing past its end', () => {
  const texts = [
    '',
    'GET',
    'a'.repeat(127),
    'a'.repeat(128),
    'x'.repeat(16_384),
    '/文件/报告.pdf',
    'é'.repeat(64),
    'ascii then ✓',
    `${'a'.repeat(126)}é`,
    '😀 emoji',
    'lone \ud800 surrogate',
    'a'.repeat(33),
    `${'x'.repeat(40)}\ud800`,
    `${'y'.repeat(40)}😀`,
    'tab\tnul\0quote"',
  ];
  const random = new Random(5);
  for (let i = 0; i < 200; i++) {
    const units = Array.from({ length: random.int(300) }, () => [0x61, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0xd83d][random.int(7)]);
    texts.push(String.fromCharCode(...units));
  }
  for (const text of texts) {
    const want = encodeString(text);
    const d = Buffer.alloc(stringBound(text) + 16);
    const end = putString(d, 3, text);
    assert.equal(end - 3, want.length, JSON.stringify(text.slice(0, 20)));
    assert.ok(want.length <= stringBound(text));
    assert.deepEqual(d.subarray(3, end), want);
    assert.ok(d.subarray(0, 3).every((b) => b === 0) && d.subarray(end).every((b) => b === 0), 'only its own bytes');
  }
  const d = Buffer.alloc(8);
  assert.deepEqual([...d.subarray(0, putVarint(d, 0, 300))], [0xac, 0x02]);
  assert.deepEqual([...d.subarray(0, putVarint(d, 0, 2 ** 32 - 1))], [0xff, 0xff, 0xff, 0xff, 0x0f]);
});
