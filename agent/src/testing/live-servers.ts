/**
 * What the live-capture tests share: whether the machine can run them, waiting for a server to
 * listen, and what the agent's loaders left in the kernel.
 */
import { ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { ensureLoader } from '../live/live-agent';

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Why a live test cannot run here (not root, a missing binary, no loader), or undefined. */
export function liveSkipReason(binaries: string[]): string | undefined {
  if (process.getuid?.() !== 0) return 'live capture needs root';
  for (const c of binaries) if (!has(c)) return `${c} is not installed (scripts/setup.sh installs it)`;
  if (!ensureLoader()) return 'the eBPF loader is not built and could not be built (bash bpf/install-deps.sh && make -C bpf)';
  return undefined;
}

/** Resolves once something accepts connections on the loopback port; fails if `child` exits first. */
export async function waitForPort(port: number, child?: ChildProcess, log: () => string = () => ''): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child && child.exitCode !== null) throw new Error(`the server for port ${port} exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}: ${log()}`);
}

/** Names of the BPF programs still held by these loader processes (another agent may hold its own). */
export function programsHeldBy(loaderPids: number[]): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { name?: string; pids?: { pid: number }[] }[];
  return progs.filter((p) => (p.pids ?? []).some((x) => loaderPids.includes(x.pid))).map((p) => p.name ?? '');
}
