/**
 * Panel plugins as Grafana hosts them: the BUILT module (public/plugins/<id>/module.js) loaded
 * through the AMD loader, its migration handler run on the saved panel model, and `plugin.panel`
 * rendered with PanelProps: data frames passed through `applyFieldOverrides` (display processors,
 * data links from the field config), the time range and the request that made the frames, and a
 * `replaceVariables` with Grafana's data-link macros.
 */
/* global fetch -- browser */
import * as grafanaData from '@grafana/data';
import * as React from 'react';

import { dataLinkInterpolator } from './data-link-variables.js';
import { templateSrv } from './grafana-runtime.js';

const { ThemeContext, applyFieldOverrides, EventBusSrv, LoadingState } = grafanaData;
const h = React.createElement;

/** Loads the panel plugin `id` and gives it its meta, as Grafana does; resolves with it and the names its module exports. */
export async function loadPanelPlugin(id, importModule) {
  const base = `public/plugins/${id}/`;
  const response = await fetch(`${base}plugin.json`);
  if (!response.ok) throw new Error(`${base}plugin.json: ${response.status} ${await response.text()}`);
  const meta = await response.json();
  const pluginExports = await importModule(`${base}module.js`);
  const plugin = pluginExports.plugin;
  if (!plugin || !plugin.panel) throw new Error(`${base}module.js exports no PanelPlugin`);
  plugin.meta = { ...meta, module: `${base}module.js`, baseUrl: base.slice(0, -1) };
  return { plugin, exportNames: Object.keys(pluginExports) };
}

/**
 * A saved panel model through the plugin's migration, as Grafana does when a dashboard loads:
 * the handler runs if the saved plugin version differs, or if the plugin's shouldMigrate says so.
 */
export async function migratePanelOptions(plugin, panelModel) {
  const model = { id: 1, type: plugin.meta.id, fieldConfig: { defaults: {}, overrides: [] }, ...panelModel };
  const differs = model.pluginVersion !== plugin.meta.info.version;
  if (plugin.onPanelMigration && (differs || plugin.shouldMigrate?.(model))) return { migrated: true, options: await plugin.onPanelMigration(model) };
  return { migrated: false, options: model.options };
}

/**
 * `plugin.panel` with its PanelProps, in the theme of the ThemeContext around it. `timeRange` and
 * `request` must keep their identity between renders unless they change (the frames are processed
 * again when they do); a new `variablesRevision` gives the panel a new `replaceVariables`, as
 * Grafana's panels get when dashboard variables change, so that links are built again.
 */
export function PanelHost({ plugin, frames, request, timeRange, options, fieldConfig, width, height, panelId = 1, title = '', variablesRevision = 0, loadingState = LoadingState.Done, onOptionsChange, onFieldConfigChange }) {
  const theme = React.useContext(ThemeContext);
  const eventBus = React.useMemo(() => new EventBusSrv(), []);
  // variablesRevision stands for the dashboard variables templateSrv holds.
  const replaceVariables = React.useMemo(() => dataLinkInterpolator({ range: timeRange, templateSrv }), [timeRange, variablesRevision]);
  const series = React.useMemo(
    () => applyFieldOverrides({ data: frames, fieldConfig, fieldConfigRegistry: plugin.fieldConfigRegistry, replaceVariables, theme, timeZone: 'utc' }),
    [frames, fieldConfig, plugin, replaceVariables, theme],
  );
  const data = React.useMemo(() => ({ state: loadingState, series, timeRange, request }), [loadingState, series, timeRange, request]);
  return h(plugin.panel, {
    id: panelId,
    data,
    timeRange,
    timeZone: 'utc',
    options,
    fieldConfig,
    transparent: false,
    width,
    height,
    renderCounter: 0,
    title,
    eventBus,
    onOptionsChange: onOptionsChange ?? (() => undefined),
    onFieldConfigChange: onFieldConfigChange ?? (() => undefined),
    replaceVariables,
    onChangeTimeRange: () => undefined,
  });
}
