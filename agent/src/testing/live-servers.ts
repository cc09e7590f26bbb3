/**
 * What the live-capture tests share: whether the machine can run them, the nginx they drive,
 * waiting for a server to listen, and what the agent's loaders left in the kernel.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
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

/** A loopback port nothing listens on now (the kernel's choice, so concurrent tests do not collide). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
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

/** The BPF programs, links (with their kind) and maps a process holds, by kernel id. */
export interface BpfObjects {
  progs: number[];
  links: { id: number; type: string }[];
  maps: number[];
}

/**
 * What a running process holds in the kernel, read from its `/proc/PID/fdinfo` (bpftool's own
 * `pids` columns need a bpftool built with BPF iterators, which Debian's is not always: then
 * they list no holder even while the loader runs). Programs attached through a link count as
 * held through it.
 */
export function bpfObjectsOf(pid: number): BpfObjects {
  const progs = new Set<number>();
  const maps = new Set<number>();
  const links: { id: number; type: string }[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(info)?.[1];
    const link = field('link_id');
    const prog = field('prog_id');
    const map = field('map_id');
    if (link) links.push({ id: Number(link), type: field('link_type') ?? '' });
    if (prog) progs.add(Number(prog));
    if (map) maps.add(Number(map));
  }
  return { progs: [...progs].sort((a, b) => a - b), links, maps: [...maps].sort((a, b) => a - b) };
}

/** What the agent's running loaders hold, taken together: the snapshot `bpfObjectsLeft` checks after the stop. */
export function bpfObjectsOfAll(pids: number[]): BpfObjects {
  const all = pids.map(bpfObjectsOf);
  return { progs: all.flatMap((o) => o.progs), links: all.flatMap((o) => o.links), maps: all.flatMap((o) => o.maps) };
}

/** Which of these objects the kernel still has (`bpftool prog/link/map list`): none once they are released. */
export function bpfObjectsLeft(held: BpfObjects): BpfObjects {
  const ids = (kind: 'prog' | 'link' | 'map'): Set<number> =>
    new Set((JSON.parse(execFileSync('bpftool', ['-j', kind, 'list'], { encoding: 'utf8', maxBuffer: 1 << 26 }) || '[]') as { id: number }[]).map((o) => o.id));
  const progs = ids('prog');
  const links = ids('link');
  const maps = ids('map');
  return { progs: held.progs.filter((id) => progs.has(id)), links: held.links.filter((l) => links.has(l.id)), maps: held.maps.filter((id) => maps.has(id)) };
}

/**
 * nginx on loopback with HTTP and HTTPS (a self-signed certificate made here), answering `/` 200,
 * `/missing` 404 and `/error` 500: the known workload the live tests count. Runs in the foreground
 * (daemon off), so killing the returned process stops it.
 */
export function startNginx(dir: string, ports: { http: number; https: number }): ChildProcess {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${ports.http};
    listen 127.0.0.1:${ports.https} ssl;
    ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;
    location / { return 200 "ok\\n"; }
    location /missing { return 404; }
    location /error { return 500; }
  }
}
`,
  );
  return spawn('nginx', ['-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
}

/** One curl request to that nginx, over TLS or not, its body discarded. */
export function curlNginx(ports: { http: number; https: number }, path: string, tls = false): void {
  execFileSync('curl', ['-s', '-k', '-o', '/dev/null', `${tls ? 'https' : 'http'}://127.0.0.1:${tls ? ports.https : ports.http}${path}`]);
}
