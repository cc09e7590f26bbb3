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

test('a module that is sure decides whatever the port', () => {
  const inf = new ProtocolInference([http, redis]);
  assert.equal(inf.plausible(0, Buffer.from('GET / HTTP/1.1\r\n'), 6379).sure, http);
  assert.equal(inf.plausible(0, Buffer.from('*1\r\n$4\r\nPING\r\n'), 80).sure, redis);
});

test('every module that cannot rule the payload out is a candidate', () => {
  const inf = new ProtocolInference([http, redis, dns]);
  const r = inf.plausible(1, Buffer.from('+OK\r\n'), 7000);
  assert.equal(r.sure, undefined);
  assert.deepEqual(r.maybe, [redis, dns]);
});

test('a confirmed server is remembered, bounded, and can be forgotten', () => {
  const inf = new ProtocolInference([http, redis], { maxServers: 2 });
  inf.confirm('a', 'redis');
  assert.equal(inf.known('a'), redis);
  inf.confirm('b', 'http1');
  inf.confirm('c', 'http1');
  assert.equal(inf.known('a'), undefined, 'the oldest server was forgotten');
  inf.forget('b');
  assert.equal(inf.known('b'), undefined);
  assert.equal(inf.known('c'), http);
});
