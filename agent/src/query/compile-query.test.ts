import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileQuery, runnableSql } from './compile-query';
import { StructuredQuery, validateQuery } from './structured-query';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 27, 12);

function compile(q: Partial<StructuredQuery>): ReturnType<typeof compileQuery> {
  return compileQuery(validateQuery({ dataType: 'application', from: NOW - 6 * HOUR, to: NOW, metrics: [{ metric: 'request' }], ...q }, NOW));
}

test('a counter sums per bucket; the time range and bucket come from the query', () => {
  const c = compile({ step: 300 });
  assert.match(c.sql, /^SELECT arraySort\(groupArray\(\(`__time`, `__m0`\)\)\) AS `__points`\nFROM \(\nSELECT /, 'a row per series, its points sorted by time');
  assert.match(c.pointsSql ?? '', /^SELECT toUnixTimestamp\(toStartOfInterval\(`time`, INTERVAL 300 SECOND\)\) AS `__time`, sum\(`request`\) AS `__m0`/);
  assert.match(c.sql, /FROM flow_metrics\.application_1m\n/);
  assert.match(c.pointsSql ?? '', /GROUP BY `__time`\nORDER BY `__time`\nLIMIT 100001$/, 'time series: the maximum, plus one row that tells a cut result');
  assert.deepEqual(c.params, { from: (NOW - 6 * HOUR) / 1000, to: NOW / 1000 });
  assert.ok(c.sql.includes('`time` < toDateTime({to:UInt32})'), 'the range is half-open');
});

test('a rate divides by the bucket; avg is the mean per stored interval over the bucket', () => {
  const c = compile({ step: 300, metrics: [{ metric: 'request', aggregation: 'rate' }, { metric: 'request', aggregation: 'avg' }] });
  assert.match(c.sql, /sum\(`request`\) \/ 300 AS `__m0`/);
  assert.match(c.sql, /sum\(`request`\) \/ 5 AS `__m1`/);
  assert.equal(c.columns.find((x) => x.name === 'request_rate')?.unit, 'reqps');
});

test('min and max of a counter take per-interval sums first (two levels)', () => {
  const c = compile({ step: 300, metrics: [{ metric: 'request', aggregation: 'max' }, { metric: 'error_ratio' }] });
  assert.match(c.sql, /FROM \(\n {2}SELECT toUnixTimestamp\(toStartOfInterval\(`time`, INTERVAL 300 SECOND\)\) AS `__time`, `time` AS `__interval`, sum\(`request`\) AS `__p0_0`/);
  assert.match(c.sql, /GROUP BY `__time`, `__interval`\n\)/);
  assert.match(c.sql, /max\(`__p0_0`\) AS `__m0`/);
  assert.match(c.sql, /sum\(`__p1_0`\) \/ nullIf\(sum\(`__p1_1`\), 0\) AS `__m1`/);
});

test('delays average their sums over counts; percentiles return the merged histogram', () => {
  const c = compile({ metrics: [{ metric: 'rrt' }, { metric: 'rrt', aggregation: 'max' }, { metric: 'rrt', aggregation: 'p95' }] });
  assert.match(c.sql, /sum\(`rrt_sum`\) \/ nullIf\(sum\(`rrt_count`\), 0\) AS `__m0`/);
  assert.match(c.sql, /max\(`rrt_max`\) AS `__m1`/);
  assert.match(c.sql, /arrayFirstIndex\(x -> x >= 0\.95 \* arraySum\(mapValues\(sumMap\(`rrt_hist`\)\)\)/);
  assert.match(c.sql, /\) AS `__m2`/);
});

test('network pairs and ratios add both directions', () => {
  const c = compile({ dataType: 'network_map', metrics: [{ metric: 'byte', aggregation: 'rate' }, { metric: 'retrans_ratio' }] });
  assert.match(c.sql, /sum\(`byte_tx` \+ `byte_rx`\) \/ \d+ AS `__m0`/);
  assert.match(c.sql, /sum\(`retrans_tx` \+ `retrans_rx`\) \/ nullIf\(sum\(`packet_tx` \+ `packet_rx`\), 0\) AS `__m1`/);
  assert.equal(c.columns.find((x) => x.name === 'byte_rate')?.unit, 'Bps');
});

test('every filter operator becomes a typed parameter, never text in the SQL', () => {
  const evil = "x' OR 1=1 --";
  const c = compile({
    filters: [
      { tag: 'service', op: '=', value: evil },
      { tag: 'endpoint', op: '!=', value: '/a' },
      { tag: 'server_port', op: 'in', values: [80, '443'] },
      { tag: 'l7_protocol', op: 'not in', values: ['dns'] },
      { tag: 'endpoint', op: 'like', value: '/api/%' },
      { tag: 'endpoint', op: 'not like', value: '%health%' },
      { tag: 'service', op: 'regex', value: '^10\\.' },
      { tag: 'server_port', op: 'not regex', value: '^9' },
    ],
    tapSide: ['s', 'c'],
  });
  assert.ok(!c.sql.includes(evil));
  for (const fragment of [
    '`service` = {f0:String}',
    '`endpoint` != {f1:String}',
    '`server_port` IN {f2:Array(UInt16)}',
    '`l7_protocol` NOT IN {f3:Array(String)}',
    '`endpoint` LIKE {f4:String}',
    '`endpoint` NOT LIKE {f5:String}',
    'match(`service`, {f6:String})',
    'NOT match(toString(`server_port`), {f7:String})',
    '`tap_side` IN {tapSide:Array(String)}',
  ]) {
    assert.ok(c.sql.includes(fragment), fragment);
  }
  assert.equal(c.params.f0, evil);
  assert.deepEqual(c.params.f2, [80, 443]);
  assert.deepEqual(c.params.tapSide, ['s', 'c']);
});

test('group by and observation_point as an alias of tap_side', () => {
  const c = compile({ groupBy: ['service', 'observation_point'] });
  assert.match(c.sql, /AS `__time`, `service`, `tap_side`, sum/);
  assert.match(c.sql, /GROUP BY `__time`, `service`, `tap_side`/);
  assert.deepEqual(
    c.columns.map((x) => x.role),
    ['time', 'tag', 'tag', 'metric'],
  );
});

test('a table has no time column and orders by the first metric unless told', () => {
  const t = compile({ format: 'table', groupBy: ['endpoint'], limit: 10 });
  assert.ok(!t.sql.includes('__time'));
  assert.match(t.sql, /ORDER BY `__m0` DESC\nLIMIT 11$/);
  const u = compile({ format: 'table', groupBy: ['endpoint'], orderBy: [{ by: 'endpoint' }] });
  assert.match(u.sql, /ORDER BY `endpoint`\n/);
});

test('request log rows: chosen columns, times as epoch micros, newest first', () => {
  const c = compileQuery(validateQuery({ dataType: 'l7_flow_log', from: NOW - HOUR, to: NOW, columns: ['start_time', 'endpoint', 'response_code'], limit: 50 }, NOW));
  assert.equal(c.format, 'logs');
  assert.match(c.sql, /^SELECT toUnixTimestamp64Micro\(`start_time`\) AS `start_time`, `endpoint`, `response_code`\nFROM flow_log\.l7_flow_log\n/);
  assert.match(c.sql, /ORDER BY `time` DESC, `start_time` DESC\nLIMIT 51$/);
});

test('request log aggregates: counts with conditions and exact quantiles', () => {
  const c = compileQuery(
    validateQuery(
      {
        dataType: 'l7_flow_log',
        from: NOW - HOUR,
        to: NOW,
        format: 'table',
        groupBy: ['endpoint'],
        metrics: [{ metric: 'error_count' }, { metric: 'response_duration', aggregation: 'p99' }, { metric: 'log_count', aggregation: 'rate' }],
      },
      NOW,
    ),
  );
  assert.match(c.sql, /countIf\(response_status IN \('client_error', 'server_error'\)\) AS `__m0`/);
  assert.match(c.sql, /quantileIf\(0\.99\)\(`response_duration`, type = 'session'\) AS `__m1`/);
  assert.match(c.sql, /count\(\) \/ \d+ AS `__m2`/);
});

test('auto interval: 1s for the last hour, 1m for longer or older ranges', () => {
  assert.match(compile({ from: NOW - HOUR, to: NOW }).sql, /application_1s/);
  assert.match(compile({ from: NOW - 2 * HOUR, to: NOW }).sql, /application_1m/);
  assert.match(compile({ from: NOW - 30 * HOUR, to: NOW - 29.5 * HOUR }).sql, /application_1m/);
  assert.match(compile({ from: NOW - HOUR, to: NOW, interval: '1m' }).sql, /application_1m/);
});

test('a step is rounded up to the stored resolution', () => {
  assert.equal(compile({ step: 15 }).bucketSeconds, 60);
  assert.equal(compile({ step: 61 }).bucketSeconds, 120);
  assert.equal(compile({ from: NOW - HOUR, to: NOW, step: 2.5 }).bucketSeconds, 3);
  assert.equal(compile({}).bucketSeconds, 60, '6 hours in at most 1000 points of the 1m table');
});

test('the runnable form puts the range as macros and the other parameters as literals', () => {
  const c = compile({ filters: [{ tag: 'service', op: 'in', values: ["it's", 'b\\c'] }, { tag: 'server_port', op: '=', value: 80 }], tapSide: ['s'] });
  const sql = runnableSql(c);
  assert.match(sql, /`time` >= \$__fromTime AND `time` < \$__toTime/);
  assert.ok(sql.includes("`service` IN ['it\\'s', 'b\\\\c']"), sql);
  assert.ok(sql.includes('`server_port` = 80'));
  assert.ok(sql.includes("`tap_side` IN ['s']"));
  assert.ok(!/\{\w+:/.test(sql));
});

test("a table's rates and averages are per second of the whole range", () => {
  const c = compile({ format: 'table', groupBy: ['endpoint'], metrics: [{ metric: 'request', aggregation: 'rate' }, { metric: 'request', aggregation: 'avg' }] });
  assert.match(c.sql, /sum\(`request`\) \/ 21600 AS `__m0`/);
  assert.match(c.sql, /sum\(`request`\) \/ 360 AS `__m1`/);
});
