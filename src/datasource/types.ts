import { DataQuery, DataSourceJsonData } from '@grafana/schema';

/** Version of the MetaFlowQuery model; saved queries carry it so later versions can migrate them. */
export const QUERY_MODEL_VERSION = 1;

/** A query of the MetaFlow data source, as stored in dashboards. */
export interface MetaFlowQuery extends DataQuery {
  version: number;
}

export const DEFAULT_QUERY: Partial<MetaFlowQuery> = {
  version: QUERY_MODEL_VERSION,
};

/** Settings stored in the data source's jsonData. The query API's URL is the data source's own `url`. */
export type MetaFlowDataSourceOptions = DataSourceJsonData;
