/**
 * The harness page: a minimal Grafana host for the MetaFlow datasource plugin.
 *
 * It shares Grafana's packages with plugins through an AMD registry, loads the BUILT plugin
 * (public/plugins/metaflow-datasource/module.js, i.e. dist/datasource/module.js) with the AMD
 * loader, instantiates `plugin.DataSourceClass` for each configured data source (settings from the
 * harness server, which keeps the token to itself like Grafana), renders the plugin's QueryEditor
 * inside Grafana's ThemeContext, and exposes `window.harness` for the test. The Grafana host pieces
 * are the service-map preview's (preview/host/).
 */
/* global window, document, location, fetch, URLSearchParams, requestAnimationFrame -- browser */
import * as grafanaData from '@grafana/data';
import * as grafanaUi from '@grafana/ui';
import * as React from 'react';
import * as ReactDOMClient from 'react-dom/client';

import { createAmdLoader } from '../../preview/host/amd-loader.js';
import { loadDataSources, queryRequest, runRequest } from '../../preview/host/datasource-host.js';
import { missingExports, requestLog, templateSrv } from '../../preview/host/grafana-runtime.js';
import { collectPageErrors, errorBoundary } from '../../preview/host/page-errors.js';
import { sharedModules } from '../../preview/host/shared-modules.js';
import { absoluteTimeRange } from '../../preview/host/time-range.js';

const { CoreApp, ThemeContext, createTheme } = grafanaData;
const { GlobalStyles } = grafanaUi;
const h = React.createElement;


const harness = {
  ready: false,
  errors: [],
  renderCount: 0,
  runs: 0,
  instances: {},
  instanceSettings: [],
  requests: requestLog,
  missingRuntimeExports: missingExports,
};
window.harness = harness;
collectPageErrors(harness.errors);
const ErrorBoundary = errorBoundary(harness.errors);

function App({ datasource, initialQuery, range }) {
  const [query, setQuery] = React.useState(initialQuery);
  const [mode, setMode] = React.useState('light');
  const theme = React.useMemo(() => createTheme({ colors: { mode } }), [mode]);
  harness.query = query;
  harness.themeMode = mode;
  harness.setQuery = setQuery;
  harness.setThemeMode = setMode;
  React.useEffect(() => {
    harness.renderCount++;
  });
  const QueryEditor = datasource.components.QueryEditor;
  const onChange = (next) => setQuery(next);
  const onRunQuery = () => harness.runs++;
  return h(
    ThemeContext.Provider,
    { value: theme },
    h(GlobalStyles),
    h(
      'main',
      { 'data-testid': 'harness-editor-host', 'data-theme': mode, style: { padding: 16, minHeight: '100vh', background: theme.colors.background.canvas } },
      h('h2', { style: { fontSize: 14 } }, `Query editor — ${datasource.name}`),
      h(
        'div',
        { style: { padding: 8, background: theme.colors.background.primary, border: `1px solid ${theme.colors.border.weak}` } },
        h(ErrorBoundary, null, h(QueryEditor, { datasource, query, onChange, onRunQuery, range, app: CoreApp.Explore, queries: [query] })),
      ),
    ),
  );
}

function serialiseFrames(frames) {
  return frames.map((f) => ({
    name: f.name,
    refId: f.refId,
    meta: f.meta,
    length: f.length,
    fields: f.fields.map((field) => ({
      name: field.name,
      type: field.type,
      values: Array.from(field.values),
      labels: field.labels,
      unit: field.config?.unit,
      displayNameFromDS: field.config?.displayNameFromDS,
      links: field.config?.links?.length ?? 0,
    })),
  }));
}

/** Runs queries like a panel: a DataQueryRequest over a time range, the response serialised. */
harness.runQuery = async (query, { uid, from, to, intervalMs = 60_000 } = {}) => {
  const ds = harness.instances[uid ?? harness.defaultUid];
  const range = absoluteTimeRange(from ?? harness.range.from.valueOf(), to ?? harness.range.to.valueOf());
  const response = await runRequest(ds, queryRequest(ds, Array.isArray(query) ? query : [query], range, { intervalMs }));
  return { data: serialiseFrames(response.data ?? []), errors: response.errors, error: response.error };
};

harness.testDatasource = (uid) => harness.instances[uid ?? harness.defaultUid].testDatasource();
harness.setVariables = (variables) => templateSrv.setVariables(variables);

/** Switches the editor's theme and resolves once it is painted. */
harness.setTheme = (mode) =>
  new Promise((resolve) => {
    harness.setThemeMode(mode);
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(harness.themeMode)));
  });

async function boot() {
  const params = new URLSearchParams(location.search);
  harness.range = absoluteTimeRange(Number(params.get('from') ?? Date.now() - 3_600_000), Number(params.get('to') ?? Date.now()));

  // What Grafana's boot data holds about the data sources: no secrets, only which are set.
  const settings = await (await fetch('api/harness/datasources')).json();
  harness.instanceSettings = settings;
  const loaded = await loadDataSources(settings, createAmdLoader(sharedModules));
  harness.pluginExports = loaded.exportNames;
  harness.instances = loaded.instances;
  harness.defaultUid = params.get('uid') ?? settings[0].uid;
  const datasource = harness.instances[harness.defaultUid];
  const initialQuery = { refId: 'A', datasource: datasource.getRef(), ...datasource.getDefaultQuery(CoreApp.Explore) };
  ReactDOMClient.createRoot(document.getElementById('reactRoot')).render(h(App, { datasource, initialQuery, range: harness.range }));
  harness.ready = true;
}

boot().catch((e) => {
  harness.errors.push(`boot: ${e?.stack ?? e}`);
  harness.bootError = String(e?.message ?? e);
});
