/**
 * The request builder's context for a query Grafana's server runs: no dashboard, no TemplateSrv.
 * Variables come from Grafana's globals (time range, interval) and from the values the query
 * recorded (MetaFlowQuery.variables); a variable neither provides is an error naming it, never a
 * filter silently matching nothing or everything.
 */
import type { BuildContext } from '../../src/datasource/request-builder';
import { expandValues, listFormat, replaceVariables, VariableValues, variableNames } from '../../src/datasource/template-values';
import type { MetaFlowQuery } from '../../src/datasource/types';
import type { DataQuery } from './protocol/services';

export class UnresolvedVariableError extends Error {}

/** Grafana's interval text: 1s, 10s, 1m, 5m, 1h… (what `$__interval` reads on a dashboard). */
export function intervalText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Grafana's global variables for this query. SQL mode leaves the interval ones to the agent's
 * macros, where `$__interval` means seconds (as the frontend does).
 */
export function globalVariables(from: number, to: number, intervalMs: number, forSql: boolean): VariableValues {
  const globals: VariableValues = {
    __from: String(from),
    __to: String(to),
    __range_ms: String(to - from),
    __range_s: String(Math.round((to - from) / 1000)),
  };
  if (!forSql) {
    globals.__interval = intervalText(intervalMs);
    globals.__interval_ms = String(intervalMs);
  }
  return globals;
}

function checkResolved(text: string): string {
  const left = variableNames(text).filter((name) => !name.startsWith('__'));
  if (left.length) {
    const list = left.map((n) => `$${n}`).join(', ');
    throw new UnresolvedVariableError(
      `the query uses ${list}, which has no value outside a dashboard: create the alert rule from the panel (Grafana writes the dashboard's values in), or give the query "variables": {"${left[0]}": [...]}`,
    );
  }
  return text;
}

export interface QueryTimes {
  from: number;
  to: number;
  intervalMs: number;
}

/** Time range and interval of a query as Grafana sent it, with sane fallbacks for hand-made requests. */
export function queryTimes(query: DataQuery, now = Date.now()): QueryTimes {
  const to = Number(query.timeRange?.toEpochMS) || now;
  const from = Number(query.timeRange?.fromEpochMS) || to - 3_600_000;
  if (from > to) throw new UnresolvedVariableError(`the time range is empty: from ${from} is after to ${to}`);
  const intervalMs = Number(query.intervalMS) > 0 ? Number(query.intervalMS) : Math.max(1000, Math.round((to - from) / Math.max(1, Number(query.maxDataPoints) || 1000)));
  return { from, to, intervalMs };
}

export function buildContext(model: MetaFlowQuery, times: QueryTimes, defaultTapSide: string[], forSql: boolean): BuildContext {
  const values: VariableValues = { ...(model.variables ?? {}), ...globalVariables(times.from, times.to, times.intervalMs, forSql) };
  return {
    from: times.from,
    to: times.to,
    intervalMs: times.intervalMs,
    replace: (text) => checkResolved(replaceVariables(text, values)),
    expand: (text) => expandValues(checkResolved(replaceVariables(text, values, listFormat))),
    defaultTapSide,
  };
}
