/**
 * Structured query → ClickHouse SQL, as a pure function. Names come from the catalog (validated
 * before), values travel as typed `{name:Type}` parameters, and every metric is computed from
 * the stored sums, counts, maxima and histograms at query time (SPEC §2: no stored averages).
 */
import { sqlString } from '../util/sql-string';
import { PERCENTILES } from './catalog';
import { isNumericType, ValidQuery } from './structured-query';

export interface OutputColumn {
  name: string;
  /**
   * The column's name in the SQL result when it differs from `name`: metrics get neutral aliases,
   * since ClickHouse would otherwise read an alias like `error` inside `sum(error)` elsewhere.
   */
  key?: string;
  role: 'time' | 'tag' | 'metric';
  /** Grafana unit of a metric. */
  unit?: string;
  /** ClickHouse type of a tag or log column. */
  type?: string;
}

export interface CompiledQuery {
  sql: string;
  params: Record<string, unknown>;
  columns: OutputColumn[];
  format: ValidQuery['format'];
  bucketSeconds: number;
  /** Rows asked for; the SQL fetches one more to tell a cut result. */
  limit: number;
  /** Time series: the per-point query that `sql` folds into one row per series. */
  pointsSql?: string;
}

/** A per-row aggregate and how partial results of it combine in an outer query. */
interface Partial {
  expr: string;
  merge: 'sum' | 'max' | 'min' | 'sumMap';
}

interface MetricPlan {
  partials: Partial[];
  /** The metric from references to its partials. */
  final: (ref: (i: number) => string) => string;
  /** Needs per-interval sums first (min/max of a counter over the intervals of a bucket). */
  twoLevel: boolean;
}

const ident = (name: string): string => '`' + name + '`';

/**
 * The q-quantile of a merged log2 histogram (Map(UInt8, UInt64), bucket k = [2^(k-1), 2^k) µs,
 * bucket 0 below 1 µs), in SQL: the bucket where the cumulative count reaches the rank, linearly
 * interpolated inside it; NULL without samples. Computed by ClickHouse so percentiles can be
 * sorted on and only a number per row travels (the histogram-quantile module is its JS twin).
 * ClickHouse computes the repeated `h` once: identical aggregates are shared.
 */
export function histogramQuantileSql(h: string, q: number): string {
  const values = `mapValues(${h})`;
  const total = `arraySum(${values})`;
  const cum = `arrayCumSum(${values})`;
  const index = `arrayFirstIndex(x -> x >= ${q} * ${total}, ${cum})`;
  const k = `toInt32(mapKeys(${h})[${index}])`;
  const n = `${values}[${index}]`;
  const lo = `if(${k} = 0, 0, exp2(${k} - 1))`;
  const hi = `if(${k} = 0, 1, exp2(${k}))`;
  return `if(${total} = 0, NULL, ${lo} + ((${q} * ${total} - (${cum}[${index}] - ${n})) / ${n}) * (${hi} - ${lo}))`;
}
const metricKey = (i: number): string => `__m${i}`;

function paramType(type: string): string {
  if (isNumericType(type)) return type;
  return 'String';
}

/** The column as the parameter compares it: numbers as numbers, anything else as text. */
function filterColumn(name: string, type: string, textual: boolean): string {
  if (isNumericType(type) && !textual) return ident(name);
  if (type === 'String' || type === 'LowCardinality(String)') return ident(name);
  return `toString(${ident(name)})`;
}

function plan(m: ValidQuery['metrics'][number], bucket: number, native: number): MetricPlan {
  const how = m.spec.how;
  const agg = m.aggregation;
  switch (how.kind) {
    case 'counter': {
      const sum = `sum(${how.columns.map(ident).join(' + ')})`;
      if (agg === 'min' || agg === 'max') return { partials: [{ expr: sum, merge: agg }], final: (r) => r(0), twoLevel: true };
      const partials: Partial[] = [{ expr: sum, merge: 'sum' }];
      if (agg === 'rate') return { partials, final: (r) => `${r(0)} / ${bucket}`, twoLevel: false };
      // The mean per stored interval over the whole bucket, intervals without rows counting as 0.
      if (agg === 'avg') return { partials, final: (r) => `${r(0)} / ${bucket / native}`, twoLevel: false };
      return { partials, final: (r) => r(0), twoLevel: false };
    }
    case 'delay': {
      const b = how.base;
      if (agg === 'avg') {
        return {
          partials: [
            { expr: `sum(${ident(b + '_sum')})`, merge: 'sum' },
            { expr: `sum(${ident(b + '_count')})`, merge: 'sum' },
          ],
          final: (r) => `${r(0)} / nullIf(${r(1)}, 0)`,
          twoLevel: false,
        };
      }
      if (agg === 'max') return { partials: [{ expr: `max(${ident(b + '_max')})`, merge: 'max' }], final: (r) => r(0), twoLevel: false };
      const q = PERCENTILES[agg] as number;
      return { partials: [{ expr: `sumMap(${ident(b + '_hist')})`, merge: 'sumMap' }], final: (r) => histogramQuantileSql(r(0), q), twoLevel: false };
    }
    case 'ratio':
      return {
        partials: [
          { expr: `sum(${how.numerator.map(ident).join(' + ')})`, merge: 'sum' },
          { expr: `sum(${how.denominator.map(ident).join(' + ')})`, merge: 'sum' },
        ],
        final: (r) => `${r(0)} / nullIf(${r(1)}, 0)`,
        twoLevel: false,
      };
    case 'log': {
      const cond = how.condition;
      let expr: string;
      if (agg === 'count' || agg === 'rate') {
        const n = cond ? `countIf(${cond})` : 'count()';
        expr = agg === 'rate' ? `${n} / ${bucket}` : n;
      } else {
        const col = ident(how.column as string);
        const q = PERCENTILES[agg];
        const fn = q !== undefined ? `quantile${cond ? 'If' : ''}(${q})` : `${agg}${cond ? 'If' : ''}`;
        expr = `${fn}(${col}${cond ? `, ${cond}` : ''})`;
      }
      return { partials: [{ expr, merge: 'sum' }], final: (r) => r(0), twoLevel: false };
    }
  }
}

