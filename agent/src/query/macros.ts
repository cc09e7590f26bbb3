/**
 * SQL mode's macros, expanded before the statement is checked and run. Times are the query's
 * range in whole seconds, written as literals: they come from the API, never from user text.
 *
 * - `$__timeFilter(col)` → `col >= toDateTime(from) AND col <= toDateTime(to)`
 * - `$__fromTime`, `$__toTime` → `toDateTime(from)`, `toDateTime(to)`
 * - `$__interval_s` → the bucket in seconds; `$__interval` → `INTERVAL n SECOND`
 * - `$__timeInterval(col)` → `toStartOfInterval(col, INTERVAL n SECOND)`
 */
import { QueryError } from './structured-query';

export interface MacroContext {
  fromSec: number;
  toSec: number;
  intervalSec: number;
}

const MACRO_WITH_ARGUMENT = /\$__(timeFilter|timeInterval)\s*\(([^()]*)\)/g;

export function expandMacros(sql: string, ctx: MacroContext): string {
  const from = `toDateTime(${Math.floor(ctx.fromSec)})`;
  const to = `toDateTime(${Math.ceil(ctx.toSec)})`;
  const interval = Math.max(1, Math.round(ctx.intervalSec));
  let out = sql.replace(MACRO_WITH_ARGUMENT, (_m, name: string, arg: string) => {
    const column = arg.trim();
    if (column === '') throw new QueryError(`$__${name}() needs a column`);
    return name === 'timeFilter' ? `${column} >= ${from} AND ${column} <= ${to}` : `toStartOfInterval(${column}, INTERVAL ${interval} SECOND)`;
  });
  out = out
    .replace(/\$__fromTime\b/g, from)
    .replace(/\$__toTime\b/g, to)
    .replace(/\$__interval_s\b/g, String(interval))
    .replace(/\$__interval\b/g, `INTERVAL ${interval} SECOND`);
  const unknown = /\$__[A-Za-z_]+/.exec(out);
  if (unknown) throw new QueryError(`unknown macro ${unknown[0]} (macros: $__timeFilter(col), $__timeInterval(col), $__fromTime, $__toTime, $__interval, $__interval_s)`);
  return out;
}
