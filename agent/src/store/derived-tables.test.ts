/**
 * The tables ClickHouse derives from the agent's per-second map rows: single-sided endpoint rows
 * (with `_tx` from each endpoint's view) and minute roll-ups, checked on a real embedded store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkType } from '../capture/captured-packet';
import { replay } from '../pipeline/replay';
import { Conversation } from '../testing/conversation';
import { pcapFile } from '../testing/packet-builder';
import { ChdbStore } from './chdb-store';

test('network_1s/1m and network_map_1m are derived from network_map_1s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-derived-'));
  const store = new ChdbStore(join(dir, 'store'));
  try {
    // Two clients of one server, across a minute boundary (40 s into the minute, then +30 s).
    const t0 = 1_700_000_080_000_000;
    const a = new Conversation(['10.0.0.1', 4000], ['10.0.0.9', 80], t0).handshake().c('PA', { dt: 10, payload: 'abc' }).s('PA', { dt: 10, payload: 'defgh' });
    const b = new Conversation(['10.0.0.2', 4001], ['10.0.0.9', 80], t0 + 30_000_000).handshake().c('PA', { dt: 10, payload: 'xy' });
    const capture = join(dir, 'two.pcap');
    writeFileSync(capture, pcapFile(LinkType.ETHERNET, [...a.frames, ...b.frames]));
    await replay({ input: capture, store, host: 'test' });

    type Row = Record<string, number | string>;
    const endpoints = await store.query<Row>(
      `SELECT ip, role, server_port, sum(l4_byte_tx) AS tx, sum(l4_byte_rx) AS rx, sum(packet_tx) AS packets
       FROM flow_metrics.network_1m GROUP BY ip, role, server_port ORDER BY ip, role`,
    );
    assert.deepEqual(endpoints, [
      { ip: '10.0.0.1', role: 'client', server_port: 80, tx: 3, rx: 5, packets: 3 },
      { ip: '10.0.0.2', role: 'client', server_port: 80, tx: 2, rx: 0, packets: 3 },
      { ip: '10.0.0.9', role: 'server', server_port: 80, tx: 5, rx: 5, packets: 3 },
    ]);
    const perSecond = await store.query<Row>(`SELECT sum(packet_tx + packet_rx) AS p FROM flow_metrics.network_1s WHERE role = 'server'`);
    const mapPerSecond = await store.query<Row>(`SELECT sum(packet_tx + packet_rx) AS p FROM flow_metrics.network_map_1s`);
    assert.equal(perSecond[0].p, mapPerSecond[0].p);
    const minutes = await store.query<Row>(
      `SELECT toUnixTimestamp(time) AS t, sum(packet_tx + packet_rx) AS p, max(rtt_max) AS rtt_max, sumMap(rtt_hist) AS hist
       FROM flow_metrics.network_map_1m GROUP BY t ORDER BY t`,
    );
    assert.deepEqual(
      minutes.map((m) => [m.t, m.p]),
      [
        [1_700_000_040, 5],
        [1_700_000_100, 4],
      ],
    );
    assert.deepEqual(minutes[0].hist, { '8': 1 });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
