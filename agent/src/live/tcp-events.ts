/**
 * The kernel's TCP tracepoints (bpf/tcp-events.bpf.c) → network metrics of the sockets the eBPF
 * path observes, at `c-p` (the process connected) and `s-p` (it accepted), with the process's
 * tags (SPEC §1–§3, §5). They go into the network map rows through the same aggregation as
 * flows' rows (NetworkAggregator, `signal_source` `ebpf`), so `network_1s/1m` derive from them
 * too. Packets count the same connections at `local` / `c` / `s`: another tap_side, another row,
 * never added to these.
 *
 * What a socket adds to its row, per tracepoint:
 * - a change into SYN_SENT (connect) opens a client socket: `new_flow`; the accept of a socket
 *   that became ESTABLISHED from SYN_RECV opens a server socket: `new_flow`;
 * - ESTABLISHED: the kernel's smoothed RTT, which is then the handshake's sample, into `rtt`;
 * - `tcp_probe`: the smoothed RTT again (at most once a second per socket) into `rtt`. At `c-p`
 *   and `s-p`, `rtt_sum/_count/_max` (and `rtt_hist`) are samples of the kernel's srtt, not the
 *   packets' SYN → ACK measure;
 * - a retransmitted skb (sent, err = 0): its segments into `retrans_syn` in SYN_SENT,
 *   `retrans_synack` in SYN_RECV, else `retrans_tx` (client) / `retrans_rx` (server), the
 *   direction of the data (map rows' tx is client → server);
 * - a reset sent or received by the socket: `rst_count`;
 * - CLOSE: `closed_flow`, `close_<type>` and the failure counter of that close type (as the
 *   flow tracker maps them): from SYN_SENT `server_direct_rst` (refused: a reset came back, or
 *   ECONNREFUSED) or `server_syn_miss` (no answer: timed out, or the connect was given up), both
 *   `server_establish_fail`; from SYN_RECV `client_other_rst` / `server_other_rst` or
 *   `client_ack_miss`; after the handshake `client_rst` / `server_rst` by who reset first
 *   (`tcp_rst_fail`), `timeout` for an error such as ETIMEDOUT (`tcp_transfer_fail`), else `fin`.
 *   The close is settled a little after the state change: a reset this side sends (SO_LINGER 0,
 *   an abort) is reported after the socket already went to CLOSE.
 *
 * Whose socket: these tracepoints mostly fire in softirq, where the current pid is an unrelated
 * task. The owner is the pid of the socket's connect (the SYN_SENT change runs in its context,
 * also for a connect that fails before returning, which has no connect event) or of its accept
 * (the socket tracker's events, by the same sock id). A socket whose owner is not known yet (an
 * accepted socket before its accept returns) keeps its counters until it is; one never seen to
 * open (older than the agent) is given, after `ownerWaitUs`, to the process listening on its
 * local port (then it is a server), else to no process at `c-p`.
 */
import { NetworkAggregator, RowSideTags, RowSink } from '../aggregate/network-aggregator';
import { HISTOGRAM_OFFSET, histogramBucket, NM } from '../aggregate/network-metrics';
import { FAILURE_COUNTER } from '../flow/flow-tracker';
import { TcpEvent } from './loader-records';

/** `mf_tcp_event.kind` (bpf/metaflow.h). */
export const TcpEventKind = { retransmit: 1, receiveReset: 2, sendReset: 3, state: 4, rtt: 5 } as const;

/** The kernel's TCP states (include/net/tcp_states.h). */
export const TcpState = {
  established: 1,
  synSent: 2,
  synRecv: 3,
  finWait1: 4,
  finWait2: 5,
  timeWait: 6,
  close: 7,
  closeWait: 8,
  lastAck: 9,
  listen: 10,
  closing: 11,
  newSynRecv: 12,
} as const;

const ECONNREFUSED = 111;
const ECONNRESET = 104;
const EPIPE = 32;

