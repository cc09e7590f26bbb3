/**
 * The service-map preview: the map of what a MetaFlow store holds, drawn by the project's own
 * Grafana plugins without a Grafana. The agent serves this page (`metaflow serve --preview`) in the
 * role of the Grafana server: the BUILT data source (dist/datasource/module.js) is instantiated
 * from the instance settings the agent hands out and runs a `mode: 'map'` query through its own
 * `query()`, i.e. its ApiClient and the agent's data source proxy route, which adds the API token
 * on the server; the BUILT service-map panel (dist/panels/service-map/module.js) draws the frames.
 *
 * URL parameters: `from`, `to` (epoch ms) pin the time range, otherwise it ends with the newest
 * stored data (the API's health) and spans an hour; `theme` (light, dark). `window.preview` tells a
 * browser test what happened.
 */
/* global window, document, location, URLSearchParams, ResizeObserver -- browser */
import * as grafanaData from '@grafana/data';
import * as grafanaUi from '@grafana/ui';
import * as React from 'react';
import * as ReactDOMClient from 'react-dom/client';
import { lastValueFrom } from 'rxjs';

import { createAmdLoader } from './host/amd-loader.js';
import { loadDataSources, queryRequest, runRequest } from './host/datasource-host.js';
import { getBackendSrv, missingExports, requestLog } from './host/grafana-runtime.js';
import { collectPageErrors, errorBoundary } from './host/page-errors.js';
import { loadPanelPlugin, migratePanelOptions, PanelHost } from './host/panel-host.js';
import { sharedModules } from './host/shared-modules.js';
import { absoluteTimeRange } from './host/time-range.js';

const { CoreApp, LoadingState, ThemeContext, createTheme, dateTimeFormat } = grafanaData;
const { Alert, Button, GlobalStyles, RadioButtonGroup } = grafanaUi;
const h = React.createElement;

/** The panel this page shows, among those the agent serves. */
const SERVICE_MAP_PANEL = 'metaflow-servicemap-panel';
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const THEMES = [
  { label: 'Light', value: 'light' },
  { label: 'Dark', value: 'dark' },
];

const preview = {
  ready: false,
  errors: [],
  requests: requestLog,
  missingRuntimeExports: missingExports,
  queries: 0,
};
window.preview = preview;
collectPageErrors(preview.errors);
const ErrorBoundary = errorBoundary(preview.errors);

/**
 * The range to show when the URL pins none: the hour up to the end of the minute of the newest
 * stored second, from the API's health (through the data source's proxy route, as the plugin
 * reaches the API); the last hour when nothing is stored.
 */
async function rangeOfStoredData(datasource) {
  const route = datasource.meta.routes?.[0]?.path ?? 'metaflow';
  const response = await lastValueFrom(getBackendSrv().fetch({ method: 'GET', url: `api/datasources/proxy/uid/${datasource.uid}/${route}/v1/health` }));
  const newest = Math.max(0, ...Object.values(response.data.newest ?? {}).map((t) => t ?? 0));
  const to = newest > 0 ? Math.ceil((newest + 1000) / MINUTE_MS) * MINUTE_MS : Date.now();
  return { range: absoluteTimeRange(to - HOUR_MS, to), stored: newest > 0 };
}

/** The panel's query: the service map (services as nodes, each edge at its preferred tap side). */
function mapQuery(datasource) {
  return { ...datasource.getDefaultQuery(CoreApp.Dashboard), mode: 'map', mapLevel: 'service', mapTapSideMode: 'preferred' };
}

/** Width and height of an element, following its resizes. */
function useSize(ref) {
  const [size, setSize] = React.useState({ width: 0, height: 0 });
  React.useEffect(() => {
    const observer = new ResizeObserver(([entry]) => setSize({ width: Math.floor(entry.contentRect.width), height: Math.floor(entry.contentRect.height) }));
    observer.observe(ref.current);
    return () => observer.disconnect();
  }, [ref]);
  return size;
}

function errorMessage(e) {
  return e?.data?.message ?? e?.message ?? String(e);
}

