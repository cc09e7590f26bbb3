import { MetricsExporter } from '../metrics-exporter/metrics-exporter';
import { announcePreview } from '../preview/announce-preview';
import { previewExposureProblem } from '../preview/preview-routes';
import { startApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { LiveAgent } from '../live/live-agent';
import { startOtlpReceiver } from '../otel/otlp-receiver';
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
  /** Also serve the service-map preview page on the query API's server (and print its URL). */
  preview?: boolean;
  gateway: string[];
  /** Receive OpenTelemetry spans (OTLP/HTTP) on this port; off when unset. */
  otlpPort?: number;
  otlpHost?: string;
  version: string;
}

/** `metaflow agent`: live capture into the store, with the query API, until SIGINT or SIGTERM. */
export async function agentCommand(opts: AgentCommandOptions): Promise<number> {
  if (process.getuid && process.getuid() !== 0) {
    process.stderr.write('metaflow agent: not running as root: eBPF and AF_PACKET need root (or CAP_BPF, CAP_PERFMON, CAP_NET_RAW); run it with sudo\n');
  }
  // Before anything is attached: a preview that cannot be served ends the command here.
  const previewProblem = !opts.preview ? undefined : !opts.api ? 'the preview is served by the query API: drop --no-api' : previewExposureProblem(opts.apiHost, opts.token ?? process.env.METAFLOW_API_TOKEN);
  if (previewProblem) {
    process.stderr.write(`metaflow agent: ${previewProblem}\n`);
    return 2;
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
    ownPorts: [...(opts.api ? [opts.apiPort] : []), ...(opts.otlpPort ? [opts.otlpPort] : [])],
  });
  // Signals are taken from now on: a stop asked for during start-up waits for it, then stops cleanly.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Before the probes are attached: a port already taken ends the command with nothing to undo.
  const otlp = opts.otlpPort
    ? await startOtlpReceiver(store, { host: opts.otlpHost, port: opts.otlpPort, token: opts.token ?? process.env.METAFLOW_API_TOKEN, agentHost: opts.host })
    : undefined;
  await agent.start();
  if (agent.failure !== undefined) {
    // Nothing is captured (the reason is in the log): nothing to serve either.
    await agent.stop();
    await otlp?.close();
    await store.close();
    return 1;
  }
  let api: Awaited<ReturnType<typeof startApiServer>> | undefined;
  if (opts.api) {
    const token = opts.token ?? process.env.METAFLOW_API_TOKEN;
    // `/metrics` exposes this agent's rows only: several agents may share a ClickHouse server.
    const metrics = new MetricsExporter({
      store,
      host: agent.host,
      health: () => agent.health(),
      onStoreDown: (e) => process.stderr.write(`metaflow agent: /metrics: the store could not be read: ${e}\n`),
    });
    api = await startApiServer(new QueryService(store, { version: opts.version }), { host: opts.apiHost, port: opts.apiPort, token, metrics, preview: opts.preview ? {} : undefined });
    process.stderr.write(`metaflow agent: capturing; query API on ${api.url}\n`);
    if (opts.preview) announcePreview(api.url);
  } else process.stderr.write('metaflow agent: capturing\n');
  if (otlp) process.stderr.write(`metaflow agent: OpenTelemetry spans accepted on ${otlp.url}/v1/traces\n`);
  // A loader that keeps dying ends the command too (exit status 1), after storing what was captured.
  const failure = await Promise.race([stopped.then(() => undefined), agent.failed]);
  process.stderr.write(`metaflow agent: stopping${failure === undefined ? '' : ' (capture has stopped)'}: detaching probes and storing what is open\n`);
  const summary = await agent.stop();
  await api?.app.close();
  await otlp?.close();
  await store.close();
  process.stderr.write(
    `metaflow agent: stopped. ${summary.packets} packets, ${summary.socketEvents} socket events, ${summary.requestRecords} requests; ` +
      `${summary.flowsOpenAtStop} flows and ${summary.socketsOpenAtStop} sockets were open and are stored with their pending requests; ` +
      `${summary.kernelDrops} records lost in the kernel (${lossDetail(summary)}), ${summary.storeRowsDropped} rows dropped by the store, ${summary.loaderRestarts} loader restarts, ` +
      `${summary.captureGapCount} capture gaps (${Number(summary.captureGapSeconds.toFixed(3))} s without capture; flow_metrics.capture_gaps)\n`,
  );
  return failure === undefined ? 0 : 1;
}

function lossDetail(s: { loaderStats?: { dataRingDrops: number; lifecycleRingDrops: number; tcpRingDrops: number; sslRingDrops: number; packetsDropped: number; packetsReceived: number } }): string {
  const l = s.loaderStats;
  if (!l) return 'no loader statistics';
  return `eBPF ring ${l.dataRingDrops + l.lifecycleRingDrops + l.tcpRingDrops + l.sslRingDrops}, packet ring ${l.packetsDropped} of ${l.packetsReceived} packets`;
}