export interface TcpSocketEndpoints {
  transport: 'tcp';
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

export interface TcpSocketOwners {
  /** Tags of the process owning a socket (the ones its request records get). */
  local(pid: number, comm: string, e: TcpSocketEndpoints, role: 'client' | 'server'): RowSideTags;
  /** The process listening on a local TCP port, if any. */
  listener(port: number): number | undefined;
}

export interface TcpEventOptions {
  /** Ports of the agent's own traffic (its API, its store): their sockets are not counted. */
  ownPorts?: readonly number[];
  /** How long a socket's counters wait for its owner before it is guessed (default 2 s). */
  ownerWaitUs?: number;
  /** How long a closed socket waits for the reset it sends after its CLOSE (default 200 ms). */
  closeSettleUs?: number;
  /** Sockets followed at most; the oldest are forgotten beyond (a CLOSE lost with a loader). */
  maxSockets?: number;
}

export interface TcpEventStats {
  events: number;
  /** Resets sent with no socket (a SYN to a closed port): the client's socket counts the refusal. */
  withoutSocket: number;
  /** Retransmissions the kernel tried and could not send (err ≠ 0): nothing went out. */
  failedRetransmits: number;
  /** Sockets given to a process by guess (never seen to connect or be accepted). */
  ownerGuessed: number;
  /** Sockets forgotten because too many were open. */
  evicted: number;
}

const enum Reset {
  None = 0,
  Local = 1,
  Remote = 2,
}

/** Pending counters that depend on the socket's role, resolved when it is known. */
const RETRANS_DATA = -1;
const RTT_SAMPLE = -2;

interface TcpSocket {
  role: 'client' | 'server' | undefined;
  /** 0: not known. */
  pid: number;
  comm: string;
  /** The owner came from the socket's connect or accept (else it is still to be settled). */
  owned: boolean;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** Counters waiting for the owner: (metric index or RETRANS_DATA / RTT_SAMPLE, value) pairs. */
  pending: number[];
  firstSeenUs: number;
  reset: Reset;
  /** When the socket went to CLOSE (0: open), from which state, with which sk_err. */
  closedUs: number;
  closedFrom: number;
  closeErr: number;
  /** The row's tags, made once the owner is settled. */
  row: { tapSide: string; ip0: string; ip1: string; port1: number; side: RowSideTags | undefined } | undefined;
}

export class TcpEventMetrics {
  readonly aggregator: NetworkAggregator;
  readonly stats: TcpEventStats = { events: 0, withoutSocket: 0, failedRetransmits: 0, ownerGuessed: 0, evicted: 0 };
  private readonly sockets = new Map<string, TcpSocket>();
  /** Sockets with counters waiting for their owner, and sockets closed but not settled. */
  private readonly unowned = new Set<string>();
  private readonly closing = new Set<string>();
  private readonly ownPorts: Set<number>;
  private readonly ownerWaitUs: number;
  private readonly closeSettleUs: number;
  private readonly maxSockets: number;

