/**
 * eBPF socket data → application protocols. Each socket of each process is a flow whose bytes
 * arrive in syscall order (no reassembly needed); its role comes from connect (client, `c-p`) or
 * accept (server, `s-p`), else from whether the local port is listening. Plaintext from the
 * OpenSSL uprobes is parsed as its own flow of the same socket, marked TLS.
 */
import { FlowContext, L7Output, SideTags } from '../l7/l7-output';
import { FlowL7 } from '../l7/flow-l7';
import { ParserOptions } from '../l7/l7-parser';
import { ProtocolInference } from '../l7/protocol-inference';

export interface SocketEndpoints {
  transport: 'tcp' | 'udp';
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

export interface SocketDataEvent extends SocketEndpoints {
  tsUs: number;
  pid: number;
  /** Process name (comm). */
  comm: string;
  /** Identity of the socket within the host (the kernel's sock pointer or inode). */
  socketId: string;
  direction: 'egress' | 'ingress';
  /** Bytes the syscall moved; `payload` holds the first of them. */
  bytes: number;
  payload: Buffer;
  /** Plaintext from SSL_read/SSL_write rather than the socket's own bytes. */
  tls: boolean;
}

export interface SocketRoleEvent extends SocketEndpoints {
  tsUs: number;
  pid: number;
  comm: string;
  socketId: string;
  role: 'client' | 'server';
}

export interface ProcessTags {
  /** Tags of the local process (name, container) and the service name. */
  local(pid: number, comm: string, e: SocketEndpoints, role: 'client' | 'server'): SideTags;
  /** Whether a local port is listening (a server socket when no accept was seen). */
  isListening(transport: 'tcp' | 'udp', port: number): boolean;
}

interface SocketFlow {
  role: 'client' | 'server';
  /** Plaintext of a TLS session (from the OpenSSL uprobes). */
  tls: boolean;
  flow: FlowL7;
  ctx: FlowContext;
  lastUs: number;
}

export interface SocketTrackerStats {
  sockets: number;
  events: number;
  bytesMissed: number;
  records: number;
}

/** A socket flow without data for this long is closed (its pending requests time out). */
const IDLE_US = 300_000_000;

export class SocketTracker {
  private readonly flows = new Map<string, SocketFlow>();
  private readonly roles = new Map<string, 'client' | 'server'>();
  private nextFlowId = 1;
  readonly stats: SocketTrackerStats = { sockets: 0, events: 0, bytesMissed: 0, records: 0 };

  constructor(
    private readonly out: L7Output,
    private readonly inference: ProtocolInference,
    private readonly tags: ProcessTags,
    private readonly options: ParserOptions = {},
    /** High bits that keep these flow ids apart from the packet path's. */
    private readonly flowIdBase = 2 ** 52,
  ) {}

  /** connect() or accept() returned: the socket's role is certain. */
  role(e: SocketRoleEvent): void {
    this.roles.set(`${e.pid}:${e.socketId}`, e.role);
  }

  data(e: SocketDataEvent): void {
    this.stats.events++;
    this.out.beginSecond(Math.floor(e.tsUs / 1e6));
    const key = `${e.pid}:${e.socketId}${e.tls ? ':tls' : ''}`;
    let f = this.flows.get(key);
    if (!f) {
      f = this.open(e);
      this.flows.set(key, f);
    }
    f.lastUs = e.tsUs;
    // Requests travel client → server: a client's writes, a server's reads.
    const direction = (e.direction === 'egress') === (f.role === 'client') ? 0 : 1;
    if (e.payload.length > 0) f.flow.message(direction, e.payload, e.tsUs);
    const missed = e.bytes - e.payload.length;
    if (missed > 0) {
      this.stats.bytesMissed += missed;
      f.flow.messageGap(direction, missed);
    }
    this.emit(f);
  }

  /** close() of a socket: its flows end and pending requests time out. */
  close(pid: number, socketId: string, tsUs: number): void {
    this.out.beginSecond(Math.floor(tsUs / 1e6));
    for (const suffix of ['', ':tls']) {
      const key = `${pid}:${socketId}${suffix}`;
      const f = this.flows.get(key);
      if (!f) continue;
      f.flow.close(tsUs);
      this.emit(f);
      this.flows.delete(key);
    }
    this.roles.delete(`${pid}:${socketId}`);
  }

  /** Time passes: requests wait their timeout, idle sockets close. */
  expire(nowUs: number, requestTimeoutUs: number): void {
    this.out.beginSecond(Math.floor(nowUs / 1e6));
    for (const [key, f] of this.flows) {
      f.flow.expire(nowUs, requestTimeoutUs);
      this.emit(f);
      if (nowUs - f.lastUs > IDLE_US) {
        f.flow.close(nowUs);
        this.emit(f);
        this.flows.delete(key);
      }
    }
  }

  /** Every socket flow ends (the agent stops): pending requests are reported. */
  finish(nowUs: number): void {
    this.out.beginSecond(Math.floor(nowUs / 1e6));
    for (const f of this.flows.values()) {
      f.flow.close(nowUs);
      this.emit(f);
    }
    this.flows.clear();
  }

  get openSockets(): number {
    return this.flows.size;
  }

  private open(e: SocketDataEvent): SocketFlow {
    this.stats.sockets++;
    const known = this.roles.get(`${e.pid}:${e.socketId}`);
    const role = known ?? (this.tags.isListening(e.transport, e.localPort) ? 'server' : 'client');
    const local = { ip: e.localIp, port: e.localPort };
    const remote = { ip: e.remoteIp, port: e.remotePort };
    const [client, server] = role === 'client' ? [local, remote] : [remote, local];
    const mine = this.tags.local(e.pid, e.comm, e, role);
    const ctx: FlowContext = {
      tapSide: role === 'client' ? 'c-p' : 's-p',
      signalSource: 'ebpf',
      transport: e.transport,
      flowId: this.flowIdBase + this.nextFlowId++,
      ip0: client.ip,
      ip1: server.ip,
      port0: client.port,
      port1: server.port,
      ...(role === 'client' ? { side0: mine } : { side1: mine }),
    };
    // The plaintext inside TLS has its own protocol: it must not share the per-server protocol
    // cache with the socket's bytes, which are TLS records.
    const serverKey = `${server.ip}:${server.port}${e.tls ? '/plaintext' : ''}`;
    const flow = new FlowL7(this.inference, serverKey, server.port, false, this.options);
    return { role, tls: e.tls, flow, ctx, lastUs: e.tsUs };
  }

  private emit(f: SocketFlow): void {
    const records = f.flow.take();
    for (const r of records) {
      if (f.tls) r.attributes = { ...(r.attributes ?? {}), tls: 'true' };
      this.out.record(f.ctx, r);
      this.stats.records++;
    }
  }
}
