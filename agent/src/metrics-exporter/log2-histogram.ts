/**
 * The store's delay histograms (SPEC §2) as Prometheus histograms. The agent counts samples in
 * fixed log2 µs buckets (`histogramBucket`): bucket k holds samples in [2^(k-1), 2^k) µs, bucket 0
 * those below 1 µs, and the last bucket is open-ended. Every bucket but the last therefore has an
 * upper bound of 2^k µs, which becomes the `le` of a Prometheus bucket in seconds, so no sample
 * is moved to another bucket on the way out. Prometheus reads `le` as "≤" where the store means
 * "<": they differ only for a sample of exactly 2^k µs, which the store (and so `/metrics`)
 * counts one bucket up.
 */
import { HISTOGRAM_BUCKETS } from '../aggregate/network-metrics';

/** `le` of the finite buckets, in seconds: 1 µs, 2 µs, 4 µs … 2^22 µs (≈ 4.19 s); then +Inf. */
export const BUCKET_UPPER_BOUNDS_SECONDS: readonly number[] = Array.from({ length: HISTOGRAM_BUCKETS - 1 }, (_, k) => 2 ** k / 1e6);

/** A stored histogram merged over rows: counts per stored bucket and the sum of the samples. */
export interface Log2Histogram {
  /** Samples per stored bucket (not cumulative), HISTOGRAM_BUCKETS long. */
  buckets: number[];
  sumSeconds: number;
}

export function emptyHistogram(): Log2Histogram {
  return { buckets: new Array<number>(HISTOGRAM_BUCKETS).fill(0), sumSeconds: 0 };
}

/**
 * A histogram from what ClickHouse returns: the `sumMap` of a `Map(UInt8, UInt64)` column as a
 * JSON object (keys are strings; 64-bit counts may be quoted) and the `_sum` column in µs.
 */
export function histogramFromStore(map: Record<string, number | string> | null | undefined, sumMicros: number | string): Log2Histogram {
  const h = emptyHistogram();
  for (const [key, value] of Object.entries(map ?? {})) {
    const k = Number(key);
    const n = Number(value);
    if (!Number.isInteger(k) || k < 0 || !(n > 0)) continue;
    // A bucket beyond the last (a schema with more buckets) is still "more than the last bound".
    h.buckets[Math.min(k, HISTOGRAM_BUCKETS - 1)] += n;
  }
  h.sumSeconds = Number(sumMicros) / 1e6;
  return h;
}

/** Adds `from` into `into` (folding series over the cap). */
export function addHistogram(into: Log2Histogram, from: Log2Histogram): void {
  for (let k = 0; k < into.buckets.length; k++) into.buckets[k] += from.buckets[k];
  into.sumSeconds += from.sumSeconds;
}

/** Samples at or below each finite bound, in the order of BUCKET_UPPER_BOUNDS_SECONDS. */
export function cumulativeCounts(h: Log2Histogram): number[] {
  let below = 0;
  return BUCKET_UPPER_BOUNDS_SECONDS.map((_, k) => (below += h.buckets[k]));
}

/** Every sample, the last (open-ended) bucket included: the +Inf bucket and `_count`. */
export function sampleCount(h: Log2Histogram): number {
  return h.buckets.reduce((a, b) => a + b, 0);
}