function Preview({ datasource, panelPlugin, panelOptions, pinnedRange, initialMode }) {
  const [mode, setMode] = React.useState(initialMode);
  const theme = React.useMemo(() => createTheme({ colors: { mode } }), [mode]);
  const [result, setResult] = React.useState({ state: LoadingState.NotStarted, frames: [], request: undefined, range: pinnedRange, errors: [], note: undefined });
  const [options, setOptions] = React.useState(panelOptions);
  const [fieldConfig, setFieldConfig] = React.useState({ defaults: {}, overrides: [] });
  const panelBox = React.useRef(null);
  const { width, height } = useSize(panelBox);

  const refresh = React.useCallback(async () => {
    setResult((r) => ({ ...r, state: LoadingState.Loading }));
    try {
      const { range, stored } = pinnedRange ? { range: pinnedRange, stored: true } : await rangeOfStoredData(datasource);
      const request = queryRequest(datasource, [mapQuery(datasource)], range);
      preview.queries++;
      const response = await runRequest(datasource, request);
      const errors = (response.errors ?? []).map((e) => e.message ?? String(e));
      setResult({ state: errors.length ? LoadingState.Error : LoadingState.Done, frames: response.data ?? [], request, range, errors, note: stored ? undefined : 'The store holds no data yet.' });
      preview.range = { from: range.from.valueOf(), to: range.to.valueOf() };
      preview.queryErrors = errors;
    } catch (e) {
      setResult((r) => ({ ...r, state: LoadingState.Error, errors: [errorMessage(e)] }));
      preview.queryErrors = [errorMessage(e)];
    }
    preview.ready = true;
  }, [datasource, pinnedRange]);

  React.useEffect(() => {
    refresh();
  }, [refresh]);

  const range = result.range;
  const rangeText = range ? `${dateTimeFormat(range.from)} – ${dateTimeFormat(range.to)}` : '';
  const loading = result.state === LoadingState.Loading || result.state === LoadingState.NotStarted;
  return h(
    ThemeContext.Provider,
    { value: theme },
    h(GlobalStyles),
    h(
      'div',
      { 'data-testid': 'preview', 'data-theme': mode, style: { display: 'flex', flexDirection: 'column', height: '100vh', boxSizing: 'border-box', padding: theme.spacing(2), gap: theme.spacing(2), background: theme.colors.background.canvas } },
      h(
        'header',
        { style: { display: 'flex', alignItems: 'center', gap: theme.spacing(2), flexWrap: 'wrap' } },
        h(
          'div',
          { style: { flex: 1, minWidth: 0 } },
          h('h1', { style: { fontSize: theme.typography.h3.fontSize, margin: 0 } }, 'MetaFlow service map'),
          h('div', { style: { color: theme.colors.text.secondary } }, `What the store holds, drawn by the Grafana plugins' own code: the ${datasource.name} data source and the service-map panel.`),
          h('div', { style: { color: theme.colors.text.secondary } }, 'Time range: ', h('span', { 'data-testid': 'preview-range' }, rangeText)),
        ),
        h(RadioButtonGroup, { options: THEMES, value: mode, onChange: setMode, 'aria-label': 'theme' }),
        // 'sync', not 'spinner': @grafana/ui's package holds no spinner icon, Grafana's server adds it.
        h(Button, { icon: 'sync', variant: 'secondary', onClick: refresh, disabled: loading }, loading ? 'Refreshing…' : 'Refresh'),
      ),
      result.errors.length
        ? h(Alert, { title: 'The data source returned an error', severity: 'error', 'data-testid': 'preview-error' }, result.errors.map((m, i) => h('div', { key: i }, m)))
        : null,
      result.note ? h(Alert, { title: result.note, severity: 'info' }) : null,
      h(
        'section',
        { 'aria-label': 'service map panel', style: { flex: 1, minHeight: 320, display: 'flex', padding: theme.spacing(1), background: theme.colors.background.primary, border: `1px solid ${theme.colors.border.weak}`, borderRadius: theme.shape.radius.default } },
        h(
          'div',
          { ref: panelBox, 'data-testid': 'preview-panel', style: { flex: 1, minWidth: 0, overflow: 'hidden' } },
          result.request && width > 0 && height > 0
            ? h(
                ErrorBoundary,
                null,
                h(PanelHost, {
                  plugin: panelPlugin,
                  frames: result.frames,
                  request: result.request,
                  timeRange: result.range,
                  options,
                  fieldConfig,
                  width,
                  height,
                  title: 'Service map',
                  loadingState: result.state,
                  onOptionsChange: setOptions,
                  onFieldConfigChange: setFieldConfig,
                }),
              )
            : null,
        ),
      ),
    ),
  );
}

/** Grafana's boot data as the agent gives it: the preview's data source (no secrets) and the panels. */
async function frontendSettings() {
  const response = await window.fetch('api/frontend/settings');
  if (!response.ok) throw new Error(`api/frontend/settings: ${response.status} ${await response.text()}`);
  return response.json();
}

async function boot() {
  const params = new URLSearchParams(location.search);
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  const pinnedRange = params.has('from') && params.has('to') && to > from ? absoluteTimeRange(from, to) : undefined;
  const settings = await frontendSettings();
  const importModule = createAmdLoader(sharedModules);
  const datasourceSettings = Object.values(settings.datasources);
  const { instances } = await loadDataSources(datasourceSettings, importModule);
  const datasource = instances[datasourceSettings[0].uid];
  if (!settings.panels[SERVICE_MAP_PANEL]) throw new Error(`the agent serves no ${SERVICE_MAP_PANEL} plugin`);
  const { plugin: panelPlugin } = await loadPanelPlugin(SERVICE_MAP_PANEL, importModule);
  const { options: panelOptions } = await migratePanelOptions(panelPlugin, { options: {}, pluginVersion: undefined });
  preview.datasourceUid = datasource.uid;
  const initialMode = params.get('theme') === 'dark' || (params.get('theme') !== 'light' && window.matchMedia?.('(prefers-color-scheme: dark)').matches) ? 'dark' : 'light';
  ReactDOMClient.createRoot(document.getElementById('reactRoot')).render(h(Preview, { datasource, panelPlugin, panelOptions, pinnedRange, initialMode }));
}

boot().catch((e) => {
  preview.errors.push(`boot: ${e?.stack ?? e}`);
  preview.bootError = errorMessage(e);
  const message = document.createElement('pre');
  message.setAttribute('role', 'alert');
  message.setAttribute('data-testid', 'preview-boot-error');
  message.textContent = `The preview could not start: ${preview.bootError}`;
  document.getElementById('reactRoot').replaceChildren(message);
});
