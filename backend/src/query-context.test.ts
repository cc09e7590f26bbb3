import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DEFAULT_QUERY, MetaFlowQuery } from '../../src/datasource/types';
import { buildStructuredRequest, buildSqlRequest } from '../../src/datasource/request-builder';
import { buildContext, globalVariables, intervalText, queryTimes, UnresolvedVariableError } from './query-context';

const times = { from: 1_000_000, to: 4_600_000, intervalMs: 60_000 };
const model = (q: Partial<MetaFlowQuery>): MetaFlowQuery => ({ ...DEFAULT_QUERY, refId: 'A', ...q });

test('recorded multi-value variables become several filter values, as on the dashboard', () => {
  const q = model({ filters: [{ tag: 'service', op: '=', values: ['$service'] }], groupBy: ['${by}'], variables: { service: ['a', '[::1]:80'], by: 'endpoint' } });
  const request = buildStructuredRequest(q, buildContext(q, times, [], false));
  assert.deepEqual(request.filters, [{ tag: 'service', op: 'in', values: ['a', '[::1]:80'] }]);
  assert.deepEqual(request.groupBy, ['endpoint']);
  assert.equal(request.step, 60);
});

test('a variable without a value is an error naming it, not a filter on "$name"', () => {
  const q = model({ filters: [{ tag: 'service', op: '=', values: ['$service'] }] });
  assert.throws(() => buildStructuredRequest(q, buildContext(q, times, [], false)), (e: Error) => e instanceof UnresolvedVariableError && /\$service/.test(e.message));
});

test('SQL keeps the agent\'s macros and $__interval for the agent, resolves Grafana\'s range globals', () => {
  const q = model({ mode: 'sql', sql: 'SELECT $__timeInterval(time), $__interval_s, ${__from}, $__range_s FROM t WHERE $__timeFilter(time) AND x = [[v:singlequote]]', variables: { v: ['a', 'b'] } });
  const request = buildSqlRequest(q, buildContext(q, times, [], true));
  assert.equal(request.sql, "SELECT $__timeInterval(time), $__interval_s, 1000000, 3600 FROM t WHERE $__timeFilter(time) AND x = 'a','b'");
  assert.equal(request.intervalSeconds, 60);
});

test('Grafana globals and interval text', () => {
  assert.deepEqual(globalVariables(0, 3_600_000, 15_000, false), { __from: '0', __to: '3600000', __range_ms: '3600000', __range_s: '3600', __interval: '15s', __interval_ms: '15000' });
  assert.equal(intervalText(60_000), '1m');
  assert.equal(intervalText(7_200_000), '2h');
  assert.equal(intervalText(1500), '1500ms');
});

test('query times: Grafana\'s range and interval, fallbacks for hand-made requests, empty ranges refused', () => {
  assert.deepEqual(queryTimes({ refId: 'A', maxDataPoints: 100, intervalMS: 0, timeRange: { fromEpochMS: 0, toEpochMS: 3_600_000 }, json: Buffer.alloc(0), queryType: '' }, 5), { from: 0, to: 3_600_000, intervalMs: 36_000 });
  assert.deepEqual(queryTimes({ refId: 'A', maxDataPoints: 0, intervalMS: 0, timeRange: null, json: Buffer.alloc(0), queryType: '' }, 7_200_000), { from: 3_600_000, to: 7_200_000, intervalMs: 3600 });
  assert.throws(() => queryTimes({ refId: 'A', maxDataPoints: 0, intervalMS: 1000, timeRange: { fromEpochMS: 10, toEpochMS: 5 }, json: Buffer.alloc(0), queryType: '' }), /empty/);
});
