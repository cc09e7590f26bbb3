import { CoreApp, DataQueryRequest, DataSourceInstanceSettings, PluginType } from '@grafana/data';

import { DataSource } from './datasource';
import { plugin } from './module';
import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { MetaFlowDataSourceOptions, MetaFlowQuery, QUERY_MODEL_VERSION } from './types';

function instanceSettings(url?: string): DataSourceInstanceSettings<MetaFlowDataSourceOptions> {
  return {
    id: 1,
    uid: 'metaflow-test',
    type: 'metaflow-datasource',
    name: 'MetaFlow',
    access: 'proxy',
    readOnly: false,
    url,
    jsonData: {},
    meta: {
      id: 'metaflow-datasource',
      name: 'MetaFlow',
      type: PluginType.datasource,
      module: 'plugins/metaflow-app/datasource/module',
      baseUrl: 'public/plugins/metaflow-app',
      info: {
        author: { name: 'MetaFlow' },
        description: '',
        links: [],
        logos: { small: '', large: '' },
        screenshots: [],
        updated: '',
        version: '',
      },
    },
  };
}

function request(targets: MetaFlowQuery[]): DataQueryRequest<MetaFlowQuery> {
  return { targets } as unknown as DataQueryRequest<MetaFlowQuery>;
}

describe('MetaFlow DataSource', () => {
  it('keeps the settings it was constructed with', () => {
    const ds = new DataSource(instanceSettings('http://metaflow:8080'));
    expect(ds.uid).toBe('metaflow-test');
    expect(ds.name).toBe('MetaFlow');
    expect(ds.url).toBe('http://metaflow:8080');
  });

  it('gives new queries the current query model version', () => {
    const ds = new DataSource(instanceSettings());
    expect(ds.getDefaultQuery(CoreApp.Dashboard)).toEqual({ version: QUERY_MODEL_VERSION });
  });

  it('answers each visible query with an empty frame under its refId', async () => {
    const ds = new DataSource(instanceSettings());
    const response = await ds.query(
      request([
        { refId: 'A', version: QUERY_MODEL_VERSION },
        { refId: 'B', version: QUERY_MODEL_VERSION, hide: true },
        { refId: 'C', version: QUERY_MODEL_VERSION },
      ])
    );
    expect(response.data.map((frame) => frame.refId)).toEqual(['A', 'C']);
    for (const frame of response.data) {
      expect(frame.fields).toHaveLength(0);
      expect(frame.length).toBe(0);
    }
  });

  it('fails the connection test when no URL is set', async () => {
    const ds = new DataSource(instanceSettings());
    await expect(ds.testDatasource()).resolves.toMatchObject({ status: 'error' });
  });

  it('does not claim a working connection when a URL is set', async () => {
    const ds = new DataSource(instanceSettings('http://metaflow:8080'));
    const result = await ds.testDatasource();
    expect(result.status).toBe('warning');
    expect(result.message).toContain('http://metaflow:8080');
  });

  it('is registered by the plugin module with its editors', () => {
    expect(plugin.DataSourceClass).toBe(DataSource);
    expect(plugin.components.ConfigEditor).toBe(ConfigEditor);
    expect(plugin.components.QueryEditor).toBe(QueryEditor);
  });
});
