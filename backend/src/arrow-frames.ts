/**
 * Data frames as Grafana's backend expects them from a plugin: one Arrow IPC *file* per frame,
 * the frame's name, refId and meta (JSON) in the schema metadata, each field's name, labels and
 * config (JSON) in the field metadata, times as nanosecond timestamps, numbers as float64.
 * Grafana reads these in Go (alert evaluation, /api/ds/query), which knows only the primitive
 * Arrow types used here.
 */
import { Bool, Binary, Data, Field, Float64, makeData, RecordBatch, Schema, Struct, Table, TimestampNanosecond, Utf8, vectorFromArray, tableToIPC, DataType } from 'apache-arrow';

import type { ApiFrame } from '../../src/datasource/types';

export interface FrameOptions {
  refId: string;
  /** Legend template applied as each number field's display name, as the frontend does. */
  displayName?: (labels: Record<string, string> | undefined, fieldName: string) => string | undefined;
}

type ApiField = ApiFrame['fields'][number];

function validityBitmap(values: unknown[]): { bitmap?: Uint8Array; nullCount: number } {
  let nullCount = 0;
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v === null || v === undefined) nullCount++;
    else bitmap[i >> 3] |= 1 << (i & 7);
  });
  return nullCount ? { bitmap, nullCount } : { nullCount: 0 };
}

/** Epoch ms (number or ISO text) → nanoseconds, exactly: via BigInt, not a float multiplication. */
function timeNanos(values: unknown[]): Data<TimestampNanosecond> {
  const ns = new BigInt64Array(values.length);
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const ms = typeof v === 'number' ? v : Date.parse(String(v));
    if (Number.isFinite(ms)) ns[i] = BigInt(Math.trunc(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1_000_000));
  });
  const { bitmap, nullCount } = validityBitmap(values);
  return makeData({ type: new TimestampNanosecond(), length: values.length, nullCount, nullBitmap: bitmap, data: ns });
}

function toNumber(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isNaN(n) && typeof v !== 'number' ? null : n;
}

function fieldData(field: ApiField): { type: DataType; data: Data } {
  switch (field.type) {
    case 'time':
      return { type: new TimestampNanosecond(), data: timeNanos(field.values) };
    case 'number':
      return { type: new Float64(), data: vectorFromArray(field.values.map(toNumber), new Float64()).data[0] };
    case 'boolean':
      return { type: new Bool(), data: vectorFromArray(field.values.map((v) => (v === null || v === undefined ? null : Boolean(v))), new Bool()).data[0] };
    case 'string':
      return { type: new Utf8(), data: vectorFromArray(field.values.map((v) => (v === null || v === undefined ? null : String(v))), new Utf8()).data[0] };
    default: {
      // Grafana's "other" type: kept as JSON (Grafana's JSON field type is Arrow binary).
      const encoder = new TextEncoder();
      const json = field.values.map((v) => (v === null || v === undefined ? null : encoder.encode(JSON.stringify(v))));
      return { type: new Binary(), data: vectorFromArray(json, new Binary()).data[0] };
    }
  }
}

function fieldMetadata(field: ApiField, options: FrameOptions): Map<string, string> {
  const meta = new Map<string, string>([['name', field.name]]);
  if (field.labels && Object.keys(field.labels).length) meta.set('labels', JSON.stringify(field.labels));
  const config: Record<string, unknown> = { ...(field.config ?? {}) };
  const display = field.type === 'number' ? options.displayName?.(field.labels, field.name) : undefined;
  if (display) config.displayNameFromDS = display;
  if (Object.keys(config).length) meta.set('config', JSON.stringify(config));
  return meta;
}

/** One frame as Arrow IPC file bytes. */
export function frameToArrow(frame: ApiFrame, options: FrameOptions): Uint8Array {
  const length = frame.fields.reduce((max, f) => Math.max(max, f.values.length), 0);
  for (const f of frame.fields) {
    if (f.values.length !== length) throw new Error(`frame ${frame.name ?? ''}: field ${f.name} has ${f.values.length} values, others ${length}`);
  }
  const columns = frame.fields.map((f) => ({ field: f, ...fieldData(f) }));
  const fields = columns.map((c) => new Field(c.field.name, c.type, true, fieldMetadata(c.field, options)));
  const schemaMeta = new Map<string, string>([
    ['name', frame.name ?? ''],
    ['refId', options.refId],
  ]);
  if (frame.meta && Object.keys(frame.meta).length) schemaMeta.set('meta', JSON.stringify(frame.meta));
  const schema = new Schema(fields, schemaMeta);
  const struct = makeData({ type: new Struct(fields), length, nullCount: 0, children: columns.map((c) => c.data) });
  return tableToIPC(new Table(schema, [new RecordBatch(schema, struct)]), 'file');
}

export function framesToArrow(frames: ApiFrame[], options: FrameOptions): Buffer[] {
  return frames.map((f) => Buffer.from(frameToArrow(f, options)));
}
