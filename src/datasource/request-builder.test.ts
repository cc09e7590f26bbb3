import { BuildContext, buildMapRequest, buildSqlRequest, buildStructuredRequest, legendName, resolveFilter } from './request-builder';
import { DEFAULT_QUERY, MetaFlowQuery } from './types';

const variables: Record<string, string[]> = { $service: ['a', 'b'], $one: ['x'], $group: ['endpoint'], $side: ['s'] };

const ctx = (patch: Partial<BuildContext> = {}): BuildContext => ({
  from: 1000,
  to: 61_000,
  intervalMs: 15_000,
  replace: (t) => t.replace(/\$\w+/g, (v) => (variables[v] ?? [v]).join(',')),
  expand: (t) => variables[t] ?? [t],
  ...patch,
});

const query = (patch: Partial<MetaFlowQuery>): MetaFlowQuery => ({ ...DEFAULT_QUERY, refId: 'A', ...patch });

describe('buildStructuredRequest', () => {
  it('sends the range, the step from the panel interval, metrics and grouping', () => {
    expect(buildStructuredRequest(query({ groupBy: ['$group', 'service'] }), ctx())).toEqual({
      dataType: 'application',
      interval: 'auto',
      from: 1000,
      to: 61_000,
      step: 15,
      metrics: [{ metric: 'request', aggregation: 'rate' }],
      groupBy: ['endpoint', 'service'],
      filters: [],
      tapSide: [],
      orderBy: [],
      format: 'time_series',
    });
  });

  it('multi-value variables turn = into in and != into not in', () => {
    expect(resolveFilter({ tag: 'service', op: '=', values: ['$service'] }, ctx())).toEqual({ tag: 'service', op: 'in', values: ['a', 'b'] });
    expect(resolveFilter({ tag: 'service', op: '!=', values: ['$service', 'c'] }, ctx())).toEqual({ tag: 'service', op: 'not in', values: ['a', 'b', 'c'] });
    expect(resolveFilter({ tag: 'service', op: '=', values: ['$one'] }, ctx())).toEqual({ tag: 'service', op: '=', value: 'x' });
    expect(resolveFilter({ tag: 'service', op: 'regex', values: ['$service'] }, ctx())).toEqual({ tag: 'service', op: 'regex', value: 'a|b' });
    expect(resolveFilter({ tag: 'service', op: 'in', values: [] }, ctx())).toBeUndefined();
    expect(resolveFilter({ tag: '', op: '=', values: ['a'] }, ctx())).toBeUndefined();
  });

  it('adds ad-hoc filters it can express and the default tap side when the query names none', () => {
    const r = buildStructuredRequest(
      query({ filters: [{ tag: 'endpoint', op: 'like', values: ['/api/%'] }] }),
      ctx({
        adhocFilters: [
          { key: 'service', operator: '=', value: 'a' },
          { key: 'endpoint', operator: '=~', value: '^/v1' },
          { key: 'port', operator: '<', value: '9' },
        ],
        defaultTapSide: ['$side'],
      }),
    );
    expect(r.filters).toEqual([
      { tag: 'endpoint', op: 'like', value: '/api/%' },
      { tag: 'service', op: '=', value: 'a' },
      { tag: 'endpoint', op: 'regex', value: '^/v1' },
    ]);
    expect(r.tapSide).toEqual(['s']);
    expect(buildStructuredRequest(query({ tapSide: ['c-p'] }), ctx({ defaultTapSide: ['s'] })).tapSide).toEqual(['c-p']);
  });

  it('drops empty metric rows and passes limit and order', () => {
    const r = buildStructuredRequest(query({ metrics: [{ metric: '' }, { metric: 'rrt', aggregation: 'p99', alias: 'p99' }], orderBy: [{ by: 'p99', desc: true }], limit: 5 }), ctx());
    expect(r.metrics).toEqual([{ metric: 'rrt', aggregation: 'p99', alias: 'p99' }]);
    expect(r.orderBy).toEqual([{ by: 'p99', desc: true }]);
    expect(r.limit).toBe(5);
  });
});

describe('buildSqlRequest and legends', () => {
  it('replaces variables in SQL and passes the interval in seconds', () => {
    expect(buildSqlRequest(query({ mode: 'sql', sql: "SELECT * FROM t WHERE s IN ('$service')", sqlFormat: 'time_series' }), ctx())).toEqual({
      sql: "SELECT * FROM t WHERE s IN ('a,b')",
      from: 1000,
      to: 61_000,
      intervalSeconds: 15,
      format: 'time_series',
    });
  });

  it('fills ${tag} and ${metric}, leaving unknown names visible', () => {
    expect(legendName('${service} ${metric} ${nope}', { service: 'web' }, 'request_rate')).toBe('web request_rate ${nope}');
  });
});

describe('buildMapRequest', () => {
  it('sends the range, the level, the tap side mode and resolved filters', () => {
    expect(buildMapRequest(query({ mode: 'map', mapLevel: 'process', filters: [{ tag: 'l7_protocol', op: '=', values: ['$service'] }] }), ctx())).toEqual({
      from: 1000,
      to: 61_000,
      level: 'process',
      tapSideMode: 'preferred',
      filters: [{ tag: 'l7_protocol', op: 'in', values: ['a', 'b'] }],
    });
  });
});
