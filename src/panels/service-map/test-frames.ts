/**
 * Frames as the agent's map query returns them (agent/src/query/service-map.ts, serviceMapFrames),
 * for the tests: the demo capture's map, and builders for others.
 */
import { createDataFrame, DataFrame, FieldType } from '@grafana/data';

export interface NodeRow {
  id: string;
  subtitle?: string;
  mainstat?: number | null;
  secondarystat?: number | null;
  errors?: number;
  serverErrorRatio?: number | null;
  clientRate?: number;
  clientErrorRatio?: number | null;
  bytes?: number;
  kind?: 'external' | 'unknown' | 'known';
}

export interface EdgeRow {
  id?: string;
  source: string;
  target: string;
  rate?: number;
  errorRatio?: number | null;
  rrtAvg?: number | null;
  rrtP99?: number | null;
  timeoutRatio?: number | null;
  bytes?: number;
  rtt?: number | null;
  retrans?: number | null;
  failures?: number;
  tapSide?: string;
  seenAt?: string;
}

const meta = { preferredVisualisationType: 'nodeGraph' as const };

export function nodesFrame(rows: NodeRow[], refId = 'A'): DataFrame {
  const col = <T,>(f: (r: NodeRow) => T) => rows.map(f);
  return createDataFrame({
    name: 'nodes',
    refId,
    meta,
    fields: [
      { name: 'id', type: FieldType.string, values: col((r) => r.id) },
      { name: 'title', type: FieldType.string, values: col((r) => r.id) },
      { name: 'subtitle', type: FieldType.string, values: col((r) => r.subtitle ?? (r.kind === 'external' ? 'external client' : 'service')) },
      { name: 'mainstat', type: FieldType.number, values: col((r) => r.mainstat ?? 0), config: { unit: 'reqps', displayNameFromDS: 'requests/s' } },
      { name: 'secondarystat', type: FieldType.number, values: col((r) => r.secondarystat ?? null), config: { unit: 'µs', displayNameFromDS: 'avg response time' } },
      { name: 'arc__errors', type: FieldType.number, values: col((r) => r.errors ?? 0), config: { displayNameFromDS: 'errors' } },
      { name: 'arc__ok', type: FieldType.number, values: col((r) => 1 - (r.errors ?? 0)), config: { displayNameFromDS: 'ok' } },
      { name: 'detail__server_error_ratio', type: FieldType.number, values: col((r) => r.serverErrorRatio ?? null), config: { unit: 'percentunit', displayNameFromDS: 'error ratio as server' } },
      { name: 'detail__client_request_rate', type: FieldType.number, values: col((r) => r.clientRate ?? 0), config: { unit: 'reqps', displayNameFromDS: 'requests/s as client' } },
      { name: 'detail__client_error_ratio', type: FieldType.number, values: col((r) => r.clientErrorRatio ?? null), config: { unit: 'percentunit', displayNameFromDS: 'error ratio as client' } },
      { name: 'detail__bytes', type: FieldType.number, values: col((r) => r.bytes ?? 0), config: { unit: 'Bps', displayNameFromDS: 'bytes/s' } },
      { name: 'detail__kind', type: FieldType.string, values: col((r) => r.kind ?? 'known'), config: { displayNameFromDS: 'kind' } },
    ],
  });
}

export function edgesFrame(rows: EdgeRow[], refId = 'A'): DataFrame {
  const col = <T,>(f: (r: EdgeRow) => T) => rows.map(f);
  return createDataFrame({
    name: 'edges',
    refId,
    meta,
    fields: [
      { name: 'id', type: FieldType.string, values: col((r) => r.id ?? `${r.source}->${r.target}`) },
      { name: 'source', type: FieldType.string, values: col((r) => r.source) },
      { name: 'target', type: FieldType.string, values: col((r) => r.target) },
      { name: 'mainstat', type: FieldType.number, values: col((r) => r.rate ?? 0), config: { unit: 'reqps', displayNameFromDS: 'requests/s' } },
      { name: 'secondarystat', type: FieldType.number, values: col((r) => r.errorRatio ?? null), config: { unit: 'percentunit', displayNameFromDS: 'error ratio' } },
      { name: 'detail__rrt_avg', type: FieldType.number, values: col((r) => r.rrtAvg ?? null), config: { unit: 'µs', displayNameFromDS: 'avg response time' } },
      { name: 'detail__rrt_p99', type: FieldType.number, values: col((r) => r.rrtP99 ?? null), config: { unit: 'µs', displayNameFromDS: 'p99 response time' } },
      { name: 'detail__timeout_ratio', type: FieldType.number, values: col((r) => r.timeoutRatio ?? null), config: { unit: 'percentunit', displayNameFromDS: 'timeout ratio' } },
      { name: 'detail__bytes', type: FieldType.number, values: col((r) => r.bytes ?? 0), config: { unit: 'Bps', displayNameFromDS: 'bytes/s' } },
      { name: 'detail__rtt', type: FieldType.number, values: col((r) => r.rtt ?? null), config: { unit: 'µs', displayNameFromDS: 'rtt' } },
      { name: 'detail__retrans_ratio', type: FieldType.number, values: col((r) => r.retrans ?? null), config: { unit: 'percentunit', displayNameFromDS: 'retransmission ratio' } },
      { name: 'detail__connection_failures', type: FieldType.number, values: col((r) => r.failures ?? 0), config: { unit: 'short', displayNameFromDS: 'connection failures' } },
      { name: 'detail__tap_side', type: FieldType.string, values: col((r) => r.tapSide ?? 'local'), config: { displayNameFromDS: 'tap side' } },
      { name: 'detail__seen_at', type: FieldType.string, values: col((r) => r.seenAt ?? r.tapSide ?? 'local'), config: { displayNameFromDS: 'seen at' } },
    ],
  });
}

