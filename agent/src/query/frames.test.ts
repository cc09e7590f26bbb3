import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledQuery } from './compile-query';
import { toFrames } from './frames';

const compiled = (c: Partial<CompiledQuery>): CompiledQuery => ({ sql: 'SQL', params: {}, columns: [], format: 'time_series', bucketSeconds: 60, limit: 100, ...c });

test('time series: one frame per group with labels and units', () => {
  const frames = toFrames(
    compiled({
      columns: [
        { name: 'time', role: 'time' },
        { name: 'service', role: 'tag', type: 'LowCardinality(String)' },
        { name: 'request', role: 'metric', unit: 'short' },
        { name: 'rrt_p50', role: 'metric', unit: 'µs' },
      ],
    }),
    [
      {
        service: 'a',
        __points: [
          [60, '3', 6],
          [120, '5', 12],
        ],
      },
      { service: 'b', __points: [[60, '1', null]] },
    ],
  );
  assert.equal(frames.length, 2);
  assert.equal(frames[0].name, 'a');
  assert.deepEqual(frames[0].fields[0], { name: 'time', type: 'time', values: [60_000, 120_000] });
  assert.deepEqual(frames[0].fields[1], { name: 'request', type: 'number', values: [3, 5], labels: { service: 'a' }, config: { unit: 'short' } });
  assert.deepEqual(frames[0].fields[2].values, [6, 12]);
  assert.deepEqual(frames[1].fields[2].values, [null]);
  assert.equal(frames[0].meta?.executedQueryString, 'SQL');
});

test('an empty time series is one empty frame, so panels show "no data" rather than fail', () => {
  const frames = toFrames(compiled({ columns: [{ name: 'time', role: 'time' }, { name: 'request', role: 'metric' }] }), []);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].fields[1].values, []);
});

test('request log rows: time in ms, level from the status, a readable body, numbers as numbers', () => {
  const [frame] = toFrames(
    compiled({
      format: 'logs',
      columns: [
        { name: 'start_time', role: 'time', type: 'DateTime64(6)' },
        { name: 'l7_protocol', role: 'tag', type: 'LowCardinality(String)' },
        { name: 'request_type', role: 'tag', type: 'LowCardinality(String)' },
        { name: 'request_resource', role: 'tag', type: 'String' },
        { name: 'response_status', role: 'tag', type: 'LowCardinality(String)' },
        { name: 'response_code', role: 'tag', type: 'Int32' },
        { name: 'response_duration', role: 'tag', type: 'UInt64' },
      ],
    }),
    [{ start_time: '1700000000123456', l7_protocol: 'http1', request_type: 'GET', request_resource: '/x', response_status: 'server_error', response_code: 503, response_duration: '42' }],
  );
  assert.equal(frame.meta?.preferredVisualisationType, 'logs');
  const field = (n: string): unknown[] => frame.fields.find((f) => f.name === n)?.values ?? [];
  assert.deepEqual(field('time'), [1700000000123.456]);
  assert.deepEqual(field('level'), ['error']);
  assert.deepEqual(field('body'), ['http1 GET /x → server_error 503 42 µs']);
  assert.deepEqual(field('response_duration'), [42]);
});

test('one row more than the limit means a cut result: it is dropped and a notice says so', () => {
  const c = compiled({ format: 'table', limit: 2, columns: [{ name: 'request', role: 'metric' }] });
  const [frame] = toFrames(c, [{ request: 1 }, { request: 2 }, { request: 3 }]);
  assert.deepEqual(frame.fields[0].values, [1, 2]);
  assert.match(frame.meta?.notices?.[0].text ?? '', /only the first 2 rows/);
  assert.equal(toFrames(c, [{ request: 1 }])[0].meta?.notices, undefined);
});
