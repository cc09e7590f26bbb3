import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkType } from '../capture/captured-packet';
import { replay } from '../pipeline/replay';
import { Conversation } from '../testing/conversation';
import { pcapFile } from '../testing/packet-builder';
import { BatchWriter } from './batch-writer';
import { ChdbStore } from './chdb-store';
import { ClickHouseStore } from './clickhouse-store';
import { ColumnKind, decodeNative } from './native-block';
import { encodeString } from './row-binary';
import { bootstrapStatements, createTableStatements, MIGRATIONS, schemaStatements } from './schema';
import { migrate, Store } from './store';
import { ALL_TABLES, tableByName, TableDef } from './tables';

test('the embedded store: migrations create every table once, with partitioning and TTL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-store-'));
  const store = new ChdbStore(dir);
  try {
    assert.deepEqual(await migrate(store), [1, 2]);
    assert.deepEqual(await migrate(store), [], 'a second run applies nothing');
    const tables = await store.query<{ database: string; name: string; engine: string; create_table_query: string }>(
      "SELECT database, name, engine, create_table_query FROM system.tables WHERE database IN ('flow_metrics', 'flow_log') ORDER BY name",
    );
    for (const t of ALL_TABLES) {
      const found = tables.find((x) => x.database === t.database && x.name === t.name);
      assert.ok(found, `${t.name} exists`);
      if (t.derivedFrom && !t.derivedFrom.materialized) {
        assert.equal(found.engine, 'View');
        continue;
      }
      assert.equal(found.engine, t.derivedFrom ? 'AggregatingMergeTree' : 'MergeTree');
      if (t.derivedFrom) assert.ok(tables.find((x) => x.name === `${t.name}_mv` && x.engine === 'MaterializedView'), `${t.name}_mv`);
      assert.match(found.create_table_query, new RegExp(`TTL inserted_at \\+ toIntervalDay\\(${t.ttlDays}\\)`));
      assert.match(found.create_table_query, /ttl_only_drop_parts = 1/);
      assert.match(found.create_table_query, new RegExp(`ORDER BY \\(${t.orderBy[0]}`));
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store made before flow_metrics.capture_gaps existed gains it by migration 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-store-'));
  const store = new ChdbStore(dir);
  try {
    // What version 1 made: the bootstrap, the first tables, and its row in schema_migrations.
    for (const sql of bootstrapStatements({})) await store.exec(sql);
    for (const sql of MIGRATIONS[0].statements({})) await store.exec(sql);
    await store.exec("INSERT INTO flow_metrics.schema_migrations (version, description) VALUES (1, 'v1')");
    const named = async (name: string): Promise<number> =>
      (await store.query<{ n: string }>('SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {name:String}', { db: 'flow_metrics', name })).map((r) => Number(r.n))[0];
    assert.equal(await named('capture_gaps'), 0, 'version 1 does not create it');
    assert.equal(await named('capture_stats_1m'), 1);
    assert.deepEqual(await migrate(store), [2]);
    assert.equal(await named('capture_gaps'), 1);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rows written through the batch writer read back; omitted metrics are 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-store-'));
  const store = new ChdbStore(dir);
  try {
    await migrate(store);
    const writer = new BatchWriter(store, { batchRows: 2 });
    for (let i = 0; i < 5; i++) {
      writer.rowBuffer('network_map_1s').jsonRow({ time: 1_700_000_000 + i, tap_side: 'c', ip_0: '10.0.0.1', ip_1: "10.0.0.'2", port_1: 80, packet_tx: i, rtt_hist: { 1: i } });
    }
    await writer.flush();
    assert.deepEqual(writer.stats, { rowsWritten: 5, rowsDropped: 0, insertsFailed: 0, rowsBuffered: 0 });
    const [row] = await store.query<Record<string, unknown>>(
      "SELECT count() AS n, sum(packet_tx) AS tx, sum(packet_rx) AS rx, sumMap(rtt_hist) AS hist, any(ip_1) AS ip FROM flow_metrics.network_map_1s WHERE tap_side = {tap:String}",
      { tap: 'c' },
    );
    assert.deepEqual(row, { n: 5, tx: 10, rx: 0, hist: { '1': 10 }, ip: "10.0.0.'2" });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cluster DDL: replicated local tables and distributed tables of the same name', () => {
  const t = tableByName('l4_flow_log');
  const [local, distributed] = createTableStatements(t, { cluster: 'prod' });
  assert.match(local, /CREATE TABLE IF NOT EXISTS flow_log\.l4_flow_log_local ON CLUSTER `prod`/);
  assert.match(local, /ReplicatedMergeTree\('\/clickhouse\/tables\/\{shard\}\/flow_log\/l4_flow_log_local', '\{replica\}'\)/);
  assert.match(distributed, /CREATE TABLE IF NOT EXISTS flow_log\.l4_flow_log ON CLUSTER `prod` AS flow_log\.l4_flow_log_local/);
  assert.match(distributed, /Distributed\(`prod`, flow_log, l4_flow_log_local, rand\(\)\)/);
  const stored = ALL_TABLES.filter((x) => !x.derivedFrom || x.derivedFrom.materialized);
  assert.equal(schemaStatements({ cluster: 'prod' }).filter((s) => s.includes('Distributed(')).length, stored.length);
  // Plus the migrations bookkeeping table.
  assert.equal(schemaStatements({}).filter((s) => /ENGINE = (Aggregating)?MergeTree/.test(s)).length, stored.length + 1);
  const views = schemaStatements({ cluster: 'prod' }).filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'));
  assert.equal(views.length, ALL_TABLES.filter((x) => x.derivedFrom?.materialized).length);
  const plain = schemaStatements({ cluster: 'prod' }).find((s) => s.startsWith('CREATE VIEW IF NOT EXISTS flow_metrics.network_1s'));
  assert.match(plain ?? '', /FROM flow_metrics\.network_map_1s AS src ARRAY JOIN/);
  assert.ok(views.every((v) => /TO flow_metrics\.\w+_local AS/.test(v) && /FROM flow_metrics\.\w+_1[sm]_local AS src/.test(v)));
  assert.throws(() => createTableStatements(t, { cluster: 'x; DROP TABLE y' }), /invalid identifier/);
});

/** A store that fails on demand, to drive the writer's retry, drop and bound paths. */
class FlakyStore implements Store {
  readonly description = 'flaky';
  inserted = 0;
  constructor(private readonly failures: (() => Error | undefined)[]) {}
  async exec(): Promise<void> {}
  async query<T>(): Promise<T[]> {
    return [];
  }
  async close(): Promise<void> {}
  async insert(_table: TableDef, _data: Buffer, rows: number): Promise<void> {
    const failure = this.failures.shift()?.();
    if (failure) throw failure;
    this.inserted += rows;
  }
}

const row = (writer: BatchWriter, table: string, i: number): void => writer.rowBuffer(table).jsonRow({ time: i });

test('an outage is buffered and retried: nothing is lost', async () => {
  const outage = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
  const store = new FlakyStore([outage, outage, outage]);
  const errors: string[] = [];
  const writer = new BatchWriter(store, { batchRows: 10, retryDelayMs: 5, onError: (e) => errors.push(e.message) });
  for (let i = 0; i < 35; i++) row(writer, 'network_1s', i);
  await writer.flush();
  assert.equal(store.inserted, 35);
  assert.deepEqual(writer.stats, { rowsWritten: 35, rowsDropped: 0, insertsFailed: 3, rowsBuffered: 0 });
  assert.equal(errors.length, 3);
});

test('rows the engine refuses are dropped and counted, not retried forever', async () => {
  const refused = (): Error => new Error('Code: 27. DB::Exception: Cannot parse input');
  const store = new FlakyStore([refused]);
  const writer = new BatchWriter(store, { batchRows: 10, retryDelayMs: 5 });
  for (let i = 0; i < 20; i++) row(writer, 'network_1s', i);
  await writer.flush();
  assert.equal(store.inserted, 10);
  assert.equal(writer.stats.rowsDropped, 10);
});

test('a store that stays down: memory is bounded and what could not be kept is counted', async () => {
  const down = (): Error => new Error('socket hang up');
  const store = new FlakyStore(Array.from({ length: 10_000 }, () => down));
  const writer = new BatchWriter(store, { batchRows: 100, maxBufferedBytes: 64 * 1024, retryDelayMs: 1, maxRetryDelayMs: 2 });
  for (let i = 0; i < 20_000; i++) row(writer, 'l4_flow_log', i);
  assert.ok(writer.stats.rowsDropped > 0);
  writer.abandon();
  await writer.idle();
  assert.equal(writer.stats.rowsDropped + store.inserted, 20_000);
});

/** A store that keeps what it was given. */
class RecordingStore implements Store {
  readonly description = 'recording';
  readonly inserts: { table: string; data: Buffer; rows: number; format: string }[] = [];
  async exec(): Promise<void> {}
  async query<T>(): Promise<T[]> {
    return [];
  }
  async close(): Promise<void> {}
  async insert(table: TableDef, data: Buffer | readonly Buffer[], rows: number, format = 'JSONEachRow'): Promise<void> {
    this.inserts.push({ table: table.name, data: Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.concat(data), rows, format });
  }
}

test('Native batches: sent with their format, cut at the batch size, blocks reused emptied', async () => {
  const store = new RecordingStore();
  // A batch of about 3 flow-log rows (a row's fixed-width columns alone take about 300 bytes).
  const writer = new BatchWriter(store, { binaryBatchBytes: 1024 });
  const table = tableByName('l4_flow_log');
  const timeColumn = table.columns.findIndex((c) => c.name === 'time');
  const hostColumn = table.columns.findIndex((c) => c.name === 'host');
  for (let i = 0; i < 40; i++) {
    const b = writer.nativeBlock('l4_flow_log');
    const row = b.beginRow();
    for (let c = 0; c < b.kind.length; c++) {
      if (c === hostColumn) b.putEncoded(c, encodeString(`h${i}`));
      else if (b.kind[c] === ColumnKind.String) b.putEmpty(c);
      else if (b.kind[c] === ColumnKind.Map) b.mapEnd(c, row);
    }
    // Odd rows leave their time at the block's zero.
    if (i % 2 === 0) b.data[timeColumn].writeUInt32LE(1_700_000_000 + i, row * 4);
    b.endRow();
    if (i % 10 === 9) await writer.idle();
  }
  await writer.flush();
  const native = store.inserts.filter((x) => x.format === 'Native');
  assert.ok(native.length >= 10 && native.every((x) => x.table === 'l4_flow_log'), `${native.length} batches`);
  const rows = native.flatMap((x) => decodeNative(table, x.data));
  assert.deepEqual(
    rows.map((r) => [r.host, r.time]),
    Array.from({ length: 40 }, (_, i) => [`h${i}`, i % 2 === 0 ? 1_700_000_000 + i : 0]),
  );
  assert.equal(writer.stats.rowsWritten, 40);
});

test('RowBinary batches: sent with their format, cut at the batch size, buffers reused zeroed', async () => {
  const store = new RecordingStore();
  const writer = new BatchWriter(store, { binaryBatchBytes: 64 });
  // Rows of 8 bytes; odd rows leave their second half to the zeroed buffer.
  for (let i = 0; i < 40; i++) {
    const b = writer.binaryRows('l4_flow_log');
    const at = b.reserve(8);
    for (let k = 0; k < (i % 2 ? 4 : 8); k++) b.data[at + k] = i + 1;
    b.commit(at + 8);
    // Let inserts finish now and then, so later batches get their buffers back.
    if (i % 10 === 9) await writer.idle();
  }
  writer.rowBuffer('capture_stats_1m').jsonRow({ time: 1 });
  await writer.flush();
  const binary = store.inserts.filter((x) => x.format === 'RowBinary');
  assert.ok(binary.length >= 5 && binary.every((x) => x.table === 'l4_flow_log' && x.data.length <= 64 + 8));
  const all = Buffer.concat(binary.map((x) => x.data));
  assert.equal(all.length, 40 * 8);
  for (let i = 0; i < 40; i++) {
    const row = [...all.subarray(i * 8, i * 8 + 8)];
    assert.deepEqual(row, i % 2 ? [i + 1, i + 1, i + 1, i + 1, 0, 0, 0, 0] : new Array(8).fill(i + 1), `row ${i}`);
  }
  assert.deepEqual(
    store.inserts.filter((x) => x.format === 'JSONEachRow').map((x) => x.table),
    ['capture_stats_1m'],
  );
  assert.equal(writer.stats.rowsWritten, 41);
});

test('a replay into a store that cannot be set up fails with the store error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-store-'));
  try {
    const capture = join(dir, 'c.pcap');
    const frames = Array.from({ length: 3000 }, (_, i) => new Conversation([`10.0.${i >> 8}.${i & 255}`, 4000], ['10.0.0.2', 80], 1_700_000_000_000_000 + i * 1000).handshake().frames).flat();
    writeFileSync(capture, pcapFile(LinkType.ETHERNET, frames));
    const broken: Store = {
      description: 'broken',
      exec: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error('Code: 999. the disk is gone');
      },
      query: async () => [],
      insert: async () => undefined,
      close: async () => undefined,
    };
    await assert.rejects(replay({ input: capture, store: broken, host: 'test' }), /the disk is gone/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the ClickHouse server store sends RowBinary and Native as an INSERT … FORMAT body', async () => {
  const received: { query: string; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ query: new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'X-ClickHouse-Summary': '{}' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const store = new ClickHouseStore(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const data = Buffer.from([1, 2, 3, 0, 9, 10, 13, 92]);
    await store.insert(tableByName('l4_flow_log'), data, 1, 'RowBinary');
    assert.equal(received.length, 1);
    assert.match(received[0].query, /^INSERT INTO flow_log\.l4_flow_log \(`time`, `tap_side`, .*`is_closed`\) FORMAT RowBinary$/);
    assert.deepEqual(received[0].body, data);
    // A Native block's pieces go out as one body, in order.
    const pieces = [Buffer.from([1, 2]), Buffer.from([3]), Buffer.from([4, 5, 6])];
    await store.insert(tableByName('l4_flow_log'), pieces, 1, 'Native');
    assert.match(received[1].query, /^INSERT INTO flow_log\.l4_flow_log \(`time`, .*`is_closed`\) FORMAT Native$/);
    assert.deepEqual([...received[1].body], [1, 2, 3, 4, 5, 6]);
  } finally {
    await store.close();
    server.close();
  }
});

test('inserts wait for the store to be ready; a store that never gets ready drops, and nothing waits forever', async () => {
  const store = new RecordingStore();
  let ready = (): void => undefined;
  const writer = new BatchWriter(store, { batchRows: 1, backlogBytes: 1, ready: new Promise<void>((resolve) => (ready = resolve)) });
  for (let i = 0; i < 3; i++) row(writer, 'network_1s', i);
  row(writer, 'network_1s', 3);
  assert.equal(store.inserts.length, 0);
  assert.ok(writer.backlogged);
  const drained = writer.drained();
  ready();
  await drained;
  await writer.flush();
  assert.equal(store.inserts.length, 4);

  const failing = new BatchWriter(store, { batchRows: 1, backlogBytes: 1, ready: Promise.reject(new Error('no store')) });
  for (let i = 0; i < 3; i++) row(failing, 'network_1s', i);
  row(failing, 'network_1s', 3);
  await failing.drained();
  await failing.flush();
  assert.equal(store.inserts.length, 4);
  assert.ok(failing.stats.rowsDropped >= 3);
});
