/**
 * The preview's boot data, shaped as Grafana's `/api/frontend/settings`: the data source's instance
 * settings (what `new DataSourceClass(settings)` gets: no secrets, only which are set) and the
 * panels' meta, each plugin's module under `public/plugins/<id>/` where Grafana serves it.
 */
import { BuiltPlugin, PreviewBuild } from './preview-build';

/** The preview's data source: the uid and name the provisioned Grafana data source has too. */
export const PREVIEW_DATASOURCE = { uid: 'metaflow', name: 'MetaFlow' } as const;

/**
 * Its jsonData. An empty API URL makes the plugin.json route's URL (`{{ .JsonData.apiUrl }}/api`)
 * a path of this server: the agent's own API, which the preview's proxy calls in-process.
 */
export const PREVIEW_JSON_DATA = { apiUrl: '', defaultTapSide: [] as string[] };

/** The secureJsonData the proxy fills the route's headers from; never sent to the browser. */
export function previewSecureJsonData(token: string | undefined): Record<string, string> {
  return token ? { apiToken: token } : {};
}

function pluginMeta(plugin: BuiltPlugin): Record<string, unknown> {
  const baseUrl = `public/plugins/${plugin.id}`;
  return { ...plugin.json, module: `${baseUrl}/module.js`, baseUrl };
}

export function frontendSettings(build: PreviewBuild, token: string | undefined): { datasources: Record<string, unknown>; panels: Record<string, unknown> } {
  const datasource = {
    id: 1,
    ...PREVIEW_DATASOURCE,
    type: build.datasource.id,
    access: 'proxy',
    isDefault: true,
    readOnly: true,
    jsonData: PREVIEW_JSON_DATA,
    secureJsonFields: Object.fromEntries(Object.keys(previewSecureJsonData(token)).map((key) => [key, true])),
    meta: pluginMeta(build.datasource),
  };
  return {
    datasources: { [PREVIEW_DATASOURCE.name]: datasource },
    panels: Object.fromEntries(build.panels.map((p) => [p.id, pluginMeta(p)])),
  };
}
