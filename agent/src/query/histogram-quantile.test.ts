import assert from 'node:assert/strict';
import { test } from 'node:test';
import { histogramBucket } from '../aggregate/network-metrics';
import { histogramQuantile } from './histogram-quantile';

test('a quantile falls inside the bucket of the true value', () => {
  const samples = Array.from({ length: 1000 }, (_, i) => 10 + i * 7);
  const hist: Record<string, number> = {};
  for (const s of samples) hist[histogramBucket(s)] = (hist[histogramBucket(s)] ?? 0) + 1;
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = samples[Math.ceil(q * samples.length) - 1];
    const estimate = histogramQuantile(hist, q) as number;
    assert.equal(histogramBucket(estimate), histogramBucket(exact), `q=${q}: ${estimate} vs ${exact}`);
  }
});

test('empty or missing histograms have no quantile; string counts (UInt64 JSON) are read', () => {
  assert.equal(histogramQuantile(null, 0.5), null);
  assert.equal(histogramQuantile({}, 0.5), null);
  assert.equal(histogramQuantile({ '3': '4' }, 0.5), 6, 'bucket 3 is [4, 8): the median of 4 samples is its middle');
});
