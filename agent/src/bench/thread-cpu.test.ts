import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuByGroup, threadCpu } from './thread-cpu';

test('threadCpu reads this process: its main thread, with the time it has run', () => {
  const spin = Date.now() + 60;
  while (Date.now() < spin); // 60 ms of CPU on the main thread
  const threads = threadCpu();
  const main = threads.find((t) => t.tid === process.pid);
  assert.ok(main, 'the main thread is listed');
  assert.ok(main.seconds >= 0.05, `main thread ${main.seconds} s`);
  assert.ok(threads.length > 1, 'Node runs helper threads besides');
});

test('cpuByGroup: the main thread, chDB merges, other chDB threads, libuv pool, threads Node started with', () => {
  const before = [
    { tid: 1, name: 'metaflow', seconds: 1 },
    { tid: 2, name: 'metaflow', seconds: 0.5 },
    { tid: 3, name: 'ThreadPool', seconds: 0 },
    { tid: 4, name: 'MergeMutate', seconds: 0.25 },
    { tid: 7, name: 'metaflow', seconds: 0.125 },
  ];
  const after = [
    { tid: 1, name: 'metaflow', seconds: 3 },
    { tid: 2, name: 'metaflow', seconds: 0.75 },
    { tid: 3, name: 'ThreadPool', seconds: 1.5 },
    { tid: 4, name: 'MergeMutate', seconds: 0.75 },
    // Started after the first reading: all its time counts.
    { tid: 5, name: 'libuv-worker', seconds: 0.25 },
    { tid: 6, name: 'QueryPipelineEx', seconds: 0.5 },
    // Named after the process but not among the startup threads: libuv's pool.
    { tid: 7, name: 'metaflow', seconds: 1.125 },
  ];
  assert.deepEqual(cpuByGroup(before, after, 1, new Set([2])), { pipeline: 2, runtimeHelpers: 0.25, storeMerges: 0.5, storeInserts: 2, ioPool: 1.25 });
});

test('the threads Node starts with are told from libuv\'s pool, which starts on its first job', async () => {
  const before = threadCpu();
  // A few pool jobs that burn CPU on the pool's threads (scrypt runs there).
  const { scrypt } = await import('node:crypto');
  await Promise.all([0, 1, 2, 3].map((i) => new Promise((done) => scrypt(`p${i}`, 'salt', 64, { N: 1 << 15, r: 8, p: 1, maxmem: 1 << 27 }, done))));
  const groups = cpuByGroup(before, threadCpu());
  assert.ok(groups.ioPool >= 0.02, `libuv pool ${groups.ioPool} s`);
  assert.ok(groups.runtimeHelpers < groups.ioPool, `startup threads ${groups.runtimeHelpers} s, pool ${groups.ioPool} s`);
});
