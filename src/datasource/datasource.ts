import {
  CoreApp,
  createDataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceApi,
  DataSourceInstanceSettings,
  TestDataSourceResponse,
} from '@grafana/data';

import { DEFAULT_QUERY, MetaFlowDataSourceOptions, MetaFlowQuery } from './types';

export class DataSource extends DataSourceApi<MetaFlowQuery, MetaFlowDataSourceOptions> {
  readonly url?: string;

  constructor(instanceSettings: DataSourceInstanceSettings<MetaFlowDataSourceOptions>) {
    super(instanceSettings);
    this.url = instanceSettings.url;
  }

  getDefaultQuery(_app: CoreApp): Partial<MetaFlowQuery> {
    return DEFAULT_QUERY;
  }

  /**
   * Answers every visible query with an empty frame under its refId. Reading data
   * from MetaFlow arrives with its query API, which this data source will call.
   */
  async query(request: DataQueryRequest<MetaFlowQuery>): Promise<DataQueryResponse> {
    const data = request.targets
      .filter((target) => !target.hide)
      .map((target) => createDataFrame({ refId: target.refId, fields: [] }));
    return { data };
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    if (!this.url) {
      return { status: 'error', message: 'Set the URL of the MetaFlow query API.' };
    }
    return {
      status: 'warning',
      message: `URL set to ${this.url}; the connection cannot be checked until MetaFlow has a query API.`,
    };
  }
}
