import { CoreApp, DataQueryRequest, DataSourceInstanceSettings, dateTime, PluginType } from '@grafana/data';
import { lastValueFrom, of, throwError } from 'rxjs';

import { DataSource } from './datasource';
import { describeAge } from './health-message';
import { expandValues, listFormat } from './template-values';
import { DEFAULT_QUERY, MetaFlowDataSourceOptions, MetaFlowQuery, QUERY_MODEL_VERSION } from './types';

const fetchMock = jest.fn();
const variables: Record<string, string[]> = { service: ['a', 'b'] };

jest.mock('@grafana/runtime', () => ({
  // The real base class needs Grafana's services; the data source overrides what it would use.
  DataSourceWithBackend: jest.requireActual('@grafana/data').DataSourceApi,
  getBackendSrv: () => ({ fetch: (options: unknown) => fetchMock(options) }),
  getTemplateSrv: () => ({
    getVariables: () => Object.keys(variables).map((name) => ({ name })),
    // Scoped variables first, then the dashboard's, as Grafana's TemplateSrv resolves them.
    replace: (text: string, scoped?: Record<string, { value: string | string[] }>, format?: (v: string | string[]) => string) =>
      text.replace(/\$(\w+)/g, (m: string, name: string) => {
        const value = scoped?.[name]?.value ?? variables[name];
        if (value === undefined) return m;
        return format ? format(value) : Array.isArray(value) ? value.join(',') : value;
      }),
  }),
}));

function instanceSettings(jsonData: MetaFlowDataSourceOptions = {}): DataSourceInstanceSettings<MetaFlowDataSourceOptions> {
  return {
    id: 1,
    uid: 'mf',
    type: 'metaflow-datasource',
    name: 'MetaFlow',
    access: 'proxy',
    readOnly: false,
    jsonData,
    meta: { id: 'metaflow-datasource', name: 'MetaFlow', type: PluginType.datasource, module: '', baseUrl: '', info: { version: '0.2.0' } },
  } as unknown as DataSourceInstanceSettings<MetaFlowDataSourceOptions>;
}

function request(targets: Array<Partial<MetaFlowQuery>>): DataQueryRequest<MetaFlowQuery> {
  return {
    targets: targets as MetaFlowQuery[],
    range: { from: dateTime(1000), to: dateTime(61_000), raw: { from: '', to: '' } },
    intervalMs: 10_000,
    scopedVars: { __interval: { text: '10s', value: '10s' } },
    filters: [],
  } as unknown as DataQueryRequest<MetaFlowQuery>;
}

const frame = { fields: [{ name: 'time', type: 'time', values: [1000] }, { name: 'request', type: 'number', values: [3] }] };

beforeEach(() => fetchMock.mockReset());

