import { startApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { LiveAgent } from '../live/live-agent';
import { openStore } from '../store/open-store';

export interface AgentCommandOptions {
  store: string;
  interfaces: string[];
  filter?: string;
  ebpf: boolean;
  packets: boolean;
  payloadBytes?: number;
  host?: string;
  api: boolean;
  apiHost: string;
  apiPort: number;
  token?: string;
  gateway: string[];
  version: string;
}

/** `metaflow agent`: live capture into the store, with the query API, until SIGINT or SIGTERM. */
export async function agentCommand(opts: AgentCommandOptions): Promise<number> {
  if (process.getuid && process.getuid() !== 0) {
    process.stderr.write('metaflow agent: not running as root: eBPF and AF_PACKET need root (or CAP_BPF, CAP_PERFMON, CAP_NET_RAW); run it with sudo\n');
  }
  const store = openStore(opts.store);
  const gateway: Record<string, 'client' | 'server'> = {};
  for (const g of opts.gateway) {
    const [name, side] = g.split(':');
    gateway[name] = side === 'server' ? 'server' : 'client';
  }
  const agent = new LiveAgent({
    store,
    host: opts.host,
    interfaces: opts.interfaces,
    filter: opts.filter,
    ebpf: opts.ebpf,
    packets: opts.packets,
    payloadBytes: opts.payloadBytes,
    roles: { gateway },
    // A loader built elsewhere (a read-only checkout, a container image).
    loaderPath: process.env.METAFLOW_LOADER,
    ownPorts: opts.api ? [opts.apiPort] : [],
  });
  // Signals are taken from now on: a stop asked for during start-up waits for it, then stops cleanly.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await agent.start();
  let api: Awaited<ReturnType<typeof startApiServer>> | undefined;
  if (opts.api) {
    const token = opts.token ?? process.env.METAFLOW_API_TOKEN;
    api = await startApiServer(new QueryService(store, { version: opts.version }), { host: opts.apiHost, port: opts.apiPort, token });
    process.stderr.write(`metaflow agent: capturing; query API on ${api.url}\n`);
  } else process.stderr.write('metaflow agent: capturing\n');
  await stopped;
  process.stderr.write('metaflow agent: stopping: detaching probes and storing what is open\n');
  const summary = await agent.stop();
  await api?.app.close();
  await store.close();
  process.stderr.write(
    `metaflow agent: stopped. ${summary.packets} packets, ${summary.socketEvents} socket events, ${summary.requestRecords} requests; ` +
      `${summary.flowsOpenAtStop} flows and ${summary.socketsOpenAtStop} sockets were open and are stored with their pending requests; ` +
      `${summary.kernelDrops} records lost in the kernel (${lossDetail(summary)}), ${summary.storeRowsDropped} rows dropped by the store, ${summary.loaderRestarts} loader restarts\n`,
  );
  return 0;
}

function lossDetail(s: { loaderStats?: { dataRingDrops: number; lifecycleRingDrops: number; tcpRingDrops: number; sslRingDrops: number; packetsDropped: number; packetsReceived: number } }): string {
  const l = s.loaderStats;
  if (!l) return 'no loader statistics';
  return `eBPF ring ${l.dataRingDrops + l.lifecycleRingDrops + l.tcpRingDrops + l.sslRingDrops}, packet ring ${l.packetsDropped} of ${l.packetsReceived} packets`;
}
