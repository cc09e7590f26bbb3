import type { MetaFlowDataSourceOptions } from '../../src/datasource/types';
import type { PluginContext } from './protocol/services';

/** What a request needs of the data source's configuration. */
export interface DataSourceSettings {
  uid: string;
  name: string;
  apiUrl: string;
  apiToken?: string;
  defaultTapSide: string[];
}

export class SettingsError extends Error {}

/** The data source instance settings Grafana sends with every call, checked. */
export function settingsFrom(context: PluginContext | null | undefined): DataSourceSettings {
  const instance = context?.dataSourceInstanceSettings;
  if (!instance) throw new SettingsError('the request carries no data source settings');
  let jsonData: MetaFlowDataSourceOptions = {};
  if (instance.jsonData?.length) {
    try {
      jsonData = JSON.parse(instance.jsonData.toString('utf8')) as MetaFlowDataSourceOptions;
    } catch (e) {
      throw new SettingsError(`the data source's jsonData is not JSON: ${(e as Error).message}`);
    }
  }
  const apiUrl = (jsonData.apiUrl ?? '').trim().replace(/\/+$/, '');
  if (!apiUrl) throw new SettingsError('the data source has no API URL: set it in the data source settings (apiUrl)');
  if (!/^https?:\/\//i.test(apiUrl)) throw new SettingsError(`the data source's API URL must start with http:// or https:// (got ${apiUrl})`);
  const token = instance.decryptedSecureJsonData?.apiToken;
  return { uid: instance.uid, name: instance.name, apiUrl, apiToken: token || undefined, defaultTapSide: jsonData.defaultTapSide ?? [] };
}