/** The demo capture's map (fixtures/captures/demo-loopback.pcap, level service), as the agent answers it. */
export function demoFrames(): DataFrame[] {
  return [
    nodesFrame([
      { id: '127.0.0.1', kind: 'external', mainstat: 1.4, errors: 0.184, clientRate: 1.4, clientErrorRatio: 0.184, bytes: 580 },
      { id: '::1', kind: 'external', mainstat: 0.35, errors: 0.368, clientRate: 0.35, clientErrorRatio: 0.368, bytes: 258 },
      { id: '127.0.0.1:18080', subtitle: 'unknown service', kind: 'unknown', mainstat: 0.66, secondarystat: 28.75, errors: 0.222, serverErrorRatio: 0.222, bytes: 360 },
      { id: '[::1]:18080', subtitle: 'unknown service', kind: 'unknown', mainstat: 0.35, secondarystat: 148.6, errors: 0.368, serverErrorRatio: 0.368, bytes: 258 },
      { id: '127.0.0.1:16379', subtitle: 'unknown service', kind: 'unknown', mainstat: 0.73, secondarystat: 86.6, errors: 0.15, serverErrorRatio: 0.15, bytes: 213 },
      { id: '127.0.0.1:18099', subtitle: 'unknown service', kind: 'unknown', mainstat: 0, bytes: 7 },
    ]),
    edgesFrame([
      { source: '::1', target: '[::1]:18080', rate: 0.35, errorRatio: 0.368, rrtAvg: 148.6, rrtP99: 1853, timeoutRatio: 0, bytes: 258, rtt: 32.4, retrans: 0 },
      { source: '127.0.0.1', target: '127.0.0.1:16379', rate: 0.73, errorRatio: 0.15, rrtAvg: 86.6, rrtP99: 204.8, timeoutRatio: 0, bytes: 213, rtt: 25.8, retrans: 0 },
      { source: '127.0.0.1', target: '127.0.0.1:18080', rate: 0.66, errorRatio: 0.222, rrtAvg: 28.75, rrtP99: 209.9, timeoutRatio: 0, bytes: 360, rtt: 31.6, retrans: 0 },
      { source: '127.0.0.1', target: '127.0.0.1:18099', rate: 0, errorRatio: null, bytes: 7, failures: 3, retrans: 0 },
    ]),
  ];
}

/**
 * Variable interpolation as Grafana's does it for data links, as far as the tests need:
 * `${__data.fields.<name>}` from the row of the link, `${__url_time_range}`, `$var` / `${var}` from
 * the given dashboard variables, and the `uriencode` / `percentencode` formats.
 */
export function fakeReplaceVariables(variables: Record<string, string>, range = { from: 1000, to: 2000 }) {
  return (value: string, scopedVars?: Record<string, { value?: unknown } | undefined>, format?: unknown): string =>
    value.replace(/\$\{([^}:]+)(?::(\w+))?\}|\$(\w+)/g, (match: string, expr: string | undefined, fmt: string | undefined, plain: string | undefined) => {
      const name = (expr ?? plain) as string;
      let v: string | undefined;
      if (name === '__url_time_range') {
        return `from=${range.from}&to=${range.to}`;
      }
      if (name.startsWith('__data.fields.')) {
        const ctx = scopedVars?.__dataContext?.value as { frame: DataFrame; rowIndex: number } | undefined;
        const field = ctx?.frame.fields.find((f) => f.name === name.slice('__data.fields.'.length));
        v = field && ctx ? String(field.values[ctx.rowIndex]) : undefined;
      } else {
        v = variables[name];
      }
      if (v === undefined) {
        return match;
      }
      const f = fmt ?? (typeof format === 'string' ? format : undefined);
      return f === 'uriencode' || f === 'percentencode' ? encodeURIComponent(v) : v;
    });
}
