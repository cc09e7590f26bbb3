import assert from 'node:assert/strict';
import { test } from 'node:test';
import { behindPort, interfaceRole, liveTapSide } from './interface-roles';

test('interface names map to roles; configuration wins over patterns', () => {
  const cases: [string, string][] = [
    ['lo', 'loopback'],
    ['eth0', 'host'],
    ['ens5', 'host'],
    ['veth3a9f', 'node'],
    ['docker0', 'node'],
    ['br-1f2e', 'node'],
    ['cni0', 'node'],
    ['cali12ab', 'node'],
    ['flannel.1', 'node'],
    ['vxlan.calico', 'node'],
    ['tunl0', 'node'],
    ['tap0', 'hypervisor'],
    ['vnet3', 'hypervisor'],
    ['vif1.0', 'hypervisor'],
  ];
  for (const [name, role] of cases) assert.equal(interfaceRole(name), role, name);
  assert.equal(interfaceRole('eth1', { gateway: { eth1: 'client' } }), 'gateway');
  assert.equal(interfaceRole('tap9', { gatewayHypervisor: { tap9: 'server' } }), 'gateway-hypervisor');
  assert.equal(interfaceRole('weird0', { roles: { weird0: 'node' } }), 'node');
});

test('every packet tap_side of SPEC §1', () => {
  const base = { clientLocal: false, serverLocal: false };
  assert.equal(liveTapSide({ ...base, role: 'host', clientLocal: true }), 'c');
  assert.equal(liveTapSide({ ...base, role: 'host', serverLocal: true }), 's');
  assert.equal(liveTapSide({ ...base, role: 'host', clientLocal: true, serverLocal: true }), 'local');
  assert.equal(liveTapSide({ ...base, role: 'host' }), 'rest');
  assert.equal(liveTapSide({ ...base, role: 'loopback' }), 'local');
  assert.equal(liveTapSide({ ...base, role: 'node', clientBehindPort: true }), 'c-nd');
  assert.equal(liveTapSide({ ...base, role: 'node', clientBehindPort: false }), 's-nd');
  assert.equal(liveTapSide({ ...base, role: 'hypervisor', clientBehindPort: true }), 'c-hv');
  assert.equal(liveTapSide({ ...base, role: 'hypervisor', clientBehindPort: false }), 's-hv');
  assert.equal(liveTapSide({ ...base, role: 'gateway', gatewaySide: 'client' }), 'c-gw');
  assert.equal(liveTapSide({ ...base, role: 'gateway', gatewaySide: 'server' }), 's-gw');
  assert.equal(liveTapSide({ ...base, role: 'gateway-hypervisor', gatewaySide: 'client' }), 'c-gw-hv');
  assert.equal(liveTapSide({ ...base, role: 'gateway-hypervisor', gatewaySide: 'server' }), 's-gw-hv');
  // A node port before its first packet tells the direction falls back to the address rule.
  assert.equal(liveTapSide({ ...base, role: 'node', serverLocal: true }), 's');
});

test('the endpoint behind a port follows the direction packets cross it', () => {
  // A container client's SYN leaves the container: the host receives it from the veth.
  assert.equal(behindPort(false, true), true);
  // The server's SYN-ACK is sent into the veth by the host: its destination, the client, is behind.
  assert.equal(behindPort(true, false), true);
  // A request sent into the veth to a container server: the server is behind.
  assert.equal(behindPort(true, true), false);
});
