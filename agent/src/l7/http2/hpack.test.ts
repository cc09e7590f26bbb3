import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HUFFMAN_LENGTHS, huffmanCodes, huffmanDecode, huffmanEncode } from './hpack';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
type Pairs = [string, string][];
const pairs = (d: HpackDecoder, block: string): Pairs => {
  const r = d.decode(hex(block));
  assert.equal(r.ok, true);
  assert.equal(r.unknownRefs, 0);
  return r.headers.map((h) => [h.name, h.value]);
};
const table = (d: HpackDecoder): Pairs => {
  const out: Pairs = [];
  for (let i = 62; i < 62 + d.entryCount; i++) out.push(d.entry(i) as [string, string]);
  return out;
};

test('Huffman code is complete and matches Appendix B spot checks', () => {
  assert.equal(HUFFMAN_LENGTHS.length, 257);
  let kraft = 0;
  for (const len of HUFFMAN_LENGTHS) kraft += 2 ** -len;
  assert.equal(kraft, 1);
  const codes = huffmanCodes();
  assert.deepEqual(codes[0], [0x1ff8, 13]);
  assert.deepEqual(codes[10], [0x3ffffffc, 30]);
  assert.deepEqual(codes[13], [0x3ffffffd, 30]);
  assert.deepEqual(codes[22], [0x3ffffffe, 30]);
  assert.deepEqual(codes[256], [0x3fffffff, 30]);
  assert.deepEqual(codes[32], [0x14, 6]);
  assert.deepEqual(codes[48], [0x0, 5]);
  assert.deepEqual(codes[58], [0x5c, 7]);
  assert.deepEqual(codes[60], [0x7ffc, 15]);
  assert.deepEqual(codes[97], [0x3, 5]);
  // every byte value round-trips
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  const enc = huffmanEncode(all);
  assert.equal(huffmanDecode(enc, 0, enc.length), all);
});

test('Huffman rejects EOS, long padding and zero padding', () => {
  assert.equal(huffmanDecode(hex('ffffffff'), 0, 4), undefined); // EOS (30 ones) inside
  assert.equal(huffmanDecode(hex('ff'), 0, 1), undefined); // 8 bits of padding
  assert.equal(huffmanDecode(hex('00'), 0, 1), undefined); // '0' + 3 zero bits
  assert.equal(huffmanDecode(hex('07'), 0, 1), '0'); // '0' (00000) + padding 111
});

test('C.2.1 literal with indexing', () => {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), [['custom-key', 'custom-header']]);
  assert.deepEqual(table(d), [['custom-key', 'custom-header']]);
  assert.equal(d.size, 55);
});

test('C.2.2 literal without indexing', () => {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d, '040c 2f73 616d 706c 652f 7061 7468'), [[':path', '/sample/path']]);
  assert.equal(d.entryCount, 0);
});

test('C.2.3 literal never indexed', () => {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d, '1008 7061 7373 776f 7264 0673 6563 7265 74'), [['password', 'secret']]);
  assert.equal(d.entryCount, 0);
});

test('C.2.4 indexed field', () => {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d, '82'), [[':method', 'GET']]);
  assert.equal(d.entryCount, 0);
});

const REQ1: Pairs = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQ2: Pairs = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Pairs = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];

function requests(blocks: string[]): void {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d, blocks[0]), REQ1);
  assert.deepEqual(table(d), [[':authority', 'www.example.com']]);
  assert.equal(d.size, 57);
  assert.deepEqual(pairs(d, blocks[1]), REQ2);
  assert.deepEqual(table(d), [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ]);
  assert.equal(d.size, 110);
  assert.deepEqual(pairs(d, blocks[2]), REQ3);
  assert.deepEqual(table(d), [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ]);
  assert.equal(d.size, 164);
}

test('C.3 requests without Huffman', () => {
  requests([
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]);
});

test('C.4 requests with Huffman', () => {
  requests(['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']);
});

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';

/** C.5 / C.6: a 256-octet table, so each response evicts older entries. */
function responses(blocks: string[]): void {
  const d = new HpackDecoder();
  d.decode(hex('3fe101')); // size update to 256 (RFC: SETTINGS_HEADER_TABLE_SIZE 256)
  assert.equal(d.maxTableSize, 256);
  assert.deepEqual(pairs(d, blocks[0]), [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', DATE1],
    ['location', LOC],
  ]);
  assert.deepEqual(table(d), [
    ['location', LOC],
    ['date', DATE1],
    ['cache-control', 'private'],
    [':status', '302'],
  ]);
  assert.equal(d.size, 222);
  assert.deepEqual(pairs(d, blocks[1]), [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', DATE1],
    ['location', LOC],
  ]);
  assert.deepEqual(table(d), [
    [':status', '307'],
    ['location', LOC],
    ['date', DATE1],
    ['cache-control', 'private'],
  ]);
  assert.equal(d.size, 222);
  assert.deepEqual(pairs(d, blocks[2]), [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', DATE2],
    ['location', LOC],
    ['content-encoding', 'gzip'],
    ['set-cookie', COOKIE],
  ]);
  assert.deepEqual(table(d), [
    ['set-cookie', COOKIE],
    ['content-encoding', 'gzip'],
    ['date', DATE2],
  ]);
  assert.equal(d.size, 215);
}

test('C.5 responses without Huffman (evictions)', () => {
  responses([
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ]);
});

test('C.6 responses with Huffman (evictions)', () => {
  responses([
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ]);
});

test('size update to 0 empties the table', () => {
  const d = new HpackDecoder();
  pairs(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  assert.equal(d.entryCount, 1);
  assert.deepEqual(pairs(d, '20 82'), [[':method', 'GET']]);
  assert.equal(d.entryCount, 0);
  assert.equal(d.size, 0);
});

test('mid-stream: unknown dynamic references are counted, the rest decoded', () => {
  const d = new HpackDecoder();
  const r = d.decode(hex('83 c5 87 be'));
  assert.equal(r.ok, true);
  assert.equal(r.unknownRefs, 2);
  assert.deepEqual(
    r.headers.map((h) => [h.name, h.value]),
    [
      [':method', 'POST'],
      [':scheme', 'https'],
    ],
  );
  // a literal with incremental indexing whose name is unknown keeps the later indexes aligned
  const r2 = d.decode(hex('7f01 0161 4001 6201 63 bf be'));
  assert.equal(r2.unknownRefs, 2);
  assert.deepEqual(
    r2.headers.map((h) => [h.name, h.value]),
    [
      ['b', 'c'],
      ['b', 'c'],
    ],
  );
});

test('malformed blocks: ok false, no throw', () => {
  const d = new HpackDecoder();
  for (const b of ['80', 'ff', '40', '400a63', '41', '7fffffffffffff', '3fffffffff0f', '0085ffffffff00']) {
    assert.equal(d.decode(hex(b)).ok, false, b);
  }
});
