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
import { L7Output } from '../l7/l7-output';
import { ParserOptions } from '../l7/l7-parser';
import { ALL_L7_MODULES } from '../l7/modules';
import { ProtocolInference } from '../l7/protocol-inference';
import { BatchWriter, BatchWriterStats } from '../store/batch-writer';
import { migrate, Store } from '../store/store';
import { CAPTURE_STATS } from '../store/tables';
import { InterfaceRoleConfig } from './interface-roles';
import { LoaderStats, LoaderStreamParser } from './loader-records';
import { LiveObservationPoints } from './observation-points';
import { ProcessTable } from './proc-info';
import { SocketTracker } from './socket-tracker';

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
  onLog?: (line: string) => void;
}

export interface LiveSummary {
  packets: number;
  socketEvents: number;
  requestRecords: number;
  flowsOpenAtStop: number;
  socketsOpenAtStop: number;
  loaderRestarts: number;
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
  private readonly socketOut: L7Output;
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
  private lastStats: LoaderStats | undefined;
  private dropsBeforeRestart = 0;
  private packets = 0;
  private bytes = 0;
  private socketEvents = 0;
  private exited: Promise<void> = Promise.resolve();
  private minuteStatsWritten = 0;

  constructor(private readonly o: LiveAgentOptions) {
    this.host = o.host ?? hostname();
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
    this.socketOut = new L7Output(this.writer, this.host);
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
  }

  private log(line: string): void {
    (this.o.onLog ?? ((l: string) => process.stderr.write(`metaflow agent: ${l}\n`)))(line);
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
      this.log(`the loader is not built and could not be built: run \`bash bpf/install-deps.sh && make -C bpf\` (needs root, clang, libbpf-dev, bpftool, libpcap-dev)`);
      return Promise.resolve();
    }
    const child = spawn(path, this.loaderArgs(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.loader = child;
    if (child.pid) this.loaderPids.push(child.pid);
    let ready: () => void = () => undefined;
    const started = new Promise<void>((r) => (ready = r));
    const parser = new LoaderStreamParser({
      hello: (h) => {
        this.bootOffsetUs = Number(h.bootOffsetNs / 1000n);
      },
      log: (l) => {
        if (l.level >= 1) this.log(`loader: ${l.text}`);
        if (l.text.startsWith('ready')) ready();
      },
      stats: (s) => {
        this.bootOffsetUs = Number(s.bootOffsetNs / 1000n);
        this.lastStats = s;
      },
      packet: (p) => this.packet(p.tsNs, p.ifindex, p.ifname, p.linkType, p.origLen, p.outgoing, p.data),
      data: (d) => {
        this.socketEvents++;
        // TLS plaintext comes from SSL_read/SSL_write, which know no transport: it is TCP.
        const ipProto = d.tls && d.ipProto === 0 ? 6 : d.ipProto;
        if (ipProto !== 6 && ipProto !== 17) return;
        this.sockets.data({
          tsUs: this.wallUs(d.tsNs),
          pid: d.pid,
          comm: d.comm,
          socketId: d.sockId,
          transport: ipProto === 6 ? 'tcp' : 'udp',
          localIp: d.localIp,
          localPort: d.localPort,
          remoteIp: d.remoteIp,
          remotePort: d.remotePort,
          direction: d.direction,
          bytes: d.bytes,
          payload: d.payload,
          tls: d.tls,
        });
      },
      sockEvent: (e) => {
        this.socketEvents++;
        if (e.kind === 'close') this.sockets.close(e.pid, e.sockId, this.wallUs(e.tsNs));
        else this.sockets.role({ ...e, tsUs: this.wallUs(e.tsNs), socketId: e.sockId, transport: e.ipProto === 17 ? 'udp' : 'tcp', role: e.kind === 'connect' ? 'client' : 'server' });
      },
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      try {
        parser.feed(chunk);
      } catch (e) {
        this.log(`${(e as Error).message}; restarting the loader`);
        child.kill('SIGTERM');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.trim()) this.log(`loader: ${line.trim()}`);
    });
    this.exited = new Promise<void>((resolveExit) => {
      child.on('exit', (code, signal) => {
        ready();
        resolveExit();
        if (this.stopping) return;
        // A crash: record the gap and come back with backoff.
        this.restarts++;
        this.dropsBeforeRestart += this.kernelDrops();
        this.lastStats = undefined;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts, 6));
        this.log(`the loader stopped (${signal ?? `exit ${code}`}); capture resumes in ${delay} ms — data of the gap is lost`);
        setTimeout(() => {
          if (!this.stopping) void this.spawnLoader();
        }, delay).unref();
      });
    });
    return Promise.race([started, new Promise<void>((r) => setTimeout(r, 15_000).unref())]);
  }

  private wallUs(tsNs: bigint): number {
    return Number(tsNs / 1000n) + this.bootOffsetUs;
  }

  private packet(tsNs: bigint, ifindex: number, ifname: string, linkType: number, origLen: number, outgoing: boolean, data: Buffer): void {
    this.packets++;
    this.bytes += origLen;
    if (this.points.interfaceName(ifindex) === undefined) this.points.addInterface(ifindex, ifname);
    const pkt: CapturedPacket = { tsUs: Number(tsNs / 1000n), linkType: linkType || 1, interfaceId: 0, capLen: data.length, origLen, data };
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
    if (this.loader && this.loader.exitCode === null) {
      this.loader.kill('SIGTERM');
      const killer = setTimeout(() => this.loader?.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(killer);
    }
    const nowUs = Date.now() * 1000;
    const flowsOpen = this.tracker.flows.size;
    const socketsOpen = this.sockets.openSockets;
    while (!this.tracker.finishSome(10_000)) if (this.writer.backlogged) await this.writer.drained();
    this.sockets.finish(nowUs);
    this.socketOut.flush();
    this.writeCaptureStats(Math.floor(nowUs / 60_000_000) * 60);
    await this.writer.flush();
    return {
      packets: this.packets,
      socketEvents: this.socketEvents,
      requestRecords: this.tracker.l7Stats.records + this.sockets.stats.records,
      flowsOpenAtStop: flowsOpen,
      socketsOpenAtStop: socketsOpen,
      loaderRestarts: this.restarts,
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
