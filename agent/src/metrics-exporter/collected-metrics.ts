/**
 * Counters and gauges whose values are computed when Prometheus scrapes (prom-client's
 * `collect()`), from the store or from the agent's own counters, rather than updated as events
 * happen: the numbers already live elsewhere, the exporter only reads them.
 */
import { Counter, Gauge, LabelValues, OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';

export type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

export interface Sample<L extends string> {
  labels: Record<L, string>;
  value: number;
}

export interface CollectedFamily<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** The family's samples now; label sets missing from the answer are not exposed. */
  samples: () => Promise<Sample<L>[]> | Sample<L>[];
}

export function collectedCounter<L extends string>(registry: AnyRegistry, family: CollectedFamily<L>): Counter<L> {
  return new Counter<L>({
    name: family.name,
    help: family.help,
    labelNames: family.labelNames,
    registers: [registry],
    async collect() {
      const samples = await family.samples();
      // Forget the previous scrape's label sets: one that left the store must not stay exposed.
      this.reset();
      for (const s of samples) this.inc(s.labels as LabelValues<L>, nonNegative(s.value));
    },
  });
}

export function collectedGauge<L extends string>(registry: AnyRegistry, family: CollectedFamily<L>): Gauge<L> {
  return new Gauge<L>({
    name: family.name,
    help: family.help,
    labelNames: family.labelNames,
    registers: [registry],
    async collect() {
      const samples = await family.samples();
      this.reset();
      for (const s of samples) this.set(s.labels as LabelValues<L>, s.value);
    },
  });
}

/** Counters cannot go below zero; a store value that is not a number counts as none. */
function nonNegative(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}
