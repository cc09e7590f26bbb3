import { tableFromIPC } from 'apache-arrow';
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { frameToArrow } from './arrow-frames';

test('a frame becomes an Arrow IPC file with Grafana\'s schema and field metadata', () => {
  const bytes = frameToArrow(
    {
      name: 'nginx',
      meta: { executedQueryString: 'SELECT 1' },
      fields: [
        { name: 'time', type: 'time', values: [1_795_744_260_000, 1_795_744_320_000.5] },
        { name: 'request', type: 'number', values: [3, null], labels: { service: 'nginx' }, config: { unit: 'short' } },
        { name: 'endpoint', type: 'string', values: ['/a', null] },
        { name: 'ok', type: 'boolean', values: [true, false] },
        { name: 'hist', type: 'other', values: [{ a: 1 }, null] },
      ],
    },
    { refId: 'A', displayName: (labels, name) => `${name} of ${labels?.service}` },
  );
  assert.equal(Buffer.from(bytes.subarray(0, 6)).toString(), 'ARROW1', 'the file format, as Grafana reads it, not the stream format');
  const table = tableFromIPC(bytes);
  assert.deepEqual(Object.fromEntries(table.schema.metadata), { name: 'nginx', refId: 'A', meta: '{"executedQueryString":"SELECT 1"}' });
  assert.deepEqual(table.schema.fields.map((f) => String(f.type)), ['Timestamp<NANOSECOND>', 'Float64', 'Utf8', 'Bool', 'Binary']);
  // Exact nanoseconds, sub-millisecond part included (no float multiplication error).
  assert.deepEqual([...table.getChild('time')!.toArray()], [1_795_744_260_000_000_000n, 1_795_744_320_000_500_000n]);
  const request = table.schema.fields[1];
  assert.deepEqual(Object.fromEntries(request.metadata), { name: 'request', labels: '{"service":"nginx"}', config: '{"unit":"short","displayNameFromDS":"request of nginx"}' });
  assert.equal(table.getChild('request')!.get(1), null);
  assert.equal(table.getChild('endpoint')!.get(1), null);
  assert.equal(new TextDecoder().decode(table.getChild('hist')!.get(0) as Uint8Array), '{"a":1}');
});

test('fields of different lengths are refused', () => {
  assert.throws(() => frameToArrow({ fields: [{ name: 'a', type: 'number', values: [1] }, { name: 'b', type: 'number', values: [] }] }, { refId: 'A' }), /has 0 values/);
});
