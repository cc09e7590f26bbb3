import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandMacros } from './macros';
import { QueryError } from './structured-query';

const ctx = { fromSec: 1000, toSec: 2000.5, intervalSec: 60 };

test('time filter, range, interval and time bucket macros', () => {
  assert.equal(
    expandMacros('SELECT $__timeInterval(time) AS t FROM x WHERE $__timeFilter( time ) AND y > $__fromTime AND y < $__toTime GROUP BY t WITH FILL STEP $__interval_s', ctx),
    'SELECT toStartOfInterval(time, INTERVAL 60 SECOND) AS t FROM x WHERE time >= toDateTime(1000) AND time <= toDateTime(2001) AND y > toDateTime(1000) AND y < toDateTime(2001) GROUP BY t WITH FILL STEP 60',
  );
  assert.equal(expandMacros('toStartOfInterval(time, $__interval)', ctx), 'toStartOfInterval(time, INTERVAL 60 SECOND)');
});

test('unknown or empty macros are refused', () => {
  assert.throws(() => expandMacros('SELECT $__nope', ctx), (e: unknown) => e instanceof QueryError && /unknown macro \$__nope/.test(e.message));
  assert.throws(() => expandMacros('WHERE $__timeFilter()', ctx), (e: unknown) => e instanceof QueryError && /needs a column/.test(e.message));
});
