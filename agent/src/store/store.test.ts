import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BatchWriter } from './batch-writer';
import { ChdbStore } from './chdb-store';
import { createTableStatements, schemaStatements } from './schema';
import { migrate, Store } from './store';
import { ALL_TABLES, tableByName, TableDef } from './tables';

test('the embedded store: migrations create every table once, with partitioning and TTL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-store-'));
  const store = new ChdbStore(dir);
  try {
    assert.deepEqual(await migrate(store), [1]);
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
