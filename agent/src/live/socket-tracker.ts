/**
 * eBPF socket data → application protocols. Each socket of each process is a flow whose bytes
 * arrive in syscall order (no reassembly needed); its role comes from connect (client, `c-p`) or
 * accept (server, `s-p`), else from whether the local port is listening. Plaintext from the
 * OpenSSL uprobes is parsed as its own flow of the same socket, marked TLS.
 *
 * This runs per syscall, so a record finds its socket once and by numbers: the kernel's sock
 * pointer as two 32-bit halves and the pid, in a Map keyed by bits of the low half (a small
 * integer, which V8 hashes without allocating), entries of colliding keys chained. Hand-written
 * rather than a Map keyed by `${pid}:${sockId}` strings, which cost a string, its hashing and a
 * BigInt-to-hex per record; the socket's addresses and process tags become strings once, when
 * its flow opens.
 */
import { FlowContext, L7Output, SideTags } from '../l7/l7-output';
import { FlowL7 } from '../l7/flow-l7';
import { ParserOptions } from '../l7/l7-parser';
import { ProtocolInference } from '../l7/protocol-inference';
import { DataRecord, SockEvent } from './loader-records';

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

/** What the tracker reads of a data record (a loader DataRecord or a SocketDataEvent). */
interface DataFields {
  pid: number;
  direction: 'egress' | 'ingress';
  bytes: number;
  payload: Buffer;
  /** Read once, when the socket's flow opens. */
  comm: string;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

interface SocketFlow {
  role: 'client' | 'server';
  /** Plaintext of a TLS session (from the OpenSSL uprobes). */
  tls: boolean;
  flow: FlowL7;
  ctx: FlowContext;
  lastUs: number;
  socket: SocketEntry;
}

/** One socket of one process: its flows (its own bytes, and TLS plaintext) and its role. */
interface SocketEntry {
  /** The sock pointer's halves; `hi` is -1 for an id given as text (`lo` is then its hash). */
  readonly hi: number;
  readonly lo: number;
  readonly pid: number;
  readonly text: string | undefined;
  /** From connect() or accept(), kept until close (flows that expire or end leave it). */
  role: 'client' | 'server' | undefined;
  plain: SocketFlow | undefined;
  tls: SocketFlow | undefined;
  /** The next entry whose key is the same. */
  next: SocketEntry | undefined;
}

/** The Map key of a socket: bits 2..31 of the low half (always a small integer). */
const keyOf = (lo: number): number => lo >>> 2;

/** FNV-1a of a socket id given as text (tests and tools name sockets that way). */
function textHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
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
  private readonly sockets = new Map<number, SocketEntry>();
  /** Every open flow, oldest first. */
  private readonly flows = new Set<SocketFlow>();
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
    this.entry(e.pid, -1, textHash(e.socketId), e.socketId).role = e.role;
  }

  data(e: SocketDataEvent): void {
    this.ingest(e, this.entry(e.pid, -1, textHash(e.socketId), e.socketId), e.tls, e.tsUs, e.transport);
  }

  /** close() of a socket: its flows end and pending requests time out. */
  close(pid: number, socketId: string, tsUs: number): void {
    this.closeSocket(this.find(pid, -1, textHash(socketId), socketId), tsUs);
  }

  /** A loader data record (`metaflow agent`'s hot path); `tsUs` is its wall clock time. */
  loaderData(d: DataRecord, tsUs: number): void {
    // TLS plaintext comes from SSL_read/SSL_write, which know no transport: it is TCP.
    const ipProto = d.tls && d.ipProto === 0 ? 6 : d.ipProto;
    if (ipProto !== 6 && ipProto !== 17) return;
    this.ingest(d, this.entry(d.pid, d.sockHi, d.sockLo, undefined), d.tls, tsUs, ipProto === 6 ? 'tcp' : 'udp');
  }

  /** A loader socket event: connect/accept give the role, close ends the socket's flows. */
  loaderEvent(e: SockEvent, tsUs: number): void {
    if (e.kind === 'close') this.closeSocket(this.find(e.pid, e.sockHi, e.sockLo, undefined), tsUs);
    else this.entry(e.pid, e.sockHi, e.sockLo, undefined).role = e.kind === 'connect' ? 'client' : 'server';
  }

  private ingest(d: DataFields, s: SocketEntry, tls: boolean, tsUs: number, transport: 'tcp' | 'udp'): void {
    this.stats.events++;
    this.out.beginSecond(Math.floor(tsUs / 1e6));
    let f = tls ? s.tls : s.plain;
    if (f === undefined) {
      f = this.open(s, d, tls, tsUs, transport);
      if (tls) s.tls = f;
      else s.plain = f;
      this.flows.add(f);
    }
    f.lastUs = tsUs;
    // Requests travel client → server: a client's writes, a server's reads.
    const direction = (d.direction === 'egress') === (f.role === 'client') ? 0 : 1;
    const payload = d.payload;
    if (payload.length > 0) f.flow.message(direction, payload, tsUs);
    const missed = d.bytes - payload.length;
    if (missed > 0) {
      this.stats.bytesMissed += missed;
      f.flow.messageGap(direction, missed);
    }
    this.emit(f);
  }

  private find(pid: number, hi: number, lo: number, text: string | undefined): SocketEntry | undefined {
    let e = this.sockets.get(keyOf(lo));
    while (e !== undefined && (e.lo !== lo || e.hi !== hi || e.pid !== pid || e.text !== text)) e = e.next;
    return e;
  }

  /** The socket's entry, made when it is new. */
  private entry(pid: number, hi: number, lo: number, text: string | undefined): SocketEntry {
    const key = keyOf(lo);
    const head = this.sockets.get(key);
    let e = head;
    while (e !== undefined && (e.lo !== lo || e.hi !== hi || e.pid !== pid || e.text !== text)) e = e.next;
    if (e !== undefined) return e;
    e = { hi, lo, pid, text, role: undefined, plain: undefined, tls: undefined, next: head };
    this.sockets.set(key, e);
    return e;
  }

  private removeEntry(e: SocketEntry): void {
    const key = keyOf(e.lo);
    const head = this.sockets.get(key);
    if (head === e) {
      if (e.next) this.sockets.set(key, e.next);
      else this.sockets.delete(key);
      return;
    }
    for (let p = head; p !== undefined; p = p.next) {
      if (p.next === e) {
        p.next = e.next;
        return;
      }
    }
  }

  private closeSocket(s: SocketEntry | undefined, tsUs: number): void {
    this.out.beginSecond(Math.floor(tsUs / 1e6));
    if (!s) return;
    if (s.plain) this.endFlow(s.plain, tsUs);
    if (s.tls) this.endFlow(s.tls, tsUs);
    // The role goes too: the kernel reuses a closed socket's address.
    this.removeEntry(s);
  }

  private endFlow(f: SocketFlow, tsUs: number): void {
    f.flow.close(tsUs);
    this.emit(f);
    this.detach(f);
  }

  /** The flow is no longer the socket's; a socket left with neither flows nor role is forgotten. */
  private detach(f: SocketFlow): void {
    this.flows.delete(f);
    const s = f.socket;
    if (s.plain === f) s.plain = undefined;
    else if (s.tls === f) s.tls = undefined;
    if (s.plain === undefined && s.tls === undefined && s.role === undefined) this.removeEntry(s);
  }

  /** Time passes: requests wait their timeout, idle sockets close. */
  expire(nowUs: number, requestTimeoutUs: number): void {
    this.out.beginSecond(Math.floor(nowUs / 1e6));
    for (const f of this.flows) {
      f.flow.expire(nowUs, requestTimeoutUs);
      this.emit(f);
      if (nowUs - f.lastUs > IDLE_US) this.endFlow(f, nowUs);
    }
  }

  /** Every socket flow ends (the agent stops): pending requests are reported. Roles stay. */
  finish(nowUs: number): void {
    this.out.beginSecond(Math.floor(nowUs / 1e6));
    for (const f of this.flows) this.endFlow(f, nowUs);
  }

  get openSockets(): number {
    return this.flows.size;
  }

  private open(s: SocketEntry, d: DataFields, tls: boolean, tsUs: number, transport: 'tcp' | 'udp'): SocketFlow {
    this.stats.sockets++;
    const role = s.role ?? (this.tags.isListening(transport, d.localPort) ? 'server' : 'client');
    const e: SocketEndpoints = { transport, localIp: d.localIp, localPort: d.localPort, remoteIp: d.remoteIp, remotePort: d.remotePort };
    const local = { ip: e.localIp, port: e.localPort };
    const remote = { ip: e.remoteIp, port: e.remotePort };
    const [client, server] = role === 'client' ? [local, remote] : [remote, local];
    const mine = this.tags.local(d.pid, d.comm, e, role);
    const ctx: FlowContext = {
      tapSide: role === 'client' ? 'c-p' : 's-p',
      signalSource: 'ebpf',
      transport,
      flowId: this.flowIdBase + this.nextFlowId++,
      ip0: client.ip,
      ip1: server.ip,
      port0: client.port,
      port1: server.port,
      ...(role === 'client' ? { side0: mine } : { side1: mine }),
    };
    // The plaintext inside TLS has its own protocol: it must not share the per-server protocol
    // cache with the socket's bytes, which are TLS records.
    const serverKey = `${server.ip}:${server.port}${tls ? '/plaintext' : ''}`;
    const flow = new FlowL7(this.inference, serverKey, server.port, false, this.options);
    return { role, tls, flow, ctx, lastUs: tsUs, socket: s };
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
