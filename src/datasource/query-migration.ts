import { DataQuery } from '@grafana/schema';

import { DEFAULT_QUERY, MetaFlowQuery, QUERY_MODEL_VERSION, TagFilter } from './types';

/**
 * Brings a saved query of any earlier model version up to the current one, so dashboards saved
 * by older plugin versions keep working. Each step handles one version; unknown fields are kept.
 *
 * - v0 / v1 (0.1.0 placeholder): only `version`; becomes the default builder query.
 * - v1 with `queryText`: treated as SQL (the placeholder's free text field of early drafts).
 * - v2: the builder/SQL model; filters' single `value` become `values` lists.
 */
export function migrateQuery(saved: DataQuery & Record<string, unknown>, pluginVersion?: string): MetaFlowQuery {
  let q: Record<string, unknown> = { ...saved };
  const version = typeof q.version === 'number' ? q.version : 0;
  if (version < 2) {
    const sql = typeof q.queryText === 'string' && q.queryText.trim() !== '' ? q.queryText : undefined;
    const { queryText: _dropped, ...rest } = q;
    void _dropped;
    q = { ...DEFAULT_QUERY, ...rest, ...(sql ? { mode: 'sql', sql } : {}) };
  }
  q.filters = Array.isArray(q.filters) ? (q.filters as Array<TagFilter & { value?: unknown }>).map(normaliseFilter) : [];
  for (const key of ['metrics', 'groupBy', 'tapSide', 'orderBy'] as const) {
    if (!Array.isArray(q[key])) q[key] = [...(DEFAULT_QUERY[key] as unknown[])];
  }
  q.version = QUERY_MODEL_VERSION;
  if (pluginVersion) q.pluginVersion = pluginVersion;
  return { ...DEFAULT_QUERY, ...q, refId: saved.refId } as MetaFlowQuery;
}

function normaliseFilter(f: TagFilter & { value?: unknown }): TagFilter {
  const values = Array.isArray(f.values) ? f.values.map(String) : f.value !== undefined ? [String(f.value)] : [];
  return { tag: String(f.tag ?? ''), op: f.op ?? '=', values };
}
