import { startApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { openStore } from '../store/open-store';
import { migrate } from '../store/store';

export interface ServeCommandOptions {
  store: string;
  host: string;
  port: number;
  token?: string;
  version: string;
}

/** `metaflow serve`: the query API over a store, until SIGINT or SIGTERM. */
export async function serveCommand(opts: ServeCommandOptions): Promise<number> {
  const store = openStore(opts.store);
  await migrate(store);
  const service = new QueryService(store, { version: opts.version });
  const token = opts.token ?? process.env.METAFLOW_API_TOKEN;
  const { app, url } = await startApiServer(service, { host: opts.host, port: opts.port, token });
  process.stderr.write(`metaflow: query API on ${url} (store ${store.description}${token ? ', bearer token required' : ''})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  await store.close();
  return 0;
}
