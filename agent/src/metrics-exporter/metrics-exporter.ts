/**
 * `GET /metrics`: RED per service endpoint, network per edge and the agent's own health in the
 * Prometheus text format, or OpenMetrics when the scraper asks for it (Prometheus does by
 * default). Everything is computed at scrape time by prom-client collectors: the store families
 * from one cached read of the store (store-scrape.ts), the health families from the live
 * agent's counters.
 *
 * One registry per format: prom-client fixes a registry's format, and its OpenMetrics output
 * renames counter families in place (dropping `_total`), so the two cannot share metric objects.
 */
import { openMetricsContentType, OpenMetricsContentType, prometheusContentType, PrometheusContentType, Registry } from 'prom-client';
import { LiveHealth } from '../live/live-agent';
import { Store } from '../store/store';
import { AnyRegistry } from './collected-metrics';
import { registerAgentFamilies, registerExporterFamilies } from './health-families';
import { DEFAULT_MAX_SERIES } from './series-cap';
import { registerApplicationFamilies, registerNetworkFamilies } from './store-families';
import { StoreScraper } from './store-scrape';

export interface MetricsExporterOptions {
  store: Store;
  /** Only this agent host's rows (a live agent writing to a ClickHouse server shared with others). */
  host?: string;
  /** The live agent's counters, when one runs in this process. */
  health?: () => LiveHealth;
  /** Label sets per group of store families (default 1000, or $METAFLOW_METRICS_MAX_SERIES). */
  maxSeries?: number;
  /** How long a read of the store is reused (default 5 s: scrapes at Prometheus's usual 15 s+ intervals read afresh, close or concurrent ones share a read). */
  cacheMs?: number;
  /** How long a read of the store may take (default 5 s, half of Prometheus's default scrape timeout). */
  timeoutMs?: number;
  /** Told once per outage why the store could not be read. */
  onStoreDown?: (error: string) => void;
}

export interface MetricsPage {
  contentType: string;
  body: string;
}

export class MetricsExporter {
  private readonly scraper: StoreScraper;
  private readonly maxSeries: number;
  private openMetrics: Registry<OpenMetricsContentType> | undefined;
  private text: Registry<PrometheusContentType> | undefined;

  constructor(private readonly o: MetricsExporterOptions) {
    this.maxSeries = o.maxSeries ?? maxSeriesFromEnv() ?? DEFAULT_MAX_SERIES;
    this.scraper = new StoreScraper(o.store, {
      host: o.host,
      maxSeries: this.maxSeries,
      cacheMs: o.cacheMs ?? 5000,
      timeoutMs: o.timeoutMs ?? 5000,
      onDown: o.onStoreDown,
    });
  }

  /** The exposition in the format the `Accept` header prefers. */
  async render(accept: string | undefined): Promise<MetricsPage> {
    const registry = wantsOpenMetrics(accept) ? this.openMetricsRegistry() : this.textRegistry();
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  private openMetricsRegistry(): Registry<OpenMetricsContentType> {
    if (!this.openMetrics) {
      this.openMetrics = new Registry<OpenMetricsContentType>();
      this.openMetrics.setContentType(openMetricsContentType);
      this.register(this.openMetrics);
    }
    return this.openMetrics;
  }

  private textRegistry(): Registry<PrometheusContentType> {
    if (!this.text) {
      this.text = new Registry<PrometheusContentType>();
      this.text.setContentType(prometheusContentType);
      this.register(this.text);
    }
    return this.text;
  }

  private register(registry: AnyRegistry): void {
    const scrape = (): ReturnType<StoreScraper['scrape']> => this.scraper.scrape();
    registerApplicationFamilies(registry, scrape);
    registerNetworkFamilies(registry, scrape);
    registerExporterFamilies(registry, scrape, this.maxSeries);
    if (this.o.health) registerAgentFamilies(registry, this.o.health);
  }
}

/**
 * Whether an `Accept` header prefers OpenMetrics to the plain text format: listed with a q above
 * zero and not below text/plain's. Prometheus sends
 * `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  const q = (type: string): number => {
    let best = -1;
    for (const range of (accept ?? '').split(',')) {
      const [media, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
      if (media !== type) continue;
      const qParam = params.find((p) => p.startsWith('q='));
      best = Math.max(best, qParam ? Number(qParam.slice(2)) || 0 : 1);
    }
    return best;
  };
  const openMetrics = q('application/openmetrics-text');
  return openMetrics > 0 && openMetrics >= q('text/plain');
}

/** `METAFLOW_METRICS_MAX_SERIES`, for both `serve` and `agent` without another CLI option. */
export function maxSeriesFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.METAFLOW_METRICS_MAX_SERIES;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`METAFLOW_METRICS_MAX_SERIES must be a positive integer, not ${JSON.stringify(raw)}`);
  return n;
}
