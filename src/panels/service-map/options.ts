/** The panel's options editor. */
import { PanelOptionsEditorBuilder } from '@grafana/data';

import { COLOR_METRICS, DEFAULT_OPTIONS, GROUPINGS, LABEL_MODES, ServiceMapOptions, SIZE_METRICS, TAP_SIDE_MODES, WIDTH_METRICS } from './types';

export function buildOptions(builder: PanelOptionsEditorBuilder<ServiceMapOptions>): void {
  const d = DEFAULT_OPTIONS;
  builder
    .addRadio({
      category: ['Map'],
      path: 'grouping',
      name: 'Grouping',
      description: 'Merge nodes on top of the level the query grouped by (the query sets service, process, IP, host or container)',
      defaultValue: d.grouping,
      settings: { options: GROUPINGS },
    })
    .addRadio({
      category: ['Map'],
      path: 'tapSideMode',
      name: 'Tap side',
      description: 'A pair seen at several observation points: once, at the most trusted point, or an edge per point',
      defaultValue: d.tapSideMode,
      settings: { options: TAP_SIDE_MODES },
    })
    .addRadio({
      category: ['Map'],
      path: 'labels',
      name: 'Labels',
      description: 'Auto: once zoomed in enough to read them',
      defaultValue: d.labels,
      settings: { options: LABEL_MODES },
    })
    .addRadio({
      category: ['Colour'],
      path: 'colorBy',
      name: 'Colour by',
      defaultValue: d.colorBy,
      settings: { options: COLOR_METRICS },
    })
    .addNumberInput({
      category: ['Colour'],
      path: 'errorThresholds.warning',
      name: 'Error ratio: warning from (%)',
      defaultValue: d.errorThresholds.warning,
      settings: { min: 0, max: 100 },
      showIf: (o) => o.colorBy === 'errorRatio',
    })
    .addNumberInput({
      category: ['Colour'],
      path: 'errorThresholds.critical',
      name: 'Error ratio: critical from (%)',
      defaultValue: d.errorThresholds.critical,
      settings: { min: 0, max: 100 },
      showIf: (o) => o.colorBy === 'errorRatio',
    })
    .addNumberInput({
      category: ['Colour'],
      path: 'latencyThresholds.warning',
      name: 'Response time: warning from (ms)',
      defaultValue: d.latencyThresholds.warning,
      settings: { min: 0 },
      showIf: (o) => o.colorBy === 'rrtAvg',
    })
    .addNumberInput({
      category: ['Colour'],
      path: 'latencyThresholds.critical',
      name: 'Response time: critical from (ms)',
      defaultValue: d.latencyThresholds.critical,
      settings: { min: 0 },
      showIf: (o) => o.colorBy === 'rrtAvg',
    })
    .addRadio({
      category: ['Size'],
      path: 'sizeBy',
      name: 'Node size by',
      defaultValue: d.sizeBy,
      settings: { options: SIZE_METRICS },
    })
    .addRadio({
      category: ['Size'],
      path: 'widthBy',
      name: 'Edge width by',
      defaultValue: d.widthBy,
      settings: { options: WIDTH_METRICS },
    })
    .addBooleanSwitch({
      category: ['Links'],
      path: 'links.builtIn',
      name: 'Built-in links',
      description: 'Request log in Explore (edges and nodes), RED dashboard (services); links set on the id field follow them',
      defaultValue: d.links.builtIn,
    })
    .addTextInput({
      category: ['Links'],
      path: 'links.datasourceUid',
      name: 'Request log data source',
      description: "UID of the MetaFlow data source of the request-log links (variables allowed); empty: the panel's query's",
      defaultValue: d.links.datasourceUid,
      settings: { placeholder: 'the query’s data source' },
      showIf: (o) => o.links?.builtIn !== false,
    })
    .addTextInput({
      category: ['Links'],
      path: 'links.redDashboardUrl',
      name: 'RED dashboard URL',
      description: 'Link of a service; ${__data.fields.id} is its name, ${__url_time_range} the time range, $variables work',
      defaultValue: d.links.redDashboardUrl,
      showIf: (o) => o.links?.builtIn !== false,
    });
}