/** WHERE conditions and their parameters (time range, tap sides, tag filters). */
export function conditions(q: ValidQuery): { where: string[]; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { from: q.fromSec, to: q.toSec };
  // Half-open: a row stamped at `to` covers the interval after it.
  const where = ['`time` >= toDateTime({from:UInt32})', '`time` < toDateTime({to:UInt32})'];
  if (q.tapSide.length > 0) {
    where.push('`tap_side` IN {tapSide:Array(String)}');
    params.tapSide = q.tapSide;
  }
  q.filters.forEach((f, i) => {
    const name = `f${i}`;
    const textual = f.op === 'like' || f.op === 'not like' || f.op === 'regex' || f.op === 'not regex';
    const col = filterColumn(f.tag.name, f.tag.type, textual);
    const type = textual ? 'String' : paramType(f.tag.type);
    const value = (v: string | number): string | number => (type === 'String' ? String(v) : Number(v));
    switch (f.op) {
      case 'in':
      case 'not in':
        where.push(`${col} ${f.op === 'in' ? 'IN' : 'NOT IN'} {${name}:Array(${type})}`);
        params[name] = f.values.map(value);
        break;
      case 'like':
      case 'not like':
        where.push(`${col} ${f.op === 'like' ? 'LIKE' : 'NOT LIKE'} {${name}:String}`);
        params[name] = String(f.values[0]);
        break;
      case 'regex':
      case 'not regex':
        where.push(`${f.op === 'regex' ? '' : 'NOT '}match(${col}, {${name}:String})`);
        params[name] = String(f.values[0]);
        break;
      default:
        where.push(`${col} ${f.op} {${name}:${type}}`);
        params[name] = value(f.values[0]);
    }
  });
  return { where, params };
}

function orderClause(q: ValidQuery, timeFirst: boolean, defaultDesc: string | undefined): string {
  const items: string[] = [];
  if (timeFirst) items.push('`__time`');
  for (const o of q.orderBy) {
    if (o.by === 'time' && timeFirst) continue;
    const metric = q.metrics.findIndex((m) => m.alias === o.by);
    const key = o.by === 'time' ? (q.format === 'logs' ? 'time' : '__time') : metric >= 0 ? metricKey(metric) : o.by;
    items.push(`${ident(key)}${o.desc ? ' DESC' : ''}`);
  }
  if (items.length === (timeFirst ? 1 : 0) && defaultDesc) items.push(defaultDesc);
  return items.length ? `\nORDER BY ${items.join(', ')}` : '';
}

function compileLogs(q: ValidQuery): CompiledQuery {
  const { where, params } = conditions(q);
  const table = q.spec.tables['1s'];
  if (!table) throw new Error(`no table for ${q.spec.name}`);
  const select = q.columns.map((c) => {
    if (c.type.startsWith('DateTime64')) return `toUnixTimestamp64Micro(${ident(c.name)}) AS ${ident(c.name)}`;
    if (c.type === 'DateTime') return `toUnixTimestamp(${ident(c.name)}) AS ${ident(c.name)}`;
    return ident(c.name);
  });
  const order = q.orderBy.length ? q.orderBy.map((o) => `${ident(o.by)}${o.desc ? ' DESC' : ''}`).join(', ') : '`time` DESC, `start_time` DESC';
  const sql =
    `SELECT ${select.join(', ')}\nFROM ${table.database}.${table.name}\nWHERE ${where.join(' AND ')}\n` + `ORDER BY ${order}\nLIMIT ${q.limit + 1}`;
  return {
    sql,
    params,
    columns: q.columns.map((c) => ({ name: c.name, role: c.name === 'start_time' ? 'time' : 'tag', type: c.type })),
    format: 'logs',
    bucketSeconds: q.bucketSeconds,
    limit: q.limit,
  };
}

