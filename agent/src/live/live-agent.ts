/**
 * `metaflow agent`: live capture on this host. The loader (bpf/) streams packets from its
 * interfaces and socket data from its processes; packets go through the same pipeline as a
 * replay (flows, network metrics, parsers), socket data straight into the parsers per socket.
 * Rows are flushed every second; a clean stop detaches the probes and loses nothing.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { CapturedPacket } from '../capture/captured-packet';
import { DecodeCounters } from '../decode/decode-counters';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { LocalAddresses } from '../flow/tap-side';
import { ParserOptions } from '../l7/l7-parser';
import { ALL_L7_MODULES } from '../l7/modules';
import { ProtocolInference } from '../l7/protocol-inference';
import { BatchWriter, BatchWriterStats } from '../store/batch-writer';
import { migrate, Store } from '../store/store';
import { CAPTURE_GAPS, CAPTURE_STATS } from '../store/tables';
import { InterfaceRoleConfig } from './interface-roles';
import { LoaderStats, LoaderStreamParser } from './loader-records';
import { CaptureGap, captureGapRow, CaptureGaps, DEFAULT_LOADER_RESTARTS, isoTime, LoaderRestartOptions, RestartBackoff, seconds, SocketRequestOutput } from './loader-restarts';
import { LiveObservationPoints } from './observation-points';
import { ProcessTable } from './proc-info';
import { SocketTracker } from './socket-tracker';
import { TcpEventMetrics, TcpEventStats } from './tcp-events';

export const DEFAULT_LOADER = resolve(__dirname, '../../../bpf/build/metaflow-loader');

export interface LiveAgentOptions {
  store: Store;
  host?: string;
  /** Interfaces to capture packets on (default: every interface that is up). */
  interfaces?: string[];
  /** tcpdump-style filter of the packets captured. */
  filter?: string;
  ebpf?: boolean;
  packets?: boolean;
  /** Bytes of each syscall's data copied (default 1024, up to 16384). */
  payloadBytes?: number;
  loaderPath?: string;
  roles?: InterfaceRoleConfig;
  parser?: ParserOptions;
  /** Configured service names by `proto:port` or process name (SPEC §2). */
  serviceNames?: Record<string, string>;
  /** Ports whose traffic is the agent's own (its API, a ClickHouse server): not captured. */
  ownPorts?: number[];
  /** When a loader that died is restarted, and when the restarts end (defaults: DEFAULT_LOADER_RESTARTS). */
  restarts?: Partial<LoaderRestartOptions>;
  onLog?: (line: string) => void;
}

export interface LiveSummary {
  packets: number;
  socketEvents: number;
  requestRecords: number;
  flowsOpenAtStop: number;
  socketsOpenAtStop: number;
  loaderRestarts: number;
  /** Times without capture (the loader died), the last ones; every one is in `flow_metrics.capture_gaps`. */
  captureGaps: CaptureGap[];
  captureGapCount: number;
  captureGapSeconds: number;
  kernelDrops: number;
  storeRowsDropped: number;
  /** The loader's last statistics (kernel counters). */
  loaderStats?: LoaderStats;
}

/** The agent's own counters, read when `/metrics` is scraped. */
export interface LiveHealth {
  packets: number;
  packetBytes: number;
  socketEvents: number;
  /** Records lost in the kernel (AF_PACKET and eBPF rings), over every loader run. */
  kernelDrops: number;
  loaderRestarts: number;
  /** Times the capture was down (the loader died), and for how long in all (an open gap up to now). */
  captureGaps: number;
  captureGapSeconds: number;
  /** Packets not analysed, by reason (damaged / valid but not analysed). */
  malformed: Record<string, number>;
  skipped: Record<string, number>;
  flowsOpen: number;
  socketsOpen: number;
  /** Flows evicted because the flow table was full. */
  flowTableEvictions: number;
  requestRecords: number;
  store: BatchWriterStats & { bufferedBytes: number };
}

