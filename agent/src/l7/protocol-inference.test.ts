import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Direction, L7Parser, L7ProtocolModule, L7ProtocolName, Verdict } from './l7-parser';
import { ProtocolInference } from './protocol-inference';

function fake(name: L7ProtocolName, ports: number[], detect: (payload: string, direction: Direction) => Verdict): L7ProtocolModule {
  return {
    name,
    defaultPorts: ports,
    detect: (direction, payload) => detect(payload.toString(), direction),
    create: () => ({}) as L7Parser,
  };
}

const http = fake('http1', [80], (p) => (/^GET \/ HTTP\/1\.1/.test(p) ? 'yes' : 'no'));
const redis = fake('redis', [6379], (p) => (p.startsWith('*') ? 'yes' : p.startsWith('+') ? 'maybe' : 'no'));
const dns = fake('dns', [53], () => 'maybe');

test('a yes decides whatever the port', () => {
  const inf = new ProtocolInference([http, redis]);
  assert.equal(inf.examine(0, 0, Buffer.from('GET / HTTP/1.1\r\n'), 6379, 's'), http);
  assert.equal(inf.examine(0, 0, Buffer.from('*1\r\n$4\r\nPING\r\n'), 80, 's'), redis);
});

test('a lone maybe decides only on the usual port; otherwise wait, then give up', () => {
  const inf = new ProtocolInference([http, redis], { maxAttempts: 2 });
  assert.equal(inf.examine(0, 1, Buffer.from('+OK\r\n'), 6379, 's'), redis);
  assert.equal(inf.examine(0, 1, Buffer.from('+OK\r\n'), 7000, 's'), undefined);
  assert.equal(inf.examine(1, 1, Buffer.from('+OK\r\n'), 7000, 's'), null);
  assert.equal(inf.gaveUp, 1);
});

test('two maybes are no decision', () => {
  const inf = new ProtocolInference([redis, dns]);
  assert.equal(inf.examine(0, 1, Buffer.from('+OK'), 53, 's'), undefined);
});

test('a confirmed server skips inference for its next flows, bounded', () => {
  const inf = new ProtocolInference([http, redis], { maxServers: 2 });
  inf.confirm('a', 'redis');
  assert.equal(inf.examine(0, 0, Buffer.from('???'), 1, 'a'), redis);
  inf.confirm('b', 'http1');
  inf.confirm('c', 'http1');
  assert.equal(inf.known('a'), undefined, 'the oldest server was forgotten');
  inf.forget('b');
  assert.equal(inf.known('b'), undefined);
  assert.equal(inf.known('c'), http);
});

test('the same lone maybe twice decides off the usual port (a capture begun mid-connection)', () => {
  const inf = new ProtocolInference([http, redis]);
  const votes = new Map();
  assert.equal(inf.examine(0, 1, Buffer.from('+OK\r\n'), 7000, 's', votes), undefined);
  assert.equal(inf.examine(1, 1, Buffer.from('+PONG\r\n'), 7000, 's', votes), redis);
});
