import { MetricsExporter } from '../metrics-exporter/metrics-exporter';
import { announcePreview } from '../preview/announce-preview';
import { previewExposureProblem } from '../preview/preview-routes';
import { startApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { startOtlpReceiver } from '../otel/otlp-receiver';
import { openStore } from '../store/open-store';
import { migrate } from '../store/store';

export interface ServeCommandOptions {
  store: string;
  host: string;
  port: number;
  token?: string;
  /** Also serve the service-map preview page (and print its URL). */
  preview?: boolean;
  /** Also receive OpenTelemetry spans (OTLP/HTTP) into the store on this port. */
  otlpPort?: number;
  otlpHost?: string;
  version: string;
}

/** `metaflow serve`: the query API and `/metrics` over a store, until SIGINT or SIGTERM. */
export async function serveCommand(opts: ServeCommandOptions): Promise<number> {
  const previewProblem = opts.preview && previewExposureProblem(opts.host, opts.token ?? process.env.METAFLOW_API_TOKEN);
  if (previewProblem) {
    process.stderr.write(`metaflow: ${previewProblem}\n`);
    return 2;
  }
  const store = openStore(opts.store);
  await migrate(store);
  const service = new QueryService(store, { version: opts.version });
  const token = opts.token ?? process.env.METAFLOW_API_TOKEN;
  const metrics = new MetricsExporter({ store, onStoreDown: (e) => process.stderr.write(`metaflow: /metrics: the store could not be read: ${e}\n`) });
  const { app, url } = await startApiServer(service, { host: opts.host, port: opts.port, token, metrics, preview: opts.preview ? {} : undefined });
  process.stderr.write(`metaflow: query API on ${url} (store ${store.description}${token ? ', bearer token required' : ''})\n`);
  if (opts.preview) announcePreview(url);
  // A receiver that cannot listen (port taken) ends the command: the API must not keep it running.
  const otlp = opts.otlpPort
    ? await startOtlpReceiver(store, { host: opts.otlpHost, port: opts.otlpPort, token }).catch(async (e: unknown) => {
        await app.close();
        await store.close();
        throw e;
      })
    : undefined;
  if (otlp) process.stderr.write(`metaflow: OpenTelemetry spans accepted on ${otlp.url}/v1/traces\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  await otlp?.close();
  await store.close();
  return 0;
}
