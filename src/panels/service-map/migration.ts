/**
 * Saved options → the current options model. Pure: whatever a dashboard holds (nothing, as the
 * 0.1.0 placeholder saved; a partial object; values a newer or older version wrote) comes out as
 * complete, valid options of version OPTIONS_VERSION.
 */
import { PanelMigrationHandler } from '@grafana/data';

import { COLOR_METRICS, DEFAULT_OPTIONS, GROUPINGS, LABEL_MODES, OPTIONS_VERSION, ServiceMapOptions, SIZE_METRICS, TAP_SIDE_MODES, Thresholds, WIDTH_METRICS } from './types';

type Saved = Record<string, unknown>;

const isObject = (v: unknown): v is Saved => typeof v === 'object' && v !== null && !Array.isArray(v);

function oneOf<T extends string>(value: unknown, allowed: Array<{ value: T }>, fallback: T): T {
  return allowed.some((a) => a.value === value) ? (value as T) : fallback;
}

function number(value: unknown, fallback: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : fallback;
}

function thresholds(value: unknown, fallback: Thresholds): Thresholds {
  if (!isObject(value)) {
    return { ...fallback };
  }
  const warning = number(value.warning, fallback.warning);
  const critical = number(value.critical, fallback.critical);
  // Swapped values are read as meant: the lower one warns.
  return { warning: Math.min(warning, critical), critical: Math.max(warning, critical) };
}

export function migrateOptions(saved: unknown): ServiceMapOptions {
  const o = isObject(saved) ? saved : {};
  const d = DEFAULT_OPTIONS;
  const links = isObject(o.links) ? o.links : {};
  return {
    version: OPTIONS_VERSION,
    grouping: oneOf(o.grouping, GROUPINGS, d.grouping),
    tapSideMode: oneOf(o.tapSideMode, TAP_SIDE_MODES, d.tapSideMode),
    colorBy: oneOf(o.colorBy, COLOR_METRICS, d.colorBy),
    errorThresholds: thresholds(o.errorThresholds, d.errorThresholds),
    latencyThresholds: thresholds(o.latencyThresholds, d.latencyThresholds),
    sizeBy: oneOf(o.sizeBy, SIZE_METRICS, d.sizeBy),
    widthBy: oneOf(o.widthBy, WIDTH_METRICS, d.widthBy),
    labels: oneOf(o.labels, LABEL_MODES, d.labels),
    links: {
      builtIn: typeof links.builtIn === 'boolean' ? links.builtIn : d.links.builtIn,
      datasourceUid: typeof links.datasourceUid === 'string' ? links.datasourceUid : d.links.datasourceUid,
      redDashboardUrl: typeof links.redDashboardUrl === 'string' ? links.redDashboardUrl : d.links.redDashboardUrl,
    },
  };
}

/** Whether saved options need migrating: anything not written by this options version. */
export function needsMigration(panel: unknown): boolean {
  const options = isObject(panel) ? panel.options : undefined;
  return !isObject(options) || options.version !== OPTIONS_VERSION;
}

export const migrationHandler: PanelMigrationHandler<ServiceMapOptions> = (panel) => migrateOptions(panel.options);
