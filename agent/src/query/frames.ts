/**
 * Query rows → data frames in the JSON shape Grafana's `toDataFrame` reads (fields with name,
 * type, values, config.unit and labels). Time series come as one frame per series with the
 * group-by tags as labels; tables as one frame; request and flow logs as a logs frame with a
 * level and a readable body.
 */
import { CompiledQuery, OutputColumn } from './compile-query';

export type FieldType = 'time' | 'number' | 'string';

export interface FrameField {
  name: string;
  type: FieldType;
  values: unknown[];
  config?: { unit?: string; displayNameFromDS?: string };
  labels?: Record<string, string>;
}

export interface Frame {
  name?: string;
  refId?: string;
  fields: FrameField[];
  meta?: { executedQueryString?: string; preferredVisualisationType?: 'logs' | 'table' | 'graph' | 'nodeGraph'; notices?: { severity: 'info' | 'warning'; text: string }[] };
}

function metricValue(raw: unknown): number | null {
  if (raw === null || raw === undefined) return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

function tagValue(column: OutputColumn, raw: unknown): string | number {
  if (column.type && /^U?Int\d+$/.test(column.type)) return Number(raw);
  return raw === null || raw === undefined ? '' : String(raw);
}

const isNumberColumn = (c: OutputColumn): boolean => c.role === 'metric' || (c.type !== undefined && /^U?Int\d+$/.test(c.type));

export function toFrames(compiled: CompiledQuery, fetched: Record<string, unknown>[]): Frame[] {
  // The SQL asks for one row more than the limit: its presence means the result was cut.
  const truncated = fetched.length > compiled.limit;
  const rows = truncated ? fetched.slice(0, compiled.limit) : fetched;
  const frames = buildFrames(compiled, rows);
  if (truncated && frames[0]) {
    frames[0].meta = { ...frames[0].meta, notices: [{ severity: 'warning', text: `only the first ${compiled.limit} rows are shown: raise the limit or narrow the query` }] };
  }
  return frames;
}

function buildFrames(compiled: CompiledQuery, rows: Record<string, unknown>[]): Frame[] {
  const meta = { executedQueryString: compiled.sql };
  if (compiled.format === 'logs') return [logsFrame(compiled, rows)];
  const tags = compiled.columns.filter((c) => c.role === 'tag');
  const metrics = compiled.columns.filter((c) => c.role === 'metric');
  if (compiled.format === 'table') {
    const fields: FrameField[] = compiled.columns.map((c) => ({
      name: c.name,
      type: isNumberColumn(c) ? 'number' : 'string',
      values: rows.map((r) => (c.role === 'metric' ? metricValue(r[c.key ?? c.name]) : tagValue(c, r[c.name]))),
      ...(c.unit ? { config: { unit: c.unit } } : {}),
    }));
    return [{ fields, meta: { ...meta, preferredVisualisationType: 'table' } }];
  }
  // One frame per series, in the order series first appear (rows come sorted by time). The
  // series key joins the tag values with a separator no value holds (NUL is not in ClickHouse
  // tags we write), which costs far less per row than serialising a labels object.
  const series = new Map<string, { values: (string | number)[]; times: number[]; metrics: (number | null)[][] }>();
  for (const r of rows) {
    let key = '';
    for (const t of tags) key += String(r[t.name]) + '\u0000';
    let s = series.get(key);
    if (!s) series.set(key, (s = { values: tags.map((t) => tagValue(t, r[t.name])), times: [], metrics: metrics.map(() => []) }));
    s.times.push(Number(r.__time) * 1000);
    for (let i = 0; i < metrics.length; i++) s.metrics[i].push(metricValue(r[metrics[i].key ?? metrics[i].name]));
  }
  if (series.size === 0) series.set('', { values: [], times: [], metrics: metrics.map(() => []) });
  return [...series.values()].map((s) => {
    const labels: Record<string, string> = {};
    tags.forEach((t, i) => (labels[t.name] = String(s.values[i] ?? '')));
    const name = Object.values(labels).join(' ');
    return {
      ...(name ? { name } : {}),
      fields: [
        { name: 'time', type: 'time' as const, values: s.times },
        ...metrics.map((m, i) => ({
          name: m.name,
          type: 'number' as const,
          values: s.metrics[i],
          ...(tags.length ? { labels } : {}),
          ...(m.unit ? { config: { unit: m.unit } } : {}),
        })),
      ],
      meta,
    };
  });
}

const LEVEL_OF_STATUS: Record<string, string> = {
  ok: 'info',
  client_error: 'warning',
  server_error: 'error',
  timeout: 'error',
  unknown: 'unknown',
  parse_failed: 'warning',
};

/** A line per log row for Explore: the fields a reader scans first. */
function logBody(r: Record<string, unknown>): string {
  if ('request_type' in r || 'endpoint' in r || 'response_code' in r) {
    const what = [r.l7_protocol, r.request_type, r.request_domain, r.request_resource ?? r.endpoint].filter((x) => x !== undefined && x !== '').join(' ');
    const code = r.response_code !== undefined && Number(r.response_code) !== 0 ? ` ${r.response_code}` : '';
    const took = r.response_duration !== undefined && Number(r.response_duration) > 0 ? ` ${r.response_duration} µs` : '';
    return `${what} → ${r.response_status ?? ''}${code}${took}`.trim();
  }
  const who = `${r.ip_0 ?? ''}${r.port_0 !== undefined ? ':' + r.port_0 : ''} → ${r.ip_1 ?? ''}${r.port_1 !== undefined ? ':' + r.port_1 : ''}`;
  return `${r.protocol ?? ''} ${who} ${r.close_type ?? ''} ${r.status ?? ''}`.replace(/\s+/g, ' ').trim();
}

function logsFrame(compiled: CompiledQuery, rows: Record<string, unknown>[]): Frame {
  const timeColumn = compiled.columns.find((c) => c.role === 'time');
  const fields: FrameField[] = [];
  if (timeColumn) fields.push({ name: 'time', type: 'time', values: rows.map((r) => Number(r[timeColumn.name]) / 1000) });
  const statusKey = compiled.columns.some((c) => c.name === 'response_status') ? 'response_status' : 'status';
  fields.push({ name: 'level', type: 'string', values: rows.map((r) => LEVEL_OF_STATUS[String(r[statusKey] ?? '')] ?? (String(r[statusKey] ?? '') === 'ok' ? 'info' : 'warning')) });
  fields.push({ name: 'body', type: 'string', values: rows.map(logBody) });
  for (const c of compiled.columns) {
    if (c === timeColumn) continue;
    const micros = c.type?.startsWith('DateTime64');
    fields.push({
      name: c.name,
      type: micros ? 'time' : isNumberColumn(c) ? 'number' : 'string',
      values: rows.map((r) => (micros ? Number(r[c.name]) / 1000 : tagValue(c, r[c.name]))),
      ...(c.name === 'response_duration' || c.name === 'duration' ? { config: { unit: 'µs' } } : {}),
    });
  }
  return { fields, meta: { executedQueryString: compiled.sql, preferredVisualisationType: 'logs' } };
}
