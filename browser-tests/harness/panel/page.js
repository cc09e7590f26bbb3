/**
 * The panel harness page: a minimal Grafana host for a panel plugin.
 *
 * It shares Grafana's packages with plugins through the AMD registry (as ../page.js does), loads
 * the BUILT panel (public/plugins/<id>/module.js, i.e. dist/panels/<panel>/module.js) with the AMD
 * loader, runs the plugin's migration handler on the saved panel model as Grafana does, and renders
 * `plugin.panel` inside Grafana's ThemeContext with PanelProps: data frames passed through
 * `applyFieldOverrides` (display processors, data links from the field config), the time range, and
 * a `replaceVariables` with Grafana's data-link macros (`${__data.fields.x}`, `${__url_time_range}`,
 * `${__from}`, `${__to}`), dashboard variables and formats. `window.harness` drives it.
 */
/* global window, document, location, URLSearchParams, requestAnimationFrame, performance -- browser */
import * as grafanaData from '@grafana/data';
import * as grafanaUi from '@grafana/ui';
import * as lodash from 'lodash';
import * as React from 'react';
import * as ReactDOMClient from 'react-dom/client';

import { createAmdLoader } from '../amd-loader.js';
import { collectPageErrors, errorBoundary } from '../page-errors.js';
import { sharedModules } from '../shared-modules.js';
import { missingExports, templateSrv } from '../grafana-runtime.js';

const { ThemeContext, createTheme, dateTime, applyFieldOverrides, toDataFrame, EventBusSrv, LoadingState } = grafanaData;
const { GlobalStyles } = grafanaUi;
const h = React.createElement;


const harness = {
  ready: false,
  errors: [],
  missingRuntimeExports: missingExports,
  renders: 0,
};
window.harness = harness;
collectPageErrors(harness.errors);
const ErrorBoundary = errorBoundary(harness.errors);

// ---------------------------------------------------------------- variables, as Grafana interpolates data links

function formatValue(value, format) {
  const values = Array.isArray(value) ? value.map(String) : [String(value ?? '')];
  switch (format) {
    case 'uriencode':
    case 'percentencode':
      return values.map((v) => encodeURIComponent(v)).join(',');
    case 'csv':
    case 'raw':
      return values.join(',');
    case 'pipe':
      return values.join('|');
    case 'json':
      return JSON.stringify(value);
    default:
      return values.length > 1 ? `{${values.join(',')}}` : values[0];
  }
}

/** `${__data.fields.name}` (by name or display name; `.raw` for the raw value) of the link's row. */
function dataMacro(path, scopedVars) {
  const ctx = scopedVars?.__dataContext?.value;
  const m = /^fields(?:\.|\[")(.+?)(?:"\])?(\.raw)?$/.exec(path);
  if (!ctx?.frame || !m || ctx.rowIndex === undefined) return undefined;
  const field = ctx.frame.fields.find((f) => f.name === m[1] || f.config?.displayNameFromDS === m[1] || f.state?.displayName === m[1]);
  if (!field) return undefined;
  const raw = field.values[ctx.rowIndex];
  if (m[2] || !field.display) return raw;
  return grafanaData.formattedValueToString(field.display(raw));
}

function interpolate(value, scopedVars, format) {
  if (value === undefined || value === null) return '';
  const range = harness.range;
  return String(value).replace(/\$\{([^}:]+)(?::([^}]+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)/g, (match, expr, fmt1, bracket, fmt2, plain) => {
    const name = expr ?? bracket ?? plain;
    const fmt = fmt1 ?? fmt2 ?? format;
    if (name === '__url_time_range') return `from=${range.from.valueOf()}&to=${range.to.valueOf()}`;
    if (name === '__from') return String(range.from.valueOf());
    if (name === '__to') return String(range.to.valueOf());
    if (name.startsWith('__data.')) {
      const v = dataMacro(name.slice('__data.'.length), scopedVars);
      return v === undefined ? match : formatValue(v, fmt);
    }
    const [head, ...path] = name.split('.');
    const scoped = scopedVars?.[head];
    if (scoped && head !== '__dataContext') {
      const v = path.length && typeof scoped.value === 'object' ? lodash.get(scoped.value, path) : scoped.value;
      return formatValue(v, fmt);
    }
    const variable = templateSrv.variables.get(head);
    return variable ? formatValue(variable.current.value, fmt) : match;
  });
}

