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

test('cpuByGroup: the main thread, chDB merges, other chDB threads, threads named after the process', () => {
  const before = [
    { tid: 1, name: 'metaflow', seconds: 1 },
    { tid: 2, name: 'metaflow', seconds: 0.5 },
    { tid: 3, name: 'ThreadPool', seconds: 0 },
    { tid: 4, name: 'MergeMutate', seconds: 0.25 },
  ];
  const after = [
    { tid: 1, name: 'metaflow', seconds: 3 },
    { tid: 2, name: 'metaflow', seconds: 0.75 },
    { tid: 3, name: 'ThreadPool', seconds: 1.5 },
    { tid: 4, name: 'MergeMutate', seconds: 0.75 },
    // Started after the first reading: all its time counts.
    { tid: 5, name: 'libuv-worker', seconds: 0.25 },
    { tid: 6, name: 'QueryPipelineEx', seconds: 0.5 },
  ];
  assert.deepEqual(cpuByGroup(before, after, 1), { pipeline: 2, nodeHelpers: 0.5, storeMerges: 0.5, storeInserts: 2 });
});