export function compileQuery(q: ValidQuery): CompiledQuery {
  if (q.format === 'logs') return compileLogs(q);
  const table = q.spec.tables[q.interval];
  if (!table) throw new Error(`no ${q.interval} table for ${q.spec.name}`);
  const native = q.spec.log ? 1 : q.interval === '1s' ? 1 : 60;
  const series = q.format === 'time_series';
  // A table has one bucket: the whole range, so its rates are per second of the range.
  const span = series ? q.bucketSeconds : Math.max(native, q.toSec - q.fromSec);
  const plans = q.metrics.map((m) => plan(m, span, native));
  const twoLevel = plans.some((p) => p.twoLevel);
  const { where, params } = conditions(q);
  const tags = q.groupBy.map((g) => ident(g.name));
  const bucketExpr = `toUnixTimestamp(toStartOfInterval(\`time\`, INTERVAL ${q.bucketSeconds} SECOND))`;
  const columns: OutputColumn[] = [];
  if (series) columns.push({ name: 'time', role: 'time' });
  for (const g of q.groupBy) columns.push({ name: g.name, role: 'tag', type: g.type });

  const finals: string[] = [];
  let inner = '';
  if (!twoLevel) {
    plans.forEach((p, i) => finals.push(`${p.final((k) => p.partials[k].expr)} AS ${ident(metricKey(i))}`));
  } else {
    const partialSelect: string[] = [];
    plans.forEach((p, i) => {
      const names = p.partials.map((part, k) => {
        const name = `__p${i}_${k}`;
        partialSelect.push(`${part.expr} AS ${ident(name)}`);
        return name;
      });
      finals.push(`${p.final((k) => `${p.partials[k].merge}(${ident(names[k])})`)} AS ${ident(metricKey(i))}`);
    });
    const innerKeys = [...(series ? [`${bucketExpr} AS \`__time\``] : []), '`time` AS `__interval`', ...tags];
    inner =
      `(\n  SELECT ${[...innerKeys, ...partialSelect].join(', ')}\n  FROM ${table.database}.${table.name}\n  WHERE ${where.join(' AND ')}\n` +
      `  GROUP BY ${[...(series ? ['`__time`'] : []), '`__interval`', ...tags].join(', ')}\n)`;
  }
  q.metrics.forEach((m, i) => {
    const unit = m.aggregation === 'rate' ? m.spec.rateUnit : m.spec.unit;
    columns.push({ name: m.alias, key: metricKey(i), role: 'metric', unit });
  });

  const keys = [...(series ? [twoLevel ? '`__time`' : `${bucketExpr} AS \`__time\``] : []), ...tags];
  const groupBy = [...(series ? ['`__time`'] : []), ...tags];
  const from = twoLevel ? inner : `${table.database}.${table.name}`;
  const order = orderClause(q, series, series ? undefined : `${ident(metricKey(0))} DESC`);
  const sql =
    `SELECT ${[...keys, ...finals].join(', ')}\nFROM ${from}` +
    (twoLevel ? '' : `\nWHERE ${where.join(' AND ')}`) +
    (groupBy.length ? `\nGROUP BY ${groupBy.join(', ')}` : '') +
    order +
    // One row more than asked tells whether the result was cut.
    `\nLIMIT ${q.limit + 1}`;
  if (!series) return { sql, params, columns, format: q.format, bucketSeconds: q.bucketSeconds, limit: q.limit };
  // A time series comes back as one row per series with its points sorted by time: building
  // frames from a few arrays costs far less than from a row per point (measured on 200 series
  // of a day at 5 minutes: the per-row frames cost as much as the query itself).
  const point = `(\`__time\`, ${q.metrics.map((_, i) => ident(metricKey(i))).join(', ')})`;
  const bySeries =
    `SELECT ${[...tags, `arraySort(groupArray(${point})) AS \`__points\``].join(', ')}\nFROM (\n${sql}\n)` +
    (tags.length ? `\nGROUP BY ${tags.join(', ')}\nORDER BY ${tags.join(', ')}` : '');
  return { sql: bySeries, pointsSql: sql, params, columns, format: q.format, bucketSeconds: q.bucketSeconds, limit: q.limit };
}

function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'number') return String(value);
  return sqlString(String(value));
}

/**
 * The compiled SQL as SQL mode can run it: the time range as macros (so it follows the
 * dashboard) and the other parameters written in as literals. For users who start from the
 * builder's query and edit it.
 */
export function runnableSql(compiled: Pick<CompiledQuery, 'sql' | 'params' | 'pointsSql'>): string {
  return (compiled.pointsSql ?? compiled.sql)
    .replace(/toDateTime\(\{from:UInt32\}\)/g, '$__fromTime')
    .replace(/toDateTime\(\{to:UInt32\}\)/g, '$__toTime')
    .replace(/\{(\w+):[^}]+\}/g, (m, name: string) => (name in compiled.params ? literal(compiled.params[name]) : m));
}