// ---------------------------------------------------------------- the panel host

function PanelHost({ plugin, state }) {
  const theme = React.useMemo(() => createTheme({ colors: { mode: state.mode } }), [state.mode]);
  const eventBus = React.useMemo(() => new EventBusSrv(), []);
  // A new function when variables change, as Grafana's panel gets: links are built again.
  const replaceVariables = React.useMemo(() => (value, scopedVars, format) => interpolate(value, scopedVars, format), [state.variablesRevision]);
  const series = React.useMemo(
    () =>
      applyFieldOverrides({
        data: state.frames,
        fieldConfig: state.fieldConfig,
        fieldConfigRegistry: plugin.fieldConfigRegistry,
        replaceVariables,
        theme,
        timeZone: 'utc',
      }),
    [state.frames, state.fieldConfig, replaceVariables, theme],
  );
  const data = React.useMemo(
    () => ({
      state: LoadingState.Done,
      series,
      timeRange: harness.range,
      request: { requestId: 'Q1', targets: [{ refId: 'A', datasource: { type: 'metaflow-datasource', uid: 'metaflow' } }], range: harness.range, timezone: 'utc' },
    }),
    [series],
  );
  React.useEffect(() => {
    harness.renders++;
  });
  const Panel = plugin.panel;
  const { width, height } = state.size;
  return h(
    ThemeContext.Provider,
    { value: theme },
    h(GlobalStyles),
    h(
      'main',
      { 'data-testid': 'harness-panel-host', 'data-theme': state.mode, style: { padding: 16, minHeight: '100vh', boxSizing: 'border-box', background: theme.colors.background.canvas } },
      h(
        'div',
        { 'data-testid': 'harness-panel', style: { width: width + 16, height: height + 16, padding: 8, boxSizing: 'border-box', background: theme.colors.background.primary, border: `1px solid ${theme.colors.border.weak}` } },
        state.mounted
          ? h(
              ErrorBoundary,
              { key: state.panelKey },
              h(Panel, {
                id: state.panelKey,
                data,
                timeRange: harness.range,
                timeZone: 'utc',
                options: state.options,
                fieldConfig: state.fieldConfig,
                transparent: false,
                width,
                height,
                renderCounter: 0,
                title: 'Service map',
                eventBus,
                onOptionsChange: (options) => harness.update({ options }),
                onFieldConfigChange: (fieldConfig) => harness.update({ fieldConfig }),
                replaceVariables,
                onChangeTimeRange: () => undefined,
              }),
            )
          : null,
      ),
    ),
  );
}

let plugin;
let setHostState;
let hostState;

function Root({ initial }) {
  const [state, setState] = React.useState(initial);
  setHostState = setState;
  hostState = state;
  return h(PanelHost, { plugin, state });
}

/** Resolves after the next two frames: React committed, the browser painted. */
const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));

harness.update = (patch) =>
  new Promise((resolve) => {
    setHostState((s) => ({ ...s, ...patch }));
    painted().then(resolve);
  });

/** Frames as the API sends them (DataFrameDTO-like), given refId A, as the data source would. */
harness.setFrames = (frames) => harness.update({ frames: frames.map((f) => toDataFrame({ refId: 'A', ...f })) });
harness.setTheme = (mode) => harness.update({ mode }).then(() => hostState.mode);
harness.setOptions = (options) => harness.update({ options: { ...hostState.options, ...options } });
harness.setFieldConfig = (fieldConfig) => harness.update({ fieldConfig });
harness.setVariables = (variables) => {
  templateSrv.setVariables(variables);
  return harness.update({ variablesRevision: (hostState.variablesRevision ?? 0) + 1 });
};
harness.state = () => ({ mode: hostState.mode, options: hostState.options, panelKey: hostState.panelKey, size: hostState.size });

