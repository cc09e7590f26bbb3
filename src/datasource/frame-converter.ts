/**
 * API frames → Grafana data frames: field types and units as the API sent them, the query's
 * refId, legends from `${tag}` templates, and for the request log a link from each trace id to
 * every request of that trace.
 */
import { DataFrame, DataLink, FieldType, toDataFrame } from '@grafana/data';

import { legendName } from './request-builder';
import { ApiFrame, DEFAULT_QUERY, MetaFlowQuery } from './types';

const FIELD_TYPES: Record<string, FieldType> = { time: FieldType.time, number: FieldType.number, string: FieldType.string, boolean: FieldType.boolean };

export interface ConvertOptions {
  refId: string;
  legend?: string;
  datasource?: { uid: string; name: string };
}

/** The request log filtered to one trace, for the data link on `trace_id`. */
export function traceQuery(refId: string): MetaFlowQuery {
  return {
    ...DEFAULT_QUERY,
    refId,
    dataType: 'l7_flow_log',
    format: 'logs',
    metrics: [],
    groupBy: [],
    filters: [{ tag: 'trace_id', op: '=', values: ['${__value.raw}'] }],
  };
}

export function toGrafanaFrames(frames: ApiFrame[], options: ConvertOptions): DataFrame[] {
  return frames.map((f) => {
    const frame = toDataFrame({
      name: f.name,
      refId: options.refId,
      meta: f.meta,
      fields: f.fields.map((field) => ({
        name: field.name,
        type: FIELD_TYPES[field.type] ?? FieldType.other,
        values: field.values,
        labels: field.labels,
        config: { ...(field.config ?? {}) },
      })),
    });
    for (const field of frame.fields) {
      if (options.legend && field.type === FieldType.number) field.config.displayNameFromDS = legendName(options.legend, field.labels, field.name);
      if (field.name === 'trace_id' && options.datasource) {
        const link: DataLink = {
          title: 'Requests of this trace',
          url: '',
          internal: { datasourceUid: options.datasource.uid, datasourceName: options.datasource.name, query: traceQuery('trace') },
        };
        field.config.links = [link];
      }
    }
    return frame;
  });
}
