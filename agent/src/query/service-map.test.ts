import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationPairRow, buildServiceMap, NetworkPairRow, serviceMapFrames } from './service-map';

const app = (tap_side: string, client: string, server: string, request: number, error = 0, known = 1): ApplicationPairRow => ({
  tap_side,
  client,
  server,
  server_known: known,
  request,
  response: request,
  error,
  timeout: 0,
  rrt_sum: request * 100,
  rrt_count: request,
  rrt_max: 100,
  rrt_hist: { '7': request },
});
const net = (tap_side: string, client: string, server: string, byte: number): NetworkPairRow => ({
  tap_side,
  client,
  server,
  server_known: 1,
  byte,
  packet: 10,
  retrans: 1,
  rtt_sum: 50,
  rtt_count: 1,
  establish_fail: 0,
  rst: 0,
});

test('a pair seen at several points is counted once, at the most trusted one, and says so', () => {
  const map = buildServiceMap([app('c-p', 'web', 'db', 100, 2), app('s-p', 'web', 'db', 98, 1), app('s', 'web', 'db', 97)], [net('s', 'web', 'db', 6000), net('c', 'web', 'db', 6100)], 10);
  assert.equal(map.edges.length, 1);
  const e = map.edges[0];
  assert.deepEqual([e.tapSide, e.networkTapSide, e.requestRate, e.errorRatio, e.bytesPerSecond], ['s-p', 's', 9.8, 1 / 98, 600]);
  assert.deepEqual(e.seenAt, ['s-p', 's', 'c-p', 'c']);
  assert.equal(e.rrtAvg, 100);
  assert.equal(e.retransRatio, 0.1);
});

test('rows of the chosen point for the same pair add up (several protocols or hosts)', () => {
  const map = buildServiceMap([app('s-p', 'web', 'db', 10), app('s-p', 'web', 'db', 5)], [], 1);
  assert.equal(map.edges[0].requestRate, 15);
});

test('clients only are external nodes; servers without a name are unknown', () => {
  const map = buildServiceMap([app('s', '203.0.113.9', 'web', 10), app('c-p', 'web', '198.51.100.1:443', 4, 0, 0)], [], 1);
  const node = (id: string) => map.nodes.find((x) => x.id === id);
  assert.equal(node('203.0.113.9')?.external, true);
  assert.equal(node('web')?.external, false);
  assert.equal(node('198.51.100.1:443')?.unknown, true);
  assert.equal(map.edges.find((e) => e.target === '198.51.100.1:443')?.unknownServer, true);
  assert.equal(node('web')?.asServer.requestRate, 10);
  assert.equal(node('web')?.asClient.requestRate, 4);
});

test('all tap sides mode keeps one edge per observation point; nodes still count the pair once', () => {
  const map = buildServiceMap([app('c-p', 'web', 'db', 100), app('s-p', 'web', 'db', 98)], [], 1, true);
  assert.deepEqual(map.edges.map((e) => [e.id, e.requestRate]), [
    ['web->db@c-p', 100],
    ['web->db@s-p', 98],
  ]);
  assert.equal(map.nodes.find((n) => n.id === 'db')?.asServer.requestRate, 98);
  assert.equal(map.nodes.find((n) => n.id === 'web')?.asClient.requestRate, 98);
});

test('Node Graph frames carry the field names the panel reads', () => {
  const [nodes, edges] = serviceMapFrames(buildServiceMap([app('s', 'a', 'b', 2, 1)], [], 1), 'service');
  assert.deepEqual(nodes.fields.slice(0, 7).map((f) => f.name), ['id', 'title', 'subtitle', 'mainstat', 'secondarystat', 'arc__errors', 'arc__ok']);
  assert.deepEqual(edges.fields.slice(0, 5).map((f) => f.name), ['id', 'source', 'target', 'mainstat', 'secondarystat']);
  assert.deepEqual(nodes.fields[5].values, [0.5, 0.5], 'b answers half with errors; a, only a client, shows the errors of its calls');
  assert.equal(nodes.name, 'nodes');
  assert.equal(edges.name, 'edges');
});
