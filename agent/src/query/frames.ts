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
  // The SQL asks for one row (point) more than the limit: its presence means the result was cut.
  const series = compiled.format === 'time_series';
  const points = series ? fetched.reduce((n, r) => n + ((r.__points as unknown[] | undefined)?.length ?? 0), 0) : fetched.length;
  const truncated = points > compiled.limit;
  const rows = truncated && !series ? fetched.slice(0, compiled.limit) : fetched;
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
  // One frame per series: the SQL returns a row per series with its points, (time, metrics…)
  // tuples sorted by time.
  const frames = rows.map((r) => {
    const labels: Record<string, string> = {};
    for (const t of tags) labels[t.name] = String(tagValue(t, r[t.name]));
    const points = (r.__points as unknown[][] | undefined) ?? [];
    const name = Object.values(labels).join(' ');
    return {
      ...(name ? { name } : {}),
      fields: [
        { name: 'time', type: 'time' as const, values: points.map((p) => Number(p[0]) * 1000) },
        ...metrics.map((m, i) => ({
          name: m.name,
          type: 'number' as const,
          values: points.map((p) => metricValue(p[i + 1])),
          ...(tags.length ? { labels } : {}),
          ...(m.unit ? { config: { unit: m.unit } } : {}),
        })),
      ],
      meta,
    };
  });
  if (frames.length === 0) frames.push({ fields: [{ name: 'time', type: 'time', values: [] }, ...metrics.map((m) => ({ name: m.name, type: 'number' as const, values: [] as (number | null)[], ...(m.unit ? { config: { unit: m.unit } } : {}) }))], meta });
  return frames;
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