  constructor(
    sink: RowSink,
    host: string,
    private readonly owners: TcpSocketOwners,
    options: TcpEventOptions = {},
  ) {
    this.aggregator = new NetworkAggregator(sink, host, 'ebpf');
    this.ownPorts = new Set(options.ownPorts ?? []);
    this.ownerWaitUs = options.ownerWaitUs ?? 2_000_000;
    this.closeSettleUs = options.closeSettleUs ?? 200_000;
    this.maxSockets = options.maxSockets ?? 262_144;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  /** connect() or accept() returned (the socket tracker's event): the socket's owner is certain. */
  socketOwner(sockId: string, pid: number, comm: string, role: 'client' | 'server', e: TcpSocketEndpoints, tsUs: number): void {
    if (this.ownPorts.has(e.localPort) || this.ownPorts.has(e.remotePort)) return;
    this.advance(tsUs);
    // Even a socket already closed (reset in the accept queue) is this one: a new socket at the
    // same address would have started with its own state change first.
    const s = this.sockets.get(sockId) ?? this.open(sockId, tsUs);
    s.pid = pid;
    s.comm = comm;
    s.role = role;
    s.owned = true;
    s.row = undefined;
    this.endpoints(s, e.localIp, e.localPort, e.remoteIp, e.remotePort);
    this.release(sockId, s);
  }

  event(e: TcpEvent, tsUs: number): void {
    if (this.ownPorts.has(e.localPort) || this.ownPorts.has(e.remotePort)) return;
    this.stats.events++;
    this.advance(tsUs);
    if (e.sockId === '0') {
      this.stats.withoutSocket++;
      return;
    }
    switch (e.kind) {
      case TcpEventKind.state:
        this.state(e, tsUs);
        return;
      case TcpEventKind.retransmit: {
        if (e.value !== 0) {
          this.stats.failedRetransmits++;
          return;
        }
        const s = this.socket(e, tsUs);
        const segs = Math.max(1, e.segs);
        if (e.oldState === TcpState.synSent) this.add(e.sockId, s, NM.retrans_syn, segs);
        else if (e.oldState === TcpState.synRecv) this.add(e.sockId, s, NM.retrans_synack, segs);
        else this.add(e.sockId, s, RETRANS_DATA, segs);
        return;
      }
      case TcpEventKind.receiveReset:
      case TcpEventKind.sendReset: {
        // A time-wait or request socket is no socket of a process; nor is a closed one no longer
        // followed (its CLOSE already settled): following it again would wait for a CLOSE that
        // will not come.
        if (e.kind === TcpEventKind.sendReset && (e.oldState === TcpState.timeWait || e.oldState === TcpState.newSynRecv)) return;
        if (e.oldState === TcpState.close && !this.sockets.has(e.sockId)) return;
        const s = this.socket(e, tsUs);
        if (s.reset === Reset.None) s.reset = e.kind === TcpEventKind.sendReset ? Reset.Local : Reset.Remote;
        this.add(e.sockId, s, NM.rst_count, 1);
        return;
      }
      case TcpEventKind.rtt:
        if (e.srttUs > 0) this.add(e.sockId, this.socket(e, tsUs), RTT_SAMPLE, e.srttUs);
        return;
      default:
        return;
    }
  }

  /** Time passes: closed sockets settle, sockets that waited long enough for an owner get one. */
  tick(nowUs: number): void {
    // Counted in the second still open, before it is emitted.
    for (const id of this.closing) {
      const s = this.sockets.get(id);
      if (!s) this.closing.delete(id);
      else if (nowUs - s.closedUs >= this.closeSettleUs) this.settleClose(id, s);
    }
    for (const id of this.unowned) {
      const s = this.sockets.get(id);
      if (!s) this.unowned.delete(id);
      else if (nowUs - s.firstSeenUs >= this.ownerWaitUs) this.guessOwner(id, s);
    }
    this.advance(nowUs);
  }

  /** The end (the agent stops): every closed socket settles, every row is emitted. */
  finish(nowUs: number): void {
    this.advance(nowUs);
    for (const id of [...this.closing]) {
      const s = this.sockets.get(id);
      if (s) this.settleClose(id, s);
    }
    this.closing.clear();
    for (const id of [...this.unowned]) {
      const s = this.sockets.get(id);
      if (s) this.guessOwner(id, s);
    }
    this.unowned.clear();
    this.aggregator.flush();
  }

  private state(e: TcpEvent, tsUs: number): void {
    const id = e.sockId;
    if (e.newState === TcpState.synSent) {
      // connect() itself: the task is the owner.
      const s = this.fresh(id, tsUs);
      s.pid = e.pid;
      s.comm = e.comm;
      s.role = 'client';
      s.owned = e.pid !== 0;
      this.endpoints(s, e.localIp, e.localPort, e.remoteIp, e.remotePort);
      this.add(id, s, NM.new_flow, 1);
      return;
    }
    if (e.newState === TcpState.established && e.oldState === TcpState.synRecv) {
      // An accepted socket, born in softirq: its accept (later) names the owner.
      const s = this.fresh(id, tsUs);
      s.role = 'server';
      this.endpoints(s, e.localIp, e.localPort, e.remoteIp, e.remotePort);
      this.add(id, s, NM.new_flow, 1);
      if (e.srttUs > 0) this.add(id, s, RTT_SAMPLE, e.srttUs);
      return;
    }
    const s = this.socket(e, tsUs);
    if (e.newState === TcpState.established) {
      if (e.srttUs > 0) this.add(id, s, RTT_SAMPLE, e.srttUs);
    } else if (e.newState === TcpState.close && s.closedUs === 0) {
      s.closedUs = tsUs;
      s.closedFrom = e.oldState;
      s.closeErr = e.value;
      this.closing.add(id);
    }
  }

  /** A socket starting now at `id`: whatever was there before ends. */
  private fresh(id: string, tsUs: number): TcpSocket {
    const old = this.sockets.get(id);
    if (old) {
      // Its CLOSE may have been lost (a loader restart): it ends without a close type then.
      if (old.closedUs > 0) this.settleClose(id, old);
      else this.drop(id, old);
    }
    return this.open(id, tsUs);
  }

  /** The socket of an event, followed from now on if it was not. */
  private socket(e: TcpEvent, tsUs: number): TcpSocket {
    let s = this.sockets.get(e.sockId);
    // Another socket at the address of one whose end was not seen (its CLOSE lost in a loader
    // gap or a full ring): the 5-tuple tells them apart.
    if (s && !sameEndpoints(s, e)) s = this.fresh(e.sockId, tsUs);
    s ??= this.open(e.sockId, tsUs);
    this.endpoints(s, e.localIp, e.localPort, e.remoteIp, e.remotePort);
    return s;
  }

  private open(id: string, tsUs: number): TcpSocket {
    if (this.sockets.size >= this.maxSockets) {
      // The oldest socket (insertion order): most likely one whose CLOSE never came.
      const oldest = this.sockets.keys().next().value as string;
      const s = this.sockets.get(oldest) as TcpSocket;
      this.drop(oldest, s);
      this.stats.evicted++;
    }
    const s: TcpSocket = {
      role: undefined,
      pid: 0,
      comm: '',
      owned: false,
      localIp: '',
      localPort: 0,
      remoteIp: '',
      remotePort: 0,
      pending: [],
      firstSeenUs: tsUs,
      reset: Reset.None,
      closedUs: 0,
      closedFrom: -1,
      closeErr: 0,
      row: undefined,
    };
    this.sockets.set(id, s);
    return s;
  }

  /** Forgets a socket, its waiting counters given to whoever it seems to belong to. */
  private drop(id: string, s: TcpSocket): void {
    if (s.pending.length > 0) this.guessOwner(id, s);
    this.sockets.delete(id);
    this.unowned.delete(id);
    this.closing.delete(id);
  }

  /** Endpoints as the latest record has them (the local port is 0 until connect binds it). */
  private endpoints(s: TcpSocket, localIp: string, localPort: number, remoteIp: string, remotePort: number): void {
    if (known(localIp)) s.localIp = localIp;
    if (localPort) s.localPort = localPort;
    if (known(remoteIp)) s.remoteIp = remoteIp;
    if (remotePort) s.remotePort = remotePort;
  }

  /** Adds to the socket's row, or keeps it until the socket's owner is known. */
  private add(id: string, s: TcpSocket, metric: number, value: number): void {
    if (!s.owned) {
      if (s.pending.length === 0) this.unowned.add(id);
      s.pending.push(metric, value);
      return;
    }
    this.count(s, metric, value);
  }

  private count(s: TcpSocket, metric: number, value: number): void {
    const row = this.rowBase(s);
    const slab = this.aggregator.slab;
    if (metric === RTT_SAMPLE) {
      slab[row + NM.rtt_sum] += value;
      slab[row + NM.rtt_count]++;
      if (value > slab[row + NM.rtt_max]) slab[row + NM.rtt_max] = value;
      slab[row + HISTOGRAM_OFFSET.rtt + histogramBucket(value)]++;
    } else if (metric === RETRANS_DATA) {
      slab[row + (s.role === 'server' ? NM.retrans_rx : NM.retrans_tx)] += value;
    } else {
      slab[row + metric] += value;
    }
  }

  /** The owner is known: what waited is counted. */
  private release(id: string, s: TcpSocket): void {
    this.unowned.delete(id);
    const pending = s.pending;
    s.pending = [];
    for (let i = 0; i < pending.length; i += 2) this.count(s, pending[i], pending[i + 1]);
  }

  /** No connect or accept named the owner: the listener of its port (a server), else nobody. */
  private guessOwner(id: string, s: TcpSocket): void {
    if (!s.owned) {
      this.stats.ownerGuessed++;
      const listener = s.localPort ? this.owners.listener(s.localPort) : undefined;
      if (s.role === undefined) s.role = listener !== undefined ? 'server' : 'client';
      if (s.role === 'server' && listener !== undefined) s.pid = listener;
      s.owned = true;
      s.row = undefined;
    }
    this.release(id, s);
  }

  /** The close type, counted in the socket's row; the socket is forgotten. */
  private settleClose(id: string, s: TcpSocket): void {
    if (!s.owned) this.guessOwner(id, s);
    const type = closeType(s);
    const row = this.rowBase(s);
    const slab = this.aggregator.slab;
    slab[row + NM.closed_flow]++;
    slab[row + NM[`close_${type}`]]++;
    const failure = FAILURE_COUNTER[type];
    if (failure !== undefined) slab[row + failure]++;
    this.sockets.delete(id);
    this.closing.delete(id);
    this.unowned.delete(id);
  }

  private rowBase(s: TcpSocket): number {
    let r = s.row;
    if (!r) {
      const client = s.role !== 'server';
      const e: TcpSocketEndpoints = { transport: 'tcp', localIp: s.localIp, localPort: s.localPort, remoteIp: s.remoteIp, remotePort: s.remotePort };
      const side = s.pid !== 0 ? this.owners.local(s.pid, s.comm, e, client ? 'client' : 'server') : undefined;
      r = client
        ? { tapSide: 'c-p', ip0: s.localIp, ip1: s.remoteIp, port1: s.remotePort, side }
        : { tapSide: 's-p', ip0: s.remoteIp, ip1: s.localIp, port1: s.localPort, side };
      s.row = r;
    }
    return this.aggregator.socketRowBase({
      tapSide: r.tapSide,
      protocol: 'tcp',
      l7Protocol: '',
      ip0: r.ip0,
      ip1: r.ip1,
      port1: r.port1,
      ...(r.side ? (r.tapSide === 'c-p' ? { side0: r.side } : { side1: r.side }) : {}),
    });
  }

  /** The aggregator's second follows the events' (and the clock's) time, never back. */
  private advance(tsUs: number): void {
    const second = Math.floor(tsUs / 1_000_000);
    if (second > this.aggregator.currentSecond) this.aggregator.beginSecond(second);
  }
}

/** A port or address that is set (not 0, '', 0.0.0.0 or ::, as before a socket is bound). */
function known(v: number | string): boolean {
  return v !== 0 && v !== '' && v !== '0.0.0.0' && v !== '::';
}

/** Whether an event's endpoints can be the socket's (ports and addresses known on both agree). */
function sameEndpoints(s: TcpSocket, e: TcpEvent): boolean {
  const differ = (a: number | string, b: number | string): boolean => known(a) && known(b) && a !== b;
  return !differ(s.remotePort, e.remotePort) && !differ(s.localPort, e.localPort) && !differ(s.remoteIp, e.remoteIp) && !differ(s.localIp, e.localIp);
}

/** SPEC §5 close type of a socket that went to CLOSE, from this side's view. */
export function closeType(s: { role: 'client' | 'server' | undefined; reset: number; closedFrom: number; closeErr: number }): string {
  const local = s.role === 'server' ? 'server' : 'client';
  const remote = local === 'server' ? 'client' : 'server';
  const resetBy = s.reset === Reset.Local ? local : s.reset === Reset.Remote ? remote : undefined;
  if (s.closedFrom === TcpState.synSent) return resetBy === 'server' || s.closeErr === ECONNREFUSED ? 'server_direct_rst' : 'server_syn_miss';
  if (s.closedFrom === TcpState.synRecv) return resetBy ? `${resetBy}_other_rst` : 'client_ack_miss';
  if (resetBy) return `${resetBy}_rst`;
  // A reset whose event was lost still left its error.
  if (s.closeErr === ECONNRESET || s.closeErr === EPIPE) return `${remote}_rst`;
  if (s.closeErr !== 0) return 'timeout';
  return 'fin';
}
