import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryError, validateQuery } from './structured-query';

const base = { dataType: 'application', from: 0, to: 3_600_000, metrics: [{ metric: 'request' }] };

function rejects(q: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => validateQuery({ ...base, ...q }, 3_600_000), (e: unknown) => e instanceof QueryError && message.test(e.message));
}

test('unknown names are refused with the list of known ones', () => {
  rejects({ dataType: 'nope' }, /dataType must be one of application, application_map, network/);
  rejects({ metrics: [{ metric: 'bytes' }] }, /application has no metric "bytes" \(metrics: request, response/);
  rejects({ metrics: [{ metric: 'rrt', aggregation: 'sum' }] }, /rrt takes avg, max, p50, p90, p95, p99, not "sum"/);
  rejects({ groupBy: ['nope'] }, /groupBy\[0\]: application has no tag "nope"/);
  rejects({ filters: [{ tag: 'service', op: '~', value: 'x' }] }, /op must be one of =, !=, in/);
});

test('values and shapes are checked', () => {
  rejects({ filters: [{ tag: 'server_port', op: '=', value: '80 OR 1=1' }] }, /server_port is a number/);
  rejects({ filters: [{ tag: 'service', op: 'in', value: undefined }] }, /values \(a list\) is required for in/);
  rejects({ filters: [{ tag: 'service', op: '=', value: { a: 1 } }] }, /values must be strings or numbers/);
  rejects({ from: 'yesterday' }, /from must be a time/);
  rejects({ from: 10, to: 5 }, /to must not be before from/);
  rejects({ limit: 0 }, /limit must be an integer from 1 to 100000/);
  rejects({ step: -1 }, /step must be a positive number/);
  rejects({ metrics: [] }, /at least one metric is required/);
  rejects({ metrics: [{ metric: 'request', alias: 'a`b' }] }, /alias "a`b" must start with a letter/);
  rejects({ metrics: [{ metric: 'request' }, { metric: 'request', aggregation: 'sum' }] }, /alias request is used twice/);
  rejects({ format: 'logs' }, /format logs is for the request and flow logs/);
  rejects({ tapSide: 's' }, /tapSide must be a list/);
});

test('ordering needs a known, computable key', () => {
  rejects({ orderBy: [{ by: 'nope' }] }, /neither time, a metric alias of this query nor a tag/);
  rejects({ format: 'table', orderBy: [{ by: 'endpoint' }] }, /endpoint must be grouped by/);
});

test('percentiles are computed in SQL, so they can be ordered by', () => {
  const v = validateQuery({ ...base, format: 'table', groupBy: ['service'], metrics: [{ metric: 'rrt', aggregation: 'p99' }], orderBy: [{ by: 'rrt_p99', desc: true }] }, 3_600_000);
  assert.deepEqual(v.orderBy, [{ by: 'rrt_p99', desc: true }]);
});

test('defaults: aggregation, alias, format and ISO times', () => {
  const v = validateQuery({ dataType: 'network', from: '1970-01-01T00:00:00Z', to: 60_000, metrics: [{ metric: 'rtt' }, { metric: 'byte', aggregation: 'rate' }] }, 60_000);
  assert.deepEqual(
    v.metrics.map((m) => [m.alias, m.aggregation]),
    [
      ['rtt', 'avg'],
      ['byte_rate', 'rate'],
    ],
  );
  assert.equal(v.format, 'time_series');
  const logs = validateQuery({ dataType: 'l4_flow_log', from: 0, to: 1 });
  assert.equal(logs.format, 'logs');
  assert.ok(logs.columns.some((c) => c.name === 'close_type'));
});
