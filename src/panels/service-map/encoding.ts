/**
 * Visual encoding of the map: node colour by error ratio (or response time) against thresholds,
 * node size by request rate (or bytes), edge width by request rate (or bytes), dashed edges where
 * TCP connections failed. Colours come from the Grafana theme, so light and dark both work.
 */
import { GrafanaTheme2 } from '@grafana/data';

import { MapEdge, MapNode, ServiceMapModel } from './map-model';
import { ColorMetric, ServiceMapOptions, SizeMetric, Thresholds, WidthMetric } from './types';

export type Status = 'ok' | 'warning' | 'critical' | 'unknown';

export interface Palette {
  ok: string;
  warning: string;
  critical: string;
  unknown: string;
  /** Node colour when colour encodes nothing. */
  neutral: string;
  edge: string;
  background: string;
  text: string;
  textWeak: string;
  highlight: string;
}

export interface NodeStyle {
  r: number;
  color: string;
  status: Status;
  /** External callers are drawn with a dashed outline. */
  dashed: boolean;
}

export interface EdgeStyle {
  width: number;
  color: string;
  status: Status;
  /** TCP connections failed on this edge. */
  dashed: boolean;
}

export const NODE_RADIUS = { min: 10, max: 24 };
export const EDGE_WIDTH = { min: 1, max: 8 };

export function paletteOf(theme: GrafanaTheme2): Palette {
  const c = (name: string) => theme.visualization.getColorByName(name);
  return {
    ok: c('green'),
    warning: c('orange'),
    critical: c('red'),
    unknown: theme.colors.text.disabled,
    neutral: c('blue'),
    edge: theme.colors.text.secondary,
    background: theme.colors.background.primary,
    text: theme.colors.text.primary,
    textWeak: theme.colors.text.secondary,
    highlight: theme.colors.primary.main,
  };
}

/** Status of a value against warning / critical thresholds (values at a threshold reach it). */
export function statusOf(value: number | null, thresholds: Thresholds): Status {
  if (value === null || !Number.isFinite(value)) {
    return 'unknown';
  }
  if (value >= thresholds.critical) {
    return 'critical';
  }
  if (value >= thresholds.warning) {
    return 'warning';
  }
  return 'ok';
}

/** The colour metric of a node or edge in the thresholds' unit (percent, milliseconds). */
export function colorValue(item: Pick<MapNode, 'errorRatio' | 'rrtAvg'>, metric: ColorMetric): number | null {
  if (metric === 'errorRatio') {
    return item.errorRatio === null ? null : item.errorRatio * 100;
  }
  if (metric === 'rrtAvg') {
    return item.rrtAvg === null ? null : item.rrtAvg / 1000;
  }
  return null;
}

function thresholdsFor(options: Pick<ServiceMapOptions, 'colorBy' | 'errorThresholds' | 'latencyThresholds'>): Thresholds {
  return options.colorBy === 'rrtAvg' ? options.latencyThresholds : options.errorThresholds;
}

function sizeValue(item: { requestRate: number | null; bytes: number | null }, metric: SizeMetric | WidthMetric): number | null {
  return metric === 'requestRate' ? item.requestRate : metric === 'bytes' ? item.bytes : null;
}

/**
 * A square-root scale from [0, max of values] to [min, max]: areas (nodes) or widths (edges) grow
 * with the value; missing and zero values get the minimum.
 */
export function sqrtScale(values: Array<number | null>, range: { min: number; max: number }): (v: number | null) => number {
  let top = 0;
  for (const v of values) {
    if (v !== null && Number.isFinite(v) && v > top) {
      top = v;
    }
  }
  return (v) => {
    if (v === null || !Number.isFinite(v) || v <= 0 || top <= 0) {
      return range.min;
    }
    return range.min + (range.max - range.min) * Math.sqrt(Math.min(1, v / top));
  };
}

export function colorOf(status: Status, palette: Palette, metric: ColorMetric): string {
  if (metric === 'none') {
    return palette.neutral;
  }
  return palette[status];
}

export function encodeNodes(nodes: MapNode[], options: ServiceMapOptions, palette: Palette): NodeStyle[] {
  const radius = sqrtScale(
    nodes.map((n) => sizeValue(n, options.sizeBy)),
    options.sizeBy === 'none' ? { min: 14, max: 14 } : NODE_RADIUS,
  );
  const thresholds = thresholdsFor(options);
  return nodes.map((n) => {
    const status = options.colorBy === 'none' ? 'unknown' : statusOf(colorValue(n, options.colorBy), thresholds);
    return { r: radius(sizeValue(n, options.sizeBy)), color: colorOf(status, palette, options.colorBy), status, dashed: n.external };
  });
}

export function encodeEdges(edges: MapEdge[], options: ServiceMapOptions, palette: Palette): EdgeStyle[] {
  const width = sqrtScale(
    edges.map((e) => sizeValue(e, options.widthBy)),
    options.widthBy === 'none' ? { min: 1.5, max: 1.5 } : EDGE_WIDTH,
  );
  const thresholds = thresholdsFor(options);
  return edges.map((e) => {
    const status = options.colorBy === 'none' ? 'unknown' : statusOf(colorValue(e, options.colorBy), thresholds);
    const dashed = e.connectionFailures > 0;
    // Healthy edges stay quiet; a problem shows in its colour.
    const color = dashed ? palette.critical : status === 'warning' || status === 'critical' ? palette[status] : palette.edge;
    return { width: width(sizeValue(e, options.widthBy)), color, status, dashed };
  });
}

export function encodeMap(model: ServiceMapModel, options: ServiceMapOptions, palette: Palette): { nodes: NodeStyle[]; edges: EdgeStyle[] } {
  return { nodes: encodeNodes(model.nodes, options, palette), edges: encodeEdges(model.edges, options, palette) };
}
