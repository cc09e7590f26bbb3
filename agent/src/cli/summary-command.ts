import { openStore } from '../store/open-store';
import { formatSummary, readSummary, SummaryFilter, validateFilter } from '../summary/summary';

export interface SummaryCommandOptions {
  store: string;
  tapSide?: string;
  observationPoint?: string;
  serverPort?: number;
  json?: boolean;
}

export async function summaryCommand(opts: SummaryCommandOptions): Promise<number> {
  const filter: SummaryFilter = { tapSide: opts.tapSide ?? opts.observationPoint, serverPort: opts.serverPort };
  try {
    validateFilter(filter);
  } catch (error) {
    process.stderr.write(`metaflow: ${(error as Error).message}\n`);
    return 2;
  }
  const store = openStore(opts.store);
  try {
    const summary = await readSummary(store, filter);
    process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : formatSummary(summary) + '\n');
    return 0;
  } finally {
    await store.close();
  }
}
