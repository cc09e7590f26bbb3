import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkHandshakeEnv, handshakeLine, parseHandshakeLine } from './handshake';

test('without Grafana\'s magic cookie the executable refuses to serve, saying what it is', () => {
  const check = checkHandshakeEnv({});
  assert.equal(check.ok, false);
  assert.match(!check.ok ? check.message : '', /Grafana starts it/);
  assert.equal(checkHandshakeEnv({ grafana_plugin_type: 'renderer' }).ok, false);
});

test('protocol version 2 is chosen when the host offers it, refused otherwise', () => {
  assert.deepEqual(checkHandshakeEnv({ grafana_plugin_type: 'datasource', PLUGIN_PROTOCOL_VERSIONS: '1,2' }), { ok: true, protocolVersion: 2, socketDir: undefined });
  assert.deepEqual(checkHandshakeEnv({ grafana_plugin_type: 'datasource' }), { ok: true, protocolVersion: 2, socketDir: undefined });
  const old = checkHandshakeEnv({ grafana_plugin_type: 'datasource', PLUGIN_PROTOCOL_VERSIONS: '1' });
  assert.equal(old.ok, false);
  assert.match(!old.ok ? old.message : '', /version\(s\) 1/);
});

test('the socket directory comes from PLUGIN_UNIX_SOCKET_DIR; automatic mTLS is refused clearly', () => {
  const check = checkHandshakeEnv({ grafana_plugin_type: 'datasource', PLUGIN_UNIX_SOCKET_DIR: '/run/x' });
  assert.equal(check.ok && check.socketDir, '/run/x');
  const mtls = checkHandshakeEnv({ grafana_plugin_type: 'datasource', PLUGIN_CLIENT_CERT: '-----BEGIN CERTIFICATE-----' });
  assert.match(!mtls.ok ? mtls.message : '', /mTLS/);
});

test('the handshake line has go-plugin\'s five fields and reads back', () => {
  const line = handshakeLine(2, 'unix', '/tmp/plugin1');
  assert.equal(line, '1|2|unix|/tmp/plugin1|grpc\n');
  assert.deepEqual(parseHandshakeLine(line), { core: 1, app: 2, network: 'unix', address: '/tmp/plugin1', protocol: 'grpc' });
  assert.throws(() => parseHandshakeLine('2|2|unix|/x|grpc'), /core protocol/);
  assert.throws(() => parseHandshakeLine('hello'), /not a go-plugin handshake/);
});
