import assert from 'node:assert/strict';
import { createServer, Server } from 'node:net';
import { test } from 'node:test';
import { containerIdOfCgroup, ProcessTable, readProcess } from './proc-info';

const ID = 'a'.repeat(12) + 'b'.repeat(52);

test('container ids from the cgroup paths of Docker, containerd, CRI-O, Podman and kubepods', () => {
  assert.equal(containerIdOfCgroup(`0::/system.slice/docker-${ID}.scope\n`), ID);
  assert.equal(containerIdOfCgroup(`12:pids:/docker/${ID}\n`), ID);
  assert.equal(containerIdOfCgroup(`0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-${ID}.scope`), ID);
  assert.equal(containerIdOfCgroup(`0::/kubepods/besteffort/pod1234/${ID}`), ID);
  assert.equal(containerIdOfCgroup(`0::/machine.slice/libpod-${ID}.scope`), ID);
  assert.equal(containerIdOfCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), '');
});

test('this process as /proc shows it', () => {
  const me = readProcess(process.pid);
  assert.ok(me);
  assert.equal(me.name, 'node');
  assert.match(me.cmdline, /node/);
  assert.equal(readProcess(2 ** 22 + 7), undefined, 'a pid that does not exist');
});

test('a port we listen on resolves to our pid and to our process name as service', async () => {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const table = new ProcessTable('/proc', 0);
    assert.equal(table.listener('tcp', port), process.pid);
    assert.equal(table.serviceName('tcp', '127.0.0.1', port, table.listener('tcp', port)), 'node');
    assert.equal(new ProcessTable('/proc', 0, { [`tcp:${port}`]: 'checkout' }).serviceName('tcp', '127.0.0.1', port, process.pid), 'checkout');
    assert.equal(table.serviceName('tcp', '::1', 1, undefined), '[::1]:1');
  } finally {
    server.close();
  }
});
