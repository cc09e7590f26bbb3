import { DATA_TYPES, DataType, MetaFlowVariableQuery } from './types';

const TAG_VALUES = /^\s*tag_values\(\s*([a-z0-9_]+)\s*,\s*([A-Za-z0-9_$]+)\s*(?:,\s*([^)]*?)\s*)?\)\s*$/;

/**
 * A variable query from its editor (an object) or typed as text: `tag_values(dataType, tag)`,
 * optionally with a prefix: `tag_values(application, service, 10.)`.
 */
export function parseVariableQuery(query: MetaFlowVariableQuery | string | undefined): MetaFlowVariableQuery | undefined {
  if (!query) return undefined;
  if (typeof query === 'object') return query.dataType && query.tag ? query : undefined;
  const m = TAG_VALUES.exec(query);
  if (!m || !DATA_TYPES.some((d) => d.value === m[1])) return undefined;
  return { dataType: m[1] as DataType, tag: m[2], ...(m[3] ? { prefix: m[3] } : {}) };
}
