import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Conversation, sum, track } from '../testing/conversation';

test('minute rows are the sums of their second rows, also when a second has hundreds of rows', () => {
  // 600 client/server pairs over two seconds of one minute: the minute's rows outgrow their first
  // allocation while a second is folded into them (an earlier version lost the row that did).
  const t0 = 1_700_000_040_000_000;
  const frames = Array.from({ length: 600 }, (_, i) =>
    new Conversation([`10.1.${i >> 8}.${i & 255}`, 40000], ['10.0.0.2', 80], t0 + (i % 2) * 1_000_000 + i).handshake().c('PA', { dt: 10, payload: 'x' }).frames,
  ).flat();
  const { rows } = track(frames);
  assert.equal(rows.network_map_1m.length, 600);
  assert.ok(rows.network_map_1s.length >= 600);
  for (const column of ['packet_tx', 'packet_rx', 'byte_tx', 'new_flow', 'flow_load', 'syn_count', 'rtt_count', 'rtt_sum']) {
    assert.equal(sum(rows.network_map_1m, column), sum(rows.network_map_1s, column), column);
  }
  assert.equal(sum(rows.network_map_1m, 'packet_tx'), 600 * 3);
  const maxRtt = Math.max(...rows.network_map_1s.map((r) => Number(r.rtt_max ?? 0)));
  assert.equal(Math.max(...rows.network_map_1m.map((r) => Number(r.rtt_max ?? 0))), maxRtt);
});

test('map rows keep their tags: IPv6 server endpoints in brackets, the flow log without', () => {
  const { rows } = track(new Conversation(['fd00::1', 5000], ['fd00::a:2', 443]).handshake().frames);
  const [map] = rows.network_map_1s;
  assert.deepEqual([map.ip_0, map.ip_1, map.port_1, map.service_0, map.service_1, map.protocol, map.tap_side], ['fd00::1', 'fd00::a:2', 443, 'fd00::1', '[fd00::a:2]:443', 'tcp', 'rest']);
  const [log] = rows.l4_flow_log;
  assert.deepEqual([log.ip_0, log.port_0, log.service_0, log.service_1], ['fd00::1', 5000, 'fd00::1', 'fd00::a:2:443']);
});
