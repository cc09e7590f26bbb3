/**
 * A prom-client histogram whose buckets come from the store rather than from `observe()`.
 * prom-client has no API to set a histogram's buckets from counts aggregated elsewhere (it only
 * observes single values, and replaying millions of stored samples one by one is out of the
 * question), so this subclass answers its own values at scrape time; the registry still writes
 * the exposition (text or OpenMetrics), the HELP/TYPE lines and the escaping.
 */
import { Histogram, LabelValues, OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';
import { BUCKET_UPPER_BOUNDS_SECONDS, cumulativeCounts, Log2Histogram, sampleCount } from './log2-histogram';

export interface StoredHistogramSeries<T extends string> {
  labels: Record<T, string>;
  histogram: Log2Histogram;
}

export interface StoredHistogramConfig<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  registers: (Registry<PrometheusContentType> | Registry<OpenMetricsContentType>)[];
  /** The series at scrape time. */
  read: () => Promise<StoredHistogramSeries<T>[]>;
}

type HistogramFamily<T extends string> = Awaited<ReturnType<Histogram<T>['get']>>;
type HistogramValue<T extends string> = HistogramFamily<T>['values'][number];

export class StoredHistogram<T extends string> extends Histogram<T> {
  /** The same family never observed: its public `get()` gives the header fields the registry expects. */
  private readonly header: Histogram<T>;
  private readonly read: () => Promise<StoredHistogramSeries<T>[]>;
  private readonly familyName: string;

  constructor(config: StoredHistogramConfig<T>) {
    const family = { name: config.name, help: config.help, labelNames: config.labelNames, buckets: [...BUCKET_UPPER_BOUNDS_SECONDS] };
    super({ ...family, registers: config.registers });
    this.header = new Histogram<T>({ ...family, registers: [] });
    this.read = config.read;
    this.familyName = config.name;
  }

  override async get(): Promise<HistogramFamily<T>> {
    const [header, series] = await Promise.all([this.header.get(), this.read()]);
    return { ...header, values: series.flatMap((s) => this.samples(s)) };
  }

  /**
   * prom-client 15's registry serialises a metric through `getForPromString()` when it has one;
   * the inherited one reads observed values, so it is pointed at the stored ones.
   */
  getForPromString(): Promise<HistogramFamily<T>> {
    return this.get();
  }

  /** Cumulative `_bucket` lines, +Inf, `_sum` and `_count` of one label set. */
  private samples(s: StoredHistogramSeries<T>): HistogramValue<T>[] {
    const count = sampleCount(s.histogram);
    // `le` is not one of the family's label names (prom-client reserves it), hence the casts.
    const withLe = (le: number | string): LabelValues<T> => ({ ...s.labels, le }) as LabelValues<T>;
    const bucket = `${this.familyName}_bucket`;
    const cumulative = cumulativeCounts(s.histogram);
    return [
      ...BUCKET_UPPER_BOUNDS_SECONDS.map((le, k) => ({ labels: withLe(le), value: cumulative[k], metricName: bucket })),
      { labels: withLe('+Inf'), value: count, metricName: bucket },
      { labels: s.labels as LabelValues<T>, value: s.histogram.sumSeconds, metricName: `${this.familyName}_sum` },
      { labels: s.labels as LabelValues<T>, value: count, metricName: `${this.familyName}_count` },
    ];
  }
}
