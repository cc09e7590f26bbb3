/**
 * Data source plugins as Grafana runs them: the BUILT module loaded through the AMD loader, one
 * `plugin.DataSourceClass` instance per data source of the boot data (instance settings without
 * secrets), and queries sent as a dashboard panel sends them, through the instance's own
 * `query()`.
 */
import { CoreApp } from '@grafana/data';
import * as rxjs from 'rxjs';

/**
 * Instantiates the data sources of one plugin from their instance settings (each with the plugin's
 * `meta`, whose `module` is the URL of its module.js). Resolves with the plugin, the names its
 * module exports, and the instances by uid.
 */
export async function loadDataSources(settings, importModule) {
  const meta = settings[0].meta;
  const pluginExports = await importModule(meta.module);
  const plugin = pluginExports.plugin;
  if (!plugin || typeof plugin.DataSourceClass !== 'function') throw new Error(`${meta.module} exports no DataSourcePlugin`);
  plugin.meta = meta;
  const instances = {};
  for (const s of settings) {
    const ds = new plugin.DataSourceClass(s);
    ds.components = plugin.components;
    ds.meta = ds.meta ?? s.meta;
    instances[s.uid] = ds;
  }
  return { plugin, exportNames: Object.keys(pluginExports), instances };
}

let requestCounter = 0;

/** A DataQueryRequest as a dashboard panel makes one: the queries (refIds A, B…) over a time range. */
export function queryRequest(datasource, queries, range, { intervalMs = 60_000 } = {}) {
  const targets = queries.map((q, i) => ({ refId: String.fromCharCode(65 + i), datasource: datasource.getRef(), ...q }));
  const interval = `${Math.round(intervalMs / 1000)}s`;
  return {
    requestId: `Q${++requestCounter}`,
    app: CoreApp.Dashboard,
    range,
    interval,
    intervalMs,
    maxDataPoints: 1000,
    scopedVars: { __interval: { text: interval, value: interval }, __interval_ms: { text: String(intervalMs), value: intervalMs } },
    targets,
    timezone: 'utc',
    startTime: Date.now(),
    filters: [],
  };
}

/** Runs a request through the data source's `query()` (an Observable or a Promise); resolves with the DataQueryResponse. */
export function runRequest(datasource, request) {
  const result = datasource.query(request);
  if (result && typeof result.subscribe === 'function') return rxjs.lastValueFrom(result);
  return Promise.resolve(result);
}
