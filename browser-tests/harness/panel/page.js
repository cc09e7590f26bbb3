/**
 * The panel harness page: a minimal Grafana host for a panel plugin, for the browser tests.
 *
 * It shares Grafana's packages with plugins through the AMD registry, loads the BUILT panel
 * (public/plugins/<id>/module.js, i.e. dist/panels/<panel>/module.js) and renders it with
 * PanelProps through the host modules the service-map preview uses too (preview/host/:
 * panel-host.js, data-link-variables.js), inside Grafana's ThemeContext. `window.harness` drives
 * it: frames, theme, options, variables, migrations, and timed fresh mounts.
 */
/* global window, document, location, URLSearchParams, requestAnimationFrame, performance -- browser */
import * as grafanaData from '@grafana/data';
import * as grafanaUi from '@grafana/ui';
import * as React from 'react';
import * as ReactDOMClient from 'react-dom/client';

import { createAmdLoader } from '../../../preview/host/amd-loader.js';
import { missingExports, templateSrv } from '../../../preview/host/grafana-runtime.js';
import { collectPageErrors, errorBoundary } from '../../../preview/host/page-errors.js';
import { loadPanelPlugin, migratePanelOptions, PanelHost } from '../../../preview/host/panel-host.js';
import { sharedModules } from '../../../preview/host/shared-modules.js';
import { absoluteTimeRange } from '../../../preview/host/time-range.js';

const { ThemeContext, createTheme, toDataFrame } = grafanaData;
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

/** The test page around the panel: its theme, a canvas-coloured page, a panel-coloured box. */
function HarnessPage({ plugin, state, request }) {
  const theme = React.useMemo(() => createTheme({ colors: { mode: state.mode } }), [state.mode]);
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
              h(PanelHost, {
                plugin,
                frames: state.frames,
                request,
                timeRange: harness.range,
                options: state.options,
                fieldConfig: state.fieldConfig,
                width,
                height,
                panelId: state.panelKey,
                title: 'Service map',
                variablesRevision: state.variablesRevision,
                onOptionsChange: (options) => harness.update({ options }),
                onFieldConfigChange: (fieldConfig) => harness.update({ fieldConfig }),
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

let request;

function Root({ initial }) {
  const [state, setState] = React.useState(initial);
  setHostState = setState;
  hostState = state;
  React.useEffect(() => {
    harness.renders++;
  });
  return h(HarnessPage, { plugin, state, request });
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

/** A saved panel model through the plugin's migration, as Grafana runs it when a dashboard loads. */
harness.migrate = (panelModel) => migratePanelOptions(plugin, panelModel);

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
  harness.range = absoluteTimeRange(Number(params.get('from') ?? Date.now() - 3_600_000), Number(params.get('to') ?? Date.now()));
  // What a dashboard's query runner hands the panel with its frames: the panel's links name its data source.
  request = { requestId: 'Q1', targets: [{ refId: 'A', datasource: { type: 'metaflow-datasource', uid: 'metaflow' } }], range: harness.range, timezone: 'utc' };
  const id = params.get('plugin');
  if (!id) throw new Error('no ?plugin=<panel plugin id>');
  const loaded = await loadPanelPlugin(id, createAmdLoader(sharedModules));
  plugin = loaded.plugin;
  harness.pluginExports = loaded.exportNames;
  harness.pluginId = plugin.meta.id;
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
