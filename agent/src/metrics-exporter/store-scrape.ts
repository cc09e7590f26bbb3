/**
 * One read of the store for `/metrics`, shared by every family of a scrape and by scrapes that
 * come close together: the result is kept for a few seconds, and a scrape that arrives while a
 * read is running waits for that read instead of starting another, so several Prometheus
 * servers (or an impatient one) cannot multiply the load on the store.
 *
 * A store that fails or does not answer in time gives a scrape marked down, never an error: the
 * exporter then serves its health metrics with `metaflow_exporter_store_up 0`. A read that timed
 * out is not repeated until it has finished, so a stuck server does not collect a queue of them.
 */
import { OTHER_ENDPOINT } from '../l7/endpoint-cap';
import { Store } from '../store/store';
import { CappedRows, SeriesCap } from './series-cap';
import { DataKind, EdgeCount, EdgeLabel, readApplicationRows, readNetworkRows, readNewestData, RedCount, RedLabel } from './store-reader';

export interface StoreScrape {
  up: boolean;
  /** Why the store could not be read. */
  error?: string;
  /** How long the read took (or until it was given up). */
  durationSeconds: number;
  application: CappedRows<RedLabel, RedCount>;
  network: CappedRows<EdgeLabel, EdgeCount>;
  /** Epoch seconds of the newest stored second per kind of data. */
  newestData: Partial<Record<DataKind, number>>;
}

export interface StoreScraperOptions {
  /** Only rows of this agent host. */
  host?: string;
  /** Label sets per group of families (see SeriesCap). */
  maxSeries: number;
  /** How long a read is reused. */
  cacheMs: number;
  /** How long a read may take before the scrape reports the store down. */
  timeoutMs: number;
  /** Told why, when a read fails after one that did not (an outage is reported once, not per scrape). */
  onDown?: (error: string) => void;
}

const FOLD_APPLICATION = (l: Record<RedLabel, string>): Record<RedLabel, string> => ({ ...l, service_name: OTHER_ENDPOINT, endpoint: OTHER_ENDPOINT });
const FOLD_NETWORK = (l: Record<EdgeLabel, string>): Record<EdgeLabel, string> => ({ ...l, client_service_name: OTHER_ENDPOINT, server_service_name: OTHER_ENDPOINT });

export class StoreScraper {
  private readonly applicationCap: SeriesCap;
  private readonly networkCap: SeriesCap;
  private last: { scrape: StoreScrape; finishedAt: number } | undefined;
  private running: Promise<StoreScrape> | undefined;
  /** A read given up on that has not finished yet. */
  private abandoned: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store,
    private readonly o: StoreScraperOptions,
  ) {
    this.applicationCap = new SeriesCap(o.maxSeries);
    this.networkCap = new SeriesCap(o.maxSeries);
  }

  scrape(): Promise<StoreScrape> {
    if (this.running) return this.running;
    if (this.last && Date.now() - this.last.finishedAt < this.o.cacheMs) return Promise.resolve(this.last.scrape);
    this.running = this.readOnce().then((scrape) => {
      if (!scrape.up && this.last?.scrape.up !== false) this.o.onDown?.(scrape.error ?? 'unknown error');
      this.last = { scrape, finishedAt: Date.now() };
      this.running = undefined;
      return scrape;
    });
    return this.running;
  }

  private async readOnce(): Promise<StoreScrape> {
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    if (this.abandoned) return down('the previous store read has not finished yet', seconds());
    const read = this.read();
    try {
      const result = await withTimeout(read, this.o.timeoutMs);
      return { up: true, durationSeconds: seconds(), ...result };
    } catch (e) {
      if (e instanceof TimedOut) this.forgetWhenSettled(read);
      return down(e instanceof Error ? e.message : String(e), seconds());
    }
  }

  private async read(): Promise<Pick<StoreScrape, 'application' | 'network' | 'newestData'>> {
    const [application, network, newestData] = await Promise.all([
      readApplicationRows(this.store, this.o.host),
      readNetworkRows(this.store, this.o.host),
      readNewestData(this.store, this.o.host),
    ]);
    return { application: this.applicationCap.apply(application, FOLD_APPLICATION), network: this.networkCap.apply(network, FOLD_NETWORK), newestData };
  }

  private forgetWhenSettled(read: Promise<unknown>): void {
    const settled = read.then(
      () => undefined,
      () => undefined,
    );
    this.abandoned = settled;
    void settled.then(() => {
      if (this.abandoned === settled) this.abandoned = undefined;
    });
  }
}

function down(error: string, durationSeconds: number): StoreScrape {
  return { up: false, error, durationSeconds, application: { rows: [], folded: 0 }, network: { rows: [], folded: 0 }, newestData: {} };
}

class TimedOut extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`the store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
