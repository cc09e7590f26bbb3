import { SingleBar } from 'cli-progress';
import { statSync } from 'node:fs';
import { replay } from '../pipeline/replay';
import { openStore } from '../store/open-store';
import { formatSummary, readSummary } from '../summary/summary';

export interface ReplayCommandOptions {
  store: string;
  localIp: string[];
  host?: string;
  maxFlows: number;
  cluster?: string;
  l7: boolean;
  keepSqlLiterals?: boolean;
  keepRedisValues?: boolean;
  httpHeader: string[];
  endpointSegments: number;
  json?: boolean;
  progress: boolean;
}

/** Runs a replay; returns the exit code (2 when the input was not a capture or was cut). */
export async function replayCommand(capture: string, opts: ReplayCommandOptions): Promise<number> {
  const store = openStore(opts.store);
  const total = capture === '-' ? 0 : statSync(capture).size;
  const bar =
    opts.progress && process.stderr.isTTY
      ? new SingleBar({
          stream: process.stderr,
          format: ' {bar} {percentage}% | {value}/{total} MB | {packets} packets, {pps} packets/s | ETA {eta}s',
          hideCursor: true,
        })
      : undefined;
  const started = Date.now();
  bar?.start(Math.max(1, Math.round(total / 1e6)), 0, { packets: 0, pps: 0 });
  let storeErrors = 0;
  try {
    const result = await replay({
      input: capture,
      store,
      localAddresses: opts.localIp,
      host: opts.host,
      maxFlows: opts.maxFlows,
      schema: { cluster: opts.cluster },
      l7: opts.l7
        ? {
            parser: {
              keepSqlLiterals: opts.keepSqlLiterals ?? false,
              keepRedisValues: opts.keepRedisValues ?? false,
              httpHeaderAllowList: opts.httpHeader.length ? opts.httpHeader.map((h) => h.toLowerCase()) : undefined,
              endpointPathSegments: opts.endpointSegments,
            },
          }
        : false,
      onProgress: (consumed, packets) => {
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        bar?.update(Math.round(consumed / 1e6), { packets, pps: Math.round(packets / seconds) });
      },
      onStoreError: (error, table) => {
        if (storeErrors++ < 3) process.stderr.write(`metaflow: store insert into ${table} failed, retrying: ${error.message}\n`);
      },
    });
    bar?.update(Math.max(1, Math.round(total / 1e6)));
    bar?.stop();
    const summary = await readSummary(store);
    process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : formatSummary(summary) + '\n');
    if (result.store.rowsDropped > 0) process.stderr.write(`metaflow: ${result.store.rowsDropped} rows could not be stored\n`);
    if (result.captureError) {
      process.stderr.write(`metaflow: ${capture}: ${result.captureError.message}; the ${result.packets} packets before it were stored\n`);
      return 2;
    }
    return 0;
  } finally {
    bar?.stop();
    await store.close();
  }
}
