import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of each thread of this process, from /proc/self/task/<tid>/stat (Linux): what the
 * benchmarks use to say where a run's CPU went (the pipeline's own thread, the store's threads,
 * V8's and libuv's helpers), which process.cpuUsage() gives only as one sum.
 */
export interface ThreadCpu {
  tid: number;
  /** The thread's name (comm): chDB names its pools (ThreadPool, MergeMutate…); Node's helpers keep the process's name. */
  name: string;
  seconds: number;
}

/** Clock ticks per second of the stat times (USER_HZ, 100 on Linux builds in use). */
const TICKS_PER_SECOND = 100;

export function threadCpu(): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // The name is in parentheses and may hold spaces: fields are counted after its closing one.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    out.push({ tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, close), seconds: ticks / TICKS_PER_SECOND });
  }
  return out;
}

export type ThreadGroup = 'pipeline' | 'storeInserts' | 'storeMerges' | 'ioPool' | 'runtimeHelpers';

/**
 * The threads besides the main one that Node starts with the process, before any asynchronous
 * work: V8's platform workers (concurrent compiler, GC helpers) and Node's own. libuv's pool,
 * which carries the same name, starts on its first job, after this module is loaded.
 */
const STARTUP_THREADS: ReadonlySet<number> = new Set(threadCpu().map((t) => t.tid).filter((tid) => tid !== process.pid));

/**
 * CPU seconds spent between two threadCpu() readings, by group: this process's main thread (the
 * pipeline), chDB's merge threads, its other threads (inserts, queries), libuv's pool (chDB's
 * asynchronous queries run their calling part there, besides file reads and writes), and the
 * threads Node started with (V8's compiler and garbage-collector helpers). Node's helpers and
 * libuv's pool both carry the process's name, so they are told apart by `startupThreads`.
 */
export function cpuByGroup(before: ThreadCpu[], after: ThreadCpu[], mainTid = process.pid, startupThreads = STARTUP_THREADS): Record<ThreadGroup, number> {
  const start = new Map(before.map((t) => [t.tid, t.seconds]));
  const processName = after.find((t) => t.tid === mainTid)?.name ?? 'node';
  const groups: Record<ThreadGroup, number> = { pipeline: 0, storeInserts: 0, storeMerges: 0, ioPool: 0, runtimeHelpers: 0 };
  for (const t of after) {
    const spent = t.seconds - (start.get(t.tid) ?? 0);
    if (spent <= 0) continue;
    if (t.tid === mainTid) groups.pipeline += spent;
    else if (startupThreads.has(t.tid)) groups.runtimeHelpers += spent;
    else if (t.name === processName || t.name.startsWith('libuv')) groups.ioPool += spent;
    else if (t.name.startsWith('MergeMutate')) groups.storeMerges += spent;
    else groups.storeInserts += spent;
  }
  return groups;
}