/**
 * A saved panel model through the plugin's migration, as Grafana does when a dashboard loads:
 * the handler runs if the saved plugin version differs, or if the plugin's shouldMigrate says so.
 */
harness.migrate = async (panelModel) => {
  const model = { id: 1, type: plugin.meta.id, fieldConfig: { defaults: {}, overrides: [] }, ...panelModel };
  const differs = model.pluginVersion !== plugin.meta.info.version;
  if (plugin.onPanelMigration && (differs || plugin.shouldMigrate?.(model))) return { migrated: true, options: await plugin.onPanelMigration(model) };
  return { migrated: false, options: model.options };
};

/** Mounts the panel afresh (a new panel id: nothing remembered) with these frames; resolves when it says it is ready and painted. */
harness.mountFresh = async (frames, { timeoutMs = 30_000 } = {}) => {
  const dataFrames = frames.map((f) => toDataFrame({ refId: 'A', ...f }));
  await harness.update({ mounted: false });
  const t0 = performance.now();
  setHostState((s) => ({ ...s, mounted: true, frames: dataFrames, panelKey: s.panelKey + 1 }));
  const deadline = t0 + timeoutMs;
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const root = document.querySelector('[data-testid="metaflow-servicemap-panel"]');
    if (root?.getAttribute('data-render-state') === 'ready' && document.querySelectorAll('[data-testid="servicemap-node"]').length === Number(root.getAttribute('data-node-count'))) break;
    if (performance.now() > deadline) throw new Error('the panel did not become ready');
  }
  await painted();
  const t1 = performance.now();
  const root = document.querySelector('[data-testid="metaflow-servicemap-panel"]');
  return {
    ms: t1 - t0,
    layoutMs: Number(root.getAttribute('data-layout-ms')),
    engine: root.getAttribute('data-layout-engine'),
    nodes: document.querySelectorAll('[data-testid="servicemap-node"]').length,
    edges: document.querySelectorAll('[data-testid="servicemap-edge"]').length,
  };
};

async function boot() {
  const params = new URLSearchParams(location.search);
  const from = Number(params.get('from') ?? Date.now() - 3_600_000);
  const to = Number(params.get('to') ?? Date.now());
  harness.range = { from: dateTime(from), to: dateTime(to), raw: { from: dateTime(from), to: dateTime(to) } };
  const id = params.get('plugin');
  if (!id) throw new Error('no ?plugin=<panel plugin id>');
  const base = `public/plugins/${id}/`;
  const meta = await (await window.fetch(`${base}plugin.json`)).json();
  const importModule = createAmdLoader(sharedModules);
  const exports = await importModule(`${base}module.js`);
  plugin = exports.plugin;
  if (!plugin || !plugin.panel) throw new Error(`${base}module.js exports no PanelPlugin`);
  plugin.meta = { ...meta, module: `${base}module.js`, baseUrl: base.slice(0, -1) };
  harness.pluginExports = Object.keys(exports);
  harness.pluginId = meta.id;
  const initial = {
    mode: 'light',
    frames: [],
    options: (await harness.migrate({ options: {}, pluginVersion: undefined })).options,
    fieldConfig: { defaults: {}, overrides: [] },
    size: { width: Number(params.get('width') ?? 900), height: Number(params.get('height') ?? 520) },
    mounted: true,
    panelKey: 1,
    variablesRevision: 0,
  };
  ReactDOMClient.createRoot(document.getElementById('reactRoot')).render(h(Root, { initial }));
  await painted();
  harness.ready = true;
}

boot().catch((e) => {
  harness.errors.push(`boot: ${e?.stack ?? e}`);
  harness.bootError = String(e?.message ?? e);
});