describe('MetaFlow DataSource', () => {
  it('gives new queries the current model and plugin version', () => {
    const ds = new DataSource(instanceSettings());
    expect(ds.getDefaultQuery(CoreApp.Dashboard)).toEqual({ ...DEFAULT_QUERY, pluginVersion: '0.2.0' });
  });

  it('sends builder queries through the proxy route with variables resolved and the default tap side', async () => {
    fetchMock.mockReturnValue(of({ data: { frames: [frame], sql: 'SQL' } }));
    const ds = new DataSource(instanceSettings({ defaultTapSide: ['s'] }));
    const response = await lastValueFrom(ds.query(request([{ ...DEFAULT_QUERY, refId: 'A', filters: [{ tag: 'service', op: '=', values: ['$service'] }] }, { refId: 'H', hide: true }])));
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const sent = fetchMock.mock.calls[0][0];
    expect(sent.url).toBe('/api/datasources/proxy/uid/mf/metaflow/v1/query');
    expect(sent.method).toBe('POST');
    expect(sent.data).toMatchObject({ from: 1000, to: 61_000, step: 10, tapSide: ['s'], filters: [{ tag: 'service', op: 'in', values: ['a', 'b'] }] });
    expect(response.data).toHaveLength(1);
    expect(response.data[0].refId).toBe('A');
  });

  it('migrates old saved queries before running them', async () => {
    fetchMock.mockReturnValue(of({ data: { frames: [frame], sql: 'SQL' } }));
    const ds = new DataSource(instanceSettings());
    await lastValueFrom(ds.query(request([{ refId: 'A', version: 1 }])));
    expect(fetchMock.mock.calls[0][0].data).toMatchObject({ dataType: 'application', metrics: [{ metric: 'request', aggregation: 'rate' }] });
  });

  it('SQL mode goes to /sql with the interval in seconds and Grafana’s $__interval left to the API', async () => {
    fetchMock.mockReturnValue(of({ data: { frames: [frame], sql: 'SQL' } }));
    const ds = new DataSource(instanceSettings());
    await lastValueFrom(ds.query(request([{ ...DEFAULT_QUERY, refId: 'S', version: QUERY_MODEL_VERSION, mode: 'sql', sql: 'SELECT $__interval_s, $__interval', sqlFormat: 'time_series' }])));
    const sent = fetchMock.mock.calls[0][0];
    expect(sent.url).toBe('/api/datasources/proxy/uid/mf/metaflow/v1/sql');
    expect(sent.data).toEqual({ sql: 'SELECT $__interval_s, $__interval', from: 1000, to: 61_000, intervalSeconds: 10, format: 'time_series' });
  });

  it('service map queries go to /map and come back as nodes and edges frames', async () => {
    const nodes = { name: 'nodes', fields: [{ name: 'id', type: 'string', values: ['a'] }], meta: { preferredVisualisationType: 'nodeGraph' } };
    const edges = { name: 'edges', fields: [{ name: 'id', type: 'string', values: [] }, { name: 'source', type: 'string', values: [] }, { name: 'target', type: 'string', values: [] }] };
    fetchMock.mockReturnValue(of({ data: { frames: [nodes, edges], sql: 'SQL' } }));
    const ds = new DataSource(instanceSettings());
    const response = await lastValueFrom(ds.query(request([{ ...DEFAULT_QUERY, refId: 'M', mode: 'map', mapTapSideMode: 'all' }])));
    expect(fetchMock.mock.calls[0][0].url).toBe('/api/datasources/proxy/uid/mf/metaflow/v1/map');
    expect(fetchMock.mock.calls[0][0].data).toMatchObject({ level: 'service', tapSideMode: 'all' });
    expect(response.data.map((f) => f.name)).toEqual(['nodes', 'edges']);
    expect(response.data[0].meta?.preferredVisualisationType).toBe('nodeGraph');
  });

  it('reports the API’s error message under the query’s refId', async () => {
    fetchMock.mockReturnValue(throwError(() => ({ status: 400, data: { error: 'application has no metric "x"' } })));
    const ds = new DataSource(instanceSettings());
    const response = await lastValueFrom(ds.query(request([{ ...DEFAULT_QUERY, refId: 'E' }])));
    expect(response.errors).toEqual([{ refId: 'E', message: 'MetaFlow: application has no metric "x"' }]);
  });

  it('health check names the agent version and how fresh its data is', async () => {
    fetchMock.mockReturnValue(of({ data: { status: 'ok', version: '0.2.0', store: 'chdb:/data', newest: { network: Date.now() - 30_000, application: null } } }));
    const ds = new DataSource(instanceSettings());
    const result = await ds.testDatasource();
    expect(result.status).toBe('success');
    expect(result.message).toMatch(/^MetaFlow agent 0\.2\.0 \(chdb:\/data\): newest data 3\d s old\.$/);
    fetchMock.mockReturnValue(throwError(() => ({ status: 502, statusText: 'Bad Gateway', data: {} })));
    await expect(ds.testDatasource()).resolves.toEqual({ status: 'error', message: 'MetaFlow: Bad Gateway' });
  });

  it('template variables and ad-hoc filters list tag values from the API', async () => {
    fetchMock.mockReturnValue(of({ data: ['a', 'b'] }));
    const ds = new DataSource(instanceSettings());
    const values = await ds.metricFindQuery('tag_values(network, ip, 10.)', { range: { from: dateTime(0), to: dateTime(5000), raw: { from: '', to: '' } } });
    expect(values).toEqual([
      { text: 'a', value: 'a' },
      { text: 'b', value: 'b' },
    ]);
    expect(fetchMock.mock.calls[0][0].url).toBe('/api/datasources/proxy/uid/mf/metaflow/v1/tables/network/tags/ip/values?prefix=10.&from=0&to=5000');
    fetchMock.mockReturnValue(of({ data: [{ name: 'service', type: 'String' }] }));
    expect(await ds.getTagKeys()).toEqual([{ text: 'service', value: 'service' }]);
  });
});

