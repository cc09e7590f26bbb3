import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonRowBuffer } from './json-row-buffer';

test('rows written piece by piece parse back to the same values', () => {
  const b = new JsonRowBuffer(8); // tiny, so every append grows it
  const numbers = [0, 7, 9, 10, 99, 100, 12345, 4294967295, 1_700_000_000_123_456, 2 ** 53 - 1];
  for (const n of numbers) b.ascii('{"n":').int(n).ascii(',"s":').string('é"\\\n\t✓').endRow();
  b.ascii('{"neg":').int(-5).ascii(',"frac":').int(2.6).endRow();
  const rows = b.parse<{ n: number; s: string; neg: number; frac: number }>();
  assert.deepEqual(
    rows.slice(0, -1).map((r) => r.n),
    numbers,
  );
  assert.ok(rows.slice(0, -1).every((r) => r.s === 'é"\\\n\t✓'));
  assert.deepEqual(rows.at(-1), { neg: 0, frac: 3 });
  assert.equal(b.rows, numbers.length + 1);
});
