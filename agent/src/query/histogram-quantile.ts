/**
 * Percentiles from the stored delay histograms (SPEC §2: a fixed log2 histogram per row, merged
 * with sumMap). Bucket k holds samples in [2^(k-1), 2^k) µs, bucket 0 those below 1 µs; the
 * estimate interpolates linearly inside the bucket where the rank falls, so its error is bounded
 * by that bucket's width (a factor of two at most).
 */
import { HISTOGRAM_BUCKETS } from '../aggregate/network-metrics';

export type Histogram = Record<string, number | string>;

function bounds(k: number): [number, number] {
  if (k <= 0) return [0, 1];
  return [2 ** (k - 1), 2 ** k];
}

/** The q-quantile (0 < q ≤ 1) of a histogram, or null when it holds no samples. */
export function histogramQuantile(hist: Histogram | null | undefined, q: number): number | null {
  if (!hist) return null;
  const counts = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  let total = 0;
  for (const [key, value] of Object.entries(hist)) {
    const k = Number(key);
    const n = Number(value);
    if (!Number.isInteger(k) || k < 0 || k >= HISTOGRAM_BUCKETS || !(n > 0)) continue;
    counts[k] += n;
    total += n;
  }
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
    if (counts[k] === 0) continue;
    if (below + counts[k] >= rank) {
      const [lo, hi] = bounds(k);
      return lo + ((rank - below) / counts[k]) * (hi - lo);
    }
    below += counts[k];
  }
  return bounds(HISTOGRAM_BUCKETS - 1)[1];
}