/** Addresses of this host's interfaces: they decide c / s / local for packets (SPEC §1). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => a !== undefined)
    .map((a) => a.address.replace(/%.*$/, ''));
}

/** Builds the loader when the tree has its sources but not the binary (a fresh clone). */
export function ensureLoader(path = DEFAULT_LOADER): string | undefined {
  if (existsSync(path)) return path;
  const bpfDir = resolve(__dirname, '../../../bpf');
  if (path !== DEFAULT_LOADER || !existsSync(join(bpfDir, 'Makefile'))) return undefined;
  const make = spawnSync('make', ['-C', bpfDir], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  return make.status === 0 && existsSync(path) ? path : undefined;
}

export class LiveAgent {
  private readonly writer: BatchWriter;
  private readonly tracker: FlowTracker;
  private readonly sockets: SocketTracker;
  /** TCP tracepoints → network rows at c-p / s-p. */
  private readonly tcpEvents: TcpEventMetrics;
  private readonly socketOut: SocketRequestOutput;
  private readonly points: LiveObservationPoints;
  private readonly decoder = new PacketDecoder();
  private readonly decoded = new DecodedPacket();
  private readonly processes: ProcessTable;
  /** The host name its rows are labelled with. */
  readonly host: string;
  private loader: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private bootOffsetUs = 0;
  private restarts = 0;
  private readonly backoff: RestartBackoff;
  private readonly gaps = new CaptureGaps();
  private restartTimer: NodeJS.Timeout | undefined;
  /** Whether a loader of this agent ever said it was ready (a first loader that cannot start is not restarted). */
  private everCaptured = false;
  /** Why capture stopped for good (the loader could not start, or kept dying); undefined while it runs. */
  failure: string | undefined;
  /** Resolves with `failure` when the agent gives up on the loader; never resolves otherwise. */
  readonly failed: Promise<string>;
  private fail: (reason: string) => void = () => undefined;
  private lastStats: LoaderStats | undefined;
  private dropsBeforeRestart = 0;
  private packets = 0;
  private bytes = 0;
  private socketEvents = 0;
  private exited: Promise<void> = Promise.resolve();
  private minuteStatsWritten = 0;

  constructor(private readonly o: LiveAgentOptions) {
    this.host = o.host ?? hostname();
    this.backoff = new RestartBackoff({ ...DEFAULT_LOADER_RESTARTS, ...o.restarts });
    this.failed = new Promise<string>((r) => (this.fail = r));
    this.writer = new BatchWriter(o.store, { onError: (e, table) => this.log(`store: ${table}: ${e.message}`) });
    this.points = new LiveObservationPoints(o.roles);
    this.processes = new ProcessTable('/proc', 5000, o.serviceNames ?? {});
    const local = new Set(hostAddresses());
    this.tracker = new FlowTracker(this.writer, {
      host: this.host,
      localAddresses: new LocalAddresses([...local]),
      observationPoints: this.points,
      l7: { modules: ALL_L7_MODULES, parser: o.parser },
      serverTags: (transport, ip, port) => {
        if (!local.has(ip) && !ip.startsWith('127.') && ip !== '::1') return undefined;
        const pid = this.processes.listener(transport, port);
        if (pid === undefined) return undefined;
        const p = this.processes.process(pid);
        return { pid, process: p?.name ?? '', container: p?.containerId ?? '', service: this.processes.serviceName(transport, ip, port, pid) };
      },
    });
    this.socketOut = new SocketRequestOutput(this.writer, this.host);
    this.sockets = new SocketTracker(
      this.socketOut,
      new ProtocolInference(ALL_L7_MODULES),
      {
        local: (pid, comm, e) => {
          const p = this.processes.process(pid);
          return { pid, process: p?.name ?? comm, container: p?.containerId ?? '', service: this.processes.serviceName(e.transport, e.localIp, e.localPort, pid) };
        },
        isListening: (transport, port) => this.processes.listener(transport, port) !== undefined,
      },
      o.parser,
    );
    this.tcpEvents = new TcpEventMetrics(
      this.writer,
      this.host,
      {
        local: (pid, comm, e) => {
          const p = this.processes.process(pid);
          return { pid, process: p?.name ?? comm, container: p?.containerId ?? '', service: this.processes.serviceName(e.transport, e.localIp, e.localPort, pid) };
        },
        listener: (port) => this.processes.listener('tcp', port),
      },
      { ownPorts: o.ownPorts },
    );
  }

  private log(line: string): void {
    (this.o.onLog ?? ((l: string) => process.stderr.write(`metaflow agent: ${l}\n`)))(line);
  }

  /** What the TCP tracepoints gave (events, resets without a socket, failed retransmissions…). */
  get tcpEventStats(): TcpEventStats {
    return { ...this.tcpEvents.stats };
  }

  /** Pids of every loader this agent ran (restarts included). */
  readonly loaderPids: number[] = [];

  /** Starts capturing; resolves once the loader said it is ready (or failed to start). */
  async start(): Promise<void> {
    await migrate(this.o.store);
    for (const name of Object.keys(networkInterfaces())) this.points.addInterface(interfaceIndex(name), name);
    this.timer = setInterval(() => this.tick(), 1000);
    await this.spawnLoader();
  }

  private loaderArgs(): string[] {
    const args: string[] = [];
    if (this.o.ebpf === false) args.push('--no-ebpf');
    if (this.o.packets === false) args.push('--no-packets');
    if (this.o.payloadBytes) args.push('--payload-bytes', String(this.o.payloadBytes));
    if (this.o.interfaces?.length) args.push('--interfaces', this.o.interfaces.join(','));
    const own = (this.o.ownPorts ?? []).map((p) => `port ${p}`).join(' or ');
    const filter = [this.o.filter ? `(${this.o.filter})` : '', own ? `not (${own})` : ''].filter(Boolean).join(' and ');
    if (filter) args.push('--filter', filter);
    return args;
  }

  private spawnLoader(): Promise<void> {
    const path = ensureLoader(this.o.loaderPath ?? DEFAULT_LOADER);
    if (!path) {
      this.giveUp(`the loader is not built and could not be built: run \`bash bpf/install-deps.sh && make -C bpf\` (needs root, clang, libbpf-dev, bpftool, libpcap-dev)`);
      return Promise.resolve();
    }
    const child = spawn(path, this.loaderArgs(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.loader = child;
    const pid = child.pid ?? 0;
    if (pid) this.loaderPids.push(pid);
    let ready: () => void = () => undefined;
    const started = new Promise<void>((r) => (ready = r));
    /** When this loader said it was ready, last wrote, and was seen to exit (ms). */
    let readyAt = 0;
    let lastOutputAt = 0;
    let exitAt = 0;
    const parser = new LoaderStreamParser({
      hello: (h) => {
        this.bootOffsetUs = Number(h.bootOffsetNs / 1000n);
      },
      log: (l) => {
        if (l.level >= 1) this.log(`loader: ${l.text}`);
        if (l.text.startsWith('ready') && !readyAt) {
          readyAt = Date.now();
          this.loaderReady(pid, readyAt);
          ready();
        }
      },
      stats: (s) => {
        this.bootOffsetUs = Number(s.bootOffsetNs / 1000n);
        this.lastStats = s;
      },
      packet: (p) => this.packet(p.tsUs, p.ifindex, p.ifname, p.linkType, p.origLen, p.outgoing, p.data),
      // The hot path: the record goes to the tracker as decoded (its text fields are read only
      // when its socket's flow opens).
      data: (d) => {
        this.socketEvents++;
        this.sockets.loaderData(d, d.tsUs + this.bootOffsetUs);
      },
      sockEvent: (e) => {
        this.socketEvents++;
        this.sockets.loaderEvent(e, e.tsUs + this.bootOffsetUs);
        // The owner of the socket's TCP events (which fire where the pid means nothing).
        if (e.kind !== 'close' && e.ipProto === 6) {
          this.tcpEvents.socketOwner(e.sockId, e.pid, e.comm, e.kind === 'connect' ? 'client' : 'server', { ...e, transport: 'tcp' }, e.tsUs + this.bootOffsetUs);
        }
      },
      tcpEvent: (e) => this.tcpEvents.event(e, this.wallUs(e.tsNs)),
    });
    let broken = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      lastOutputAt = Date.now();
      if (broken) return;
      try {
        parser.feed(chunk);
      } catch (e) {
        // Nothing after a broken record can be trusted: this loader's output is ignored until it exits.
        broken = true;
        this.log(`${(e as Error).message}; restarting the loader`);
        child.kill('SIGTERM');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.trim()) this.log(`loader: ${line.trim()}`);
    });
    child.on('exit', () => (exitAt = Date.now()));
    // A loader that cannot be run (not executable): 'close' follows with an error code.
    child.on('error', (e) => this.log(`the loader ${path} could not be run: ${e.message}`));
    this.exited = new Promise<void>((resolveExit) => {
      // 'close' comes after 'exit' and after the last of its output was read: nothing of this
      // loader arrives after it.
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        ready();
        resolveExit();
        if (this.stopping) return;
        const how = signal ? `killed by ${signal}` : code !== null && code >= 0 ? `exit ${code}` : 'not run';
        exitAt ||= Date.now();
        this.loaderDied(pid, how, lastOutputAt || exitAt, exitAt, readyAt);
      });
    });
    return Promise.race([started, new Promise<void>((r) => setTimeout(r, 15_000).unref())]);
  }

  /**
   * A loader exited that the agent did not stop: the capture gap starts, the dead loader's sockets
   * end, and a new loader starts after the backoff (or, after a crash loop, none does).
   *
   * The gap starts at the loader's last output, not at its exit: everything it captured until
   * then was delivered (it flushes every 10 ms, and writes statistics every second even when
   * idle), what it held when it died is lost, and a loader killed with its probes attached takes
   * a second or more to exit while the kernel detaches them. So the gap may start up to a second
   * early, never late.
   */
  private loaderDied(pid: number, how: string, lastOutputAtMs: number, exitAtMs: number, readyAtMs: number): void {
    this.dropsBeforeRestart += this.kernelDrops();
    this.lastStats = undefined;
    const atUs = lastOutputAtMs * 1000;
    this.cutSockets(atUs);
    if (!this.everCaptured) {
      this.giveUp(`the loader (pid ${pid}) ended before it was ready (${how}): nothing is captured; its messages above say why`);
      return;
    }
    const gap = this.gaps.begin(atUs, how, pid);
    const decision = this.backoff.crashed(readyAtMs ? exitAtMs - readyAtMs : 0);
    if ('giveUp' in decision) {
      this.giveUp(`the loader (pid ${pid}) ended (${how}); not restarting it: ${decision.giveUp}. Nothing is captured since ${isoTime(gap.startUs)}; its messages above say why`);
      return;
    }
    const o = this.backoff.options;
    this.log(
      `capture gap from ${isoTime(gap.startUs)}: the loader (pid ${pid}) ended (${how}); restarting it in ${decision.restartInMs} ms ` +
        `(crash ${decision.crashesInARow} in a row; ${o.maxCrashesInARow} in a row, each within ${seconds(o.healthyAfterMs * 1000)} of capturing, end the restarts)`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts++;
      void this.spawnLoader();
    }, decision.restartInMs);
    this.restartTimer.unref();
  }

  /**
   * The sockets the dead loader was following end where it died. Their pending requests are
   * stored, marked as cut by the gap rather than timed out; what the next loader sees on a socket
   * that survived starts a new flow (the bytes in between are lost, so a parse must not continue
   * across them). Roles learnt from connect/accept are kept: a socket keeps its role, and the next
   * loader never sees those calls again.
   */
  private cutSockets(atUs: number): void {
    this.socketOut.cutByGap = true;
    try {
      this.sockets.finish(atUs);
    } finally {
      this.socketOut.cutByGap = false;
    }
  }

  /** A loader said it is ready: an open gap ends here and is stored. */
  private loaderReady(pid: number, atMs: number): void {
    this.everCaptured = true;
    const gap = this.gaps.end(atMs * 1000, pid);
    if (!gap) return;
    this.writeGap(gap);
    this.log(
      `capture resumed: no capture from ${isoTime(gap.startUs)} to ${isoTime(gap.endUs ?? gap.startUs)} (${seconds((gap.endUs ?? gap.startUs) - gap.startUs)}, ` +
        `${gap.crashes} loader run${gap.crashes === 1 ? '' : 's'} lost); the loader now runs as pid ${pid}`,
    );
  }

  private writeGap(gap: CaptureGap): void {
    this.writer.rowBuffer(CAPTURE_GAPS.name).jsonRow(captureGapRow(gap, this.host));
  }

  private giveUp(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    this.log(reason);
    this.fail(reason);
  }

  private wallUs(tsNs: bigint): number {
    return Number(tsNs / 1000n) + this.bootOffsetUs;
  }

  private packet(tsUs: number, ifindex: number, ifname: string, linkType: number, origLen: number, outgoing: boolean, data: Buffer): void {
    this.packets++;
    this.bytes += origLen;
    if (this.points.interfaceName(ifindex) === undefined) this.points.addInterface(ifindex, ifname);
    const pkt: CapturedPacket = { tsUs, linkType: linkType || 1, interfaceId: 0, capLen: data.length, origLen, data };
    if (!this.decoder.decode(pkt, this.decoded)) return;
    this.decoded.tapPort = ifindex;
    this.decoded.outgoing = outgoing;
    this.tracker.process(this.decoded);
  }

  private kernelDrops(): number {
    const s = this.lastStats;
    return s ? s.dataRingDrops + s.lifecycleRingDrops + s.tcpRingDrops + s.sslRingDrops + s.packetsDropped : 0;
  }

  private droppedReported = 0;

  private tick(): void {
    const nowUs = Date.now() * 1000;
    const dropped = this.writer.stats.rowsDropped;
    if (dropped > this.droppedReported) {
      // The store fell behind by more than the buffer holds: say so while it happens.
      this.log(`store behind: ${dropped - this.droppedReported} rows dropped in the last second (${dropped} in all)`);
      this.droppedReported = dropped;
    }
    this.tracker.tick(nowUs);
    this.sockets.expire(nowUs, 300_000_000);
    this.socketOut.beginSecond(Math.floor(nowUs / 1e6));
    this.tcpEvents.tick(nowUs);
    const minute = Math.floor(nowUs / 60_000_000);
    if (minute !== this.minuteStatsWritten) {
      if (this.minuteStatsWritten) this.writeCaptureStats(this.minuteStatsWritten * 60);
      this.minuteStatsWritten = minute;
    }
    void this.writer.flush();
  }

  private writeCaptureStats(time: number): void {
    const counters = this.decoder.counters;
    this.writer.rowBuffer(CAPTURE_STATS.name).jsonRow({
      time,
      host: this.host,
      signal_source: 'packet',
      source: 'live',
      packets: this.packets,
      bytes: this.bytes,
      malformed: DecodeCounters.nonZero(counters.malformed),
      skipped: DecodeCounters.nonZero(counters.skipped),
      flow_table_overflow: this.tracker.stats.overflowEvictions,
      dropped_rows: this.writer.stats.rowsDropped + this.dropsBeforeRestart + this.kernelDrops(),
      l7_records: this.tracker.l7Stats.records + this.sockets.stats.records,
      l7_endpoints_folded: this.tracker.l7EndpointsFolded,
    });
  }

  health(): LiveHealth {
    const decoded = this.decoder.counters;
    return {
      packets: this.packets,
      packetBytes: this.bytes,
      socketEvents: this.socketEvents,
      kernelDrops: this.dropsBeforeRestart + this.kernelDrops(),
      loaderRestarts: this.restarts,
      captureGaps: this.gaps.count,
      captureGapSeconds: this.gaps.seconds(Date.now() * 1000),
      malformed: { ...decoded.malformed },
      skipped: { ...decoded.skipped },
      flowsOpen: this.tracker.flows.size,
      socketsOpen: this.sockets.openSockets,
      flowTableEvictions: this.tracker.stats.overflowEvictions,
      requestRecords: this.tracker.l7Stats.records + this.sockets.stats.records,
      store: { ...this.writer.stats, bufferedBytes: this.writer.bufferedBytes },
    };
  }

  /** Detaches (stops the loader), ends every flow and socket, and stores everything. */
  async stop(): Promise<LiveSummary> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const loader = this.loader;
    if (loader && loader.exitCode === null && loader.signalCode === null) {
      loader.kill('SIGTERM');
      const killer = setTimeout(() => loader.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(killer);
    } else await this.exited;
    const nowUs = Date.now() * 1000;
    // A gap still open (the agent stops while waiting to restart, or after giving up) ends now.
    const open = this.gaps.end(nowUs, 0);
    if (open) {
      this.writeGap(open);
      this.log(`capture gap from ${isoTime(open.startUs)} ends with the agent's stop (${seconds(nowUs - open.startUs)} without capture)`);
    }
    const flowsOpen = this.tracker.flows.size;
    const socketsOpen = this.sockets.openSockets;
    while (!this.tracker.finishSome(10_000)) if (this.writer.backlogged) await this.writer.drained();
    this.sockets.finish(nowUs);
    this.socketOut.flush();
    this.tcpEvents.finish(nowUs);
    this.writeCaptureStats(Math.floor(nowUs / 60_000_000) * 60);
    await this.writer.flush();
    return {
      packets: this.packets,
      socketEvents: this.socketEvents,
      requestRecords: this.tracker.l7Stats.records + this.sockets.stats.records,
      flowsOpenAtStop: flowsOpen,
      socketsOpenAtStop: socketsOpen,
      loaderRestarts: this.restarts,
      captureGaps: [...this.gaps.closed],
      captureGapCount: this.gaps.count,
      captureGapSeconds: this.gaps.seconds(nowUs),
      kernelDrops: this.dropsBeforeRestart + this.kernelDrops(),
      storeRowsDropped: this.writer.stats.rowsDropped,
      loaderStats: this.lastStats,
    };
  }
}

/** The kernel's index of an interface (AF_PACKET reports packets by it). */
function interfaceIndex(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    return 0;
  }
}