describe('variables outside dashboards', () => {
  it('interpolateVariablesInQueries writes multi-value variables in as several values (alert rules from panels)', () => {
    const ds = new DataSource(instanceSettings());
    const [q] = ds.interpolateVariablesInQueries(
      [{ ...DEFAULT_QUERY, refId: 'A', filters: [{ tag: 'service', op: '=', values: ['$service', 'c'] }], groupBy: ['$service'], tapSide: ['s'], sql: 'x = $service' }],
      {},
    );
    expect(q.filters).toEqual([{ tag: 'service', op: '=', values: ['a', 'b', 'c'] }]);
    expect(q.groupBy).toEqual(['a', 'b']);
    expect(q.tapSide).toEqual(['s']);
    expect(q.sql).toBe('x = a,b');
    expect(q.datasource).toEqual({ type: 'metaflow-datasource', uid: 'mf' });
  });

  it('values a query recorded fill in variables the dashboard does not have; the dashboard\'s own win', async () => {
    fetchMock.mockReturnValue(of({ data: { frames: [frame], sql: 'SQL' } }));
    const ds = new DataSource(instanceSettings());
    await lastValueFrom(
      ds.query(
        request([
          {
            ...DEFAULT_QUERY,
            refId: 'A',
            filters: [
              { tag: 'service', op: '=', values: ['$service'] },
              { tag: 'endpoint', op: '=', values: ['$endpoint'] },
            ],
            variables: { service: ['ignored'], endpoint: ['/x', '/y'] },
          },
        ]),
      ),
    );
    expect(fetchMock.mock.calls[0][0].data.filters).toEqual([
      { tag: 'service', op: 'in', values: ['a', 'b'] },
      { tag: 'endpoint', op: 'in', values: ['/x', '/y'] },
    ]);
  });

  it('variablesOf lists the variables a query uses', () => {
    const ds = new DataSource(instanceSettings());
    expect(ds.variablesOf({ ...DEFAULT_QUERY, refId: 'A', groupBy: ['${by}'], filters: [{ tag: 'x', op: '=', values: ['$a', '[[b]]'] }] })).toEqual(['by', 'a', 'b']);
  });
});

describe('helpers', () => {
  it('expandValues reads the lists listFormat writes, IPv6 brackets included', () => {
    expect(expandValues(listFormat(['a', 'b']))).toEqual(['a', 'b']);
    expect(expandValues(listFormat('a') + listFormat(['b']))).toEqual(['a', 'b']);
    expect(expandValues(listFormat(['[::1]:18080', '127.0.0.1:80']))).toEqual(['[::1]:18080', '127.0.0.1:80']);
    expect(expandValues('plain')).toEqual(['plain']);
    expect(expandValues('[::1]:80')).toEqual(['[::1]:80']);
  });

  it('describeAge', () => {
    expect(describeAge(5_000)).toBe('5 s');
    expect(describeAge(600_000)).toBe('10 min');
    expect(describeAge(10 * 3_600_000)).toBe('10 h');
    expect(describeAge(5 * 86_400_000)).toBe('5 days');
  });
});
