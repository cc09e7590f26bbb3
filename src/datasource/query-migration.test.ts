import { migrateQuery } from './query-migration';
import { DEFAULT_QUERY, QUERY_MODEL_VERSION } from './types';

describe('migrateQuery', () => {
  it('turns the 0.1.0 placeholder (version 1, nothing else) into the default builder query', () => {
    const q = migrateQuery({ refId: 'A', version: 1 }, '0.2.0');
    expect(q).toEqual({ ...DEFAULT_QUERY, refId: 'A', version: QUERY_MODEL_VERSION, pluginVersion: '0.2.0' });
  });

  it('keeps free text of early drafts as SQL mode', () => {
    const q = migrateQuery({ refId: 'B', queryText: 'SELECT 1' });
    expect(q.mode).toBe('sql');
    expect(q.sql).toBe('SELECT 1');
    expect(q).not.toHaveProperty('queryText');
  });

  it('turns single filter values into lists and fills missing lists', () => {
    const q = migrateQuery({ refId: 'C', version: 2, mode: 'builder', filters: [{ tag: 'service', op: '=', value: 'a' }, { tag: 'port', op: 'in', values: [80, 443] }], metrics: undefined });
    expect(q.filters).toEqual([
      { tag: 'service', op: '=', values: ['a'] },
      { tag: 'port', op: 'in', values: ['80', '443'] },
    ]);
    expect(q.metrics).toEqual(DEFAULT_QUERY.metrics);
  });

  it('leaves a current query as it is, keeping unknown fields', () => {
    const current = { ...DEFAULT_QUERY, refId: 'D', legend: '${service}', extra: 1 };
    expect(migrateQuery(current)).toEqual(current);
  });
});
