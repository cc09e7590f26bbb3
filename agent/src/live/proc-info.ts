/**
 * Process and service tags from /proc: a pid's name, command line and container id (from its
 * cgroup path), and which process listens on a port, so packet data is tagged with processes
 * too (SPEC §2: `service` is a configured name, else the process name, else ip:port).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessInfo {
  pid: number;
  /** The kernel's task name (`comm`, at most 15 characters). */
  name: string;
  cmdline: string;
  /** Container id from the cgroup path (Docker, containerd, CRI-O, Podman), '' outside one. */
  containerId: string;
}

const CONTAINER_ID = [
  /docker-([0-9a-f]{64})\.scope/,
  /\/docker\/([0-9a-f]{64})/,
  /cri-containerd-([0-9a-f]{64})\.scope/,
  /crio-([0-9a-f]{64})\.scope/,
  /libpod-([0-9a-f]{64})\.scope/,
  /\/kubepods[^\n]*\/([0-9a-f]{64})(?:\.scope)?$/m,
];

/** The container id a cgroup file names, or '' (a host process). */
export function containerIdOfCgroup(cgroup: string): string {
  for (const pattern of CONTAINER_ID) {
    const m = pattern.exec(cgroup);
    if (m) return m[1];
  }
  return '';
}

export function readProcess(pid: number, procRoot = '/proc'): ProcessInfo | undefined {
  try {
    const dir = join(procRoot, String(pid));
    const name = readFileSync(join(dir, 'comm'), 'utf8').trim();
    const cmdline = readFileSync(join(dir, 'cmdline'), 'utf8').split('\0').filter(Boolean).join(' ');
    let cgroup = '';
    try {
      cgroup = readFileSync(join(dir, 'cgroup'), 'utf8');
    } catch {
      // Some kernels hide it from unprivileged readers; the process is then tagged without one.
    }
    return { pid, name, cmdline, containerId: containerIdOfCgroup(cgroup) };
  } catch {
    return undefined;
  }
}

/** Sockets in LISTEN (TCP) or bound (UDP) state from /proc/net/{tcp,tcp6,udp,udp6}: port → inode. */
export function listeningSockets(procRoot = '/proc'): Map<string, number> {
  const out = new Map<string, number>();
  for (const [file, proto, state] of [
    ['tcp', 'tcp', '0A'],
    ['tcp6', 'tcp', '0A'],
    ['udp', 'udp', '07'],
    ['udp6', 'udp', '07'],
  ]) {
    let text: string;
    try {
      text = readFileSync(join(procRoot, 'net', file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== state) continue;
      const port = parseInt(f[1].split(':')[1], 16);
      const inode = Number(f[9]);
      if (inode > 0 && !out.has(`${proto}:${port}`)) out.set(`${proto}:${port}`, inode);
    }
  }
  return out;
}

/** Socket inode → pid, from every process's open file descriptors. */
export function socketOwners(procRoot = '/proc'): Map<number, number> {
  const owners = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return owners;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(procRoot, pid, 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(join(procRoot, pid, 'fd', fd)));
        if (m && !owners.has(Number(m[1]))) owners.set(Number(m[1]), Number(pid));
      } catch {
        // The descriptor closed while we looked.
      }
    }
  }
  return owners;
}

/**
 * Processes and listening ports, cached and refreshed at most every `refreshMs`: lookups come
 * from the packet and socket paths, the /proc scans from a timer-like check on use.
 */
export class ProcessTable {
  private processes = new Map<number, ProcessInfo | undefined>();
  private ports = new Map<string, number>();
  private refreshedAt = -Infinity;

  constructor(
    private readonly procRoot = '/proc',
    private readonly refreshMs = 5000,
    /** Configured service names by `proto:port` or process name. */
    private readonly serviceNames: Record<string, string> = {},
  ) {}

  process(pid: number): ProcessInfo | undefined {
    if (!this.processes.has(pid)) this.processes.set(pid, readProcess(pid, this.procRoot));
    return this.processes.get(pid);
  }

  /** The pid listening on a local port, if any. */
  listener(proto: 'tcp' | 'udp', port: number, nowMs = Date.now()): number | undefined {
    if (nowMs - this.refreshedAt > this.refreshMs) this.refresh(nowMs);
    return this.ports.get(`${proto}:${port}`);
  }

  refresh(nowMs = Date.now()): void {
    const sockets = listeningSockets(this.procRoot);
    const owners = socketOwners(this.procRoot);
    this.ports = new Map();
    for (const [key, inode] of sockets) {
      const pid = owners.get(inode);
      if (pid !== undefined) this.ports.set(key, pid);
    }
    // Pids are reused: forget what we knew of processes, they are read again on demand.
    this.processes.clear();
    this.refreshedAt = nowMs;
  }

  /** SPEC §2 service name: configured, else the process name, else ip:port. */
  serviceName(proto: 'tcp' | 'udp', ip: string, port: number, pid?: number): string {
    const configured = this.serviceNames[`${proto}:${port}`];
    if (configured) return configured;
    const p = pid !== undefined ? this.process(pid) : undefined;
    if (p && this.serviceNames[p.name]) return this.serviceNames[p.name];
    if (p) return p.name;
    return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  }
}
