import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Session } from 'chdb';
import { Conversation, trackInto } from '../testing/conversation';
import { ChdbStore } from './chdb-store';
import { decodeNative, fileColumnType, NativeBlock } from './native-block';
import { encodeString, putU16, putU64 } from './row-binary';
import { migrate } from './store';
import { TableDef, tableByName } from './tables';

/** The Native blocks the tracker writes, per table: L4 flow log and network map rows. */
function nativeBlocks(): Map<string, NativeBlock> {
  // Flow log rows of a minute report and of closes, IPv4 and IPv6, fin and reset; map rows
  // with histograms, per second and minute.
  const t0 = 1_700_000_080_000_000;
  const frames = [
    ...new Conversation(['10.0.0.1', 40000], ['10.0.0.2', 80], t0).handshake().c('PA', { dt: 30_000_000, payload: 'late' }).s('PA', { dt: 100, payload: 'ok' }).c('FA').s('FA').c('A').frames,
    ...new Conversation(['fd00::1', 5000], ['fd00::a:2', 443], t0 + 5).handshake().c('PA', { dt: 10, payload: 'x' }).c('R').frames,
  ];
  return trackInto(frames, { host: 'h\t1', runId: 3 }).sink.nativeTables;
}

const TABLE: TableDef = {
  database: 'flow_metrics',
  name: 'native_test',
  columns: [
    { name: 'time', type: 'DateTime' },
    { name: 'tag', type: 'LowCardinality(String)' },
    { name: 'port', type: 'UInt16' },
    { name: 'text', type: 'String' },
    { name: 'bytes', type: 'UInt64' },
    { name: 'rtt_hist', type: 'Map(UInt8, UInt64)' },
  ],
  orderBy: ['time'],
  partitionBy: 'tuple()',
  ttlDays: 1,
  timeColumn: 'time',
};

interface TestRow {
  time: number;
  tag: string;
  port: number;
  text: string;
  bytes: number;
  hist: [number, number][];
}

/**
 * Writes rows the way the pipeline's writers do: fixed-width values at the row (as bytes or as
 * 32-bit words, alternately), the rest appended.
 */
function write(block: NativeBlock, rows: TestRow[]): void {
  for (const r of rows) {
    const row = block.beginRow();
    if (row % 2 === 0) block.data[0].writeUInt32LE(r.time, row * 4);
    else block.words[0][row] = r.time;
    block.putEncoded(1, encodeString(r.tag));
    putU16(block.data[2], row * 2, r.port);
    if (r.text === '') block.putEmpty(3);
    else block.putEncoded(3, encodeString(r.text));
    if (row % 2 === 0) putU64(block.data[4], row * 8, r.bytes);
    else {
      block.words[4][row * 2] = r.bytes >>> 0;
      block.words[4][row * 2 + 1] = Math.floor(r.bytes / 2 ** 32);
    }
    for (const [k, v] of r.hist) block.mapEntry(5, k, v);
    block.mapEnd(5, row);
    block.endRow();
  }
}

function sampleRows(n: number): TestRow[] {
  return Array.from({ length: n }, (_, i) => ({
    time: 1_700_000_000 + i,
    tag: ['c', 's', 'local'][i % 3],
    port: (i * 7919) % 65536,
    text: i % 5 === 0 ? '' : `row ${i} ✓ ${'x'.repeat(i % 200)}`,
    bytes: i % 4 === 0 ? 0 : 2 ** 40 + i,
    hist: i % 3 === 0 ? [] : [
        [i % 23, i + 1],
        [23, 2 ** 33],
      ],
  }));
}

test('a block is byte for byte what ClickHouse writes as Native for the same rows, values written as bytes or words, also after growing and reuse', async () => {
  const session = new Session();
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-native-'));
  try {
    const structure = TABLE.columns.map((c) => `${c.name} ${fileColumnType(c.type)}`).join(', ');
    // Room for 16 bytes of rows, so the least a block starts with (16 rows): 300 rows make every
    // column grow several times.
    const block = new NativeBlock(TABLE, 16);
    for (const count of [300, 7, 1]) {
      const rows = sampleRows(count);
      write(block, rows);
      const json = join(dir, `rows-${count}.json`);
      const objects = rows.map((r) => ({ time: r.time, tag: r.tag, port: r.port, text: r.text, bytes: r.bytes, rtt_hist: Object.fromEntries(r.hist) }));
      writeFileSync(json, objects.map((o) => JSON.stringify(o)).join('\n'));
      const result = await session.queryAsync(`SELECT * FROM file('${json}', 'JSONEachRow', '${structure}') SETTINGS max_threads = 1, input_format_parallel_parsing = 0`, {
        format: 'Native',
      });
      assert.deepEqual(Buffer.concat(block.chunks()), Buffer.from(result.bytes()), `${count} rows`);
      // `size` counts the values: all but the block's and the columns' headers.
      const chunks = block.chunks();
      const headers = chunks[0].length + TABLE.columns.reduce((n, c) => n + encodeString(c.name).length + encodeString(fileColumnType(c.type)).length, 0);
      assert.equal(block.size, Buffer.concat(chunks).length - headers, `${count} rows: size`);
      // The rows decode back as written (metric columns at 0 left out, as RowBinary rows decode).
      const decoded = decodeNative(TABLE, Buffer.concat(block.chunks()));
      assert.equal(decoded.length, count);
      if (count > 1)
        assert.deepEqual(decoded[1], { time: rows[1].time, tag: rows[1].tag, port: rows[1].port, text: rows[1].text, bytes: rows[1].bytes, rtt_hist: Object.fromEntries(rows[1].hist.map(([k, v]) => [String(k), v])) });
      block.reset();
      assert.equal(block.rows, 0);
      assert.ok(block.data.every((d) => d.every((b) => b === 0)) && block.mapKeys.every((d) => d.every((b) => b === 0)) && block.mapValues.every((d) => d.every((b) => b === 0)), 'reset leaves every column zero');
    }
  } finally {
    session.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Native flow log and network map blocks store what the same rows as JSONEachRow store', async () => {
  const blocks = nativeBlocks();
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-native-'));
  const store = new ChdbStore(dir);
  try {
    await migrate(store);
    for (const name of ['l4_flow_log', 'network_map_1s', 'network_map_1m']) {
      const def = tableByName(name);
      const block = blocks.get(name);
      assert.ok(block, name);
      const objects = block.parse();
      assert.ok(objects.length > (name === 'l4_flow_log' ? 2 : 0), name);
      const columns = def.columns.map((c) => `\`${c.name}\``);
      const digest = async (): Promise<string> => {
        const [r] = await store.query<{ h: string; n: number }>(`SELECT toString(sum(cityHash64(${columns.join(', ')}))) AS h, count() AS n FROM ${def.database}.${def.name}`);
        return `${r.n} rows, ${r.h}`;
      };
      // The same rows twice: as Native, then as JSONEachRow made from the decoded objects
      // (named members, zero metrics left out as the agent's JSON rows did).
      await store.insert(def, block.chunks(), block.rows, 'Native');
      const fromNative = await digest();
      await store.exec(`TRUNCATE TABLE ${def.database}.${def.name}`);
      await store.insert(def, Buffer.from(objects.map((r) => JSON.stringify(r) + '\n').join('')), objects.length);
      assert.equal(await digest(), fromNative, name);
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a column type without a Native writer fails when the block is made', () => {
  const table: TableDef = { ...TABLE, columns: [...TABLE.columns, { name: 'ratio', type: 'Float32' }] };
  assert.throws(() => new NativeBlock(table), /native_test\.ratio: no Native writer for column type Float32/);
});
