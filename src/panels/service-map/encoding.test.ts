import { createTheme } from '@grafana/data';

import { colorValue, EDGE_WIDTH, encodeMap, NODE_RADIUS, paletteOf, sqrtScale, statusOf } from './encoding';
import { buildMapModel } from './map-model';
import { demoFrames } from './test-frames';
import { DEFAULT_OPTIONS, ServiceMapOptions } from './types';

const model = () => buildMapModel(demoFrames(), { grouping: 'none', tapSideMode: 'preferred' });
const light = paletteOf(createTheme({ colors: { mode: 'light' } }));
const dark = paletteOf(createTheme({ colors: { mode: 'dark' } }));
const options = (o: Partial<ServiceMapOptions> = {}): ServiceMapOptions => ({ ...DEFAULT_OPTIONS, ...o });

describe('statusOf', () => {
  it('compares with warning and critical thresholds, at a threshold reaching it', () => {
    const t = { warning: 1, critical: 5 };
    expect([0, 0.99, 1, 4.9, 5, 50].map((v) => statusOf(v, t))).toEqual(['ok', 'ok', 'warning', 'warning', 'critical', 'critical']);
    expect(statusOf(null, t)).toBe('unknown');
    expect(statusOf(NaN, t)).toBe('unknown');
  });

  it('reads the colour metric in the thresholds unit: percent, milliseconds', () => {
    expect(colorValue({ errorRatio: 0.05, rrtAvg: 2500 }, 'errorRatio')).toBeCloseTo(5);
    expect(colorValue({ errorRatio: 0.05, rrtAvg: 2500 }, 'rrtAvg')).toBeCloseTo(2.5);
    expect(colorValue({ errorRatio: 0.05, rrtAvg: 2500 }, 'none')).toBeNull();
  });
});

describe('sqrtScale', () => {
  it('maps 0..max to min..max by square root, missing values to the minimum', () => {
    const s = sqrtScale([0, 25, 100, null], { min: 10, max: 20 });
    expect(s(100)).toBe(20);
    expect(s(25)).toBe(15);
    expect(s(0)).toBe(10);
    expect(s(null)).toBe(10);
    expect(s(400)).toBe(20);
    expect(sqrtScale([0, null], { min: 3, max: 9 })(0)).toBe(3);
  });
});

describe('encodeMap', () => {
  it('colours nodes by error ratio with the thresholds, sizes them by request rate', () => {
    const m = model();
    const { nodes } = encodeMap(m, options({ errorThresholds: { warning: 16, critical: 30 } }), light);
    const style = (id: string) => nodes[m.nodes.findIndex((n) => n.id === id)];
    expect(style('127.0.0.1:16379')).toMatchObject({ status: 'ok', color: light.ok }); // 15 %
    expect(style('127.0.0.1:18080')).toMatchObject({ status: 'warning', color: light.warning }); // 22 %
    expect(style('[::1]:18080')).toMatchObject({ status: 'critical', color: light.critical }); // 37 %
    // The busiest node gets the largest radius; a node without requests the smallest.
    expect(style('127.0.0.1').r).toBe(NODE_RADIUS.max);
    expect(style('127.0.0.1:18099').r).toBe(NODE_RADIUS.min);
    expect(style('127.0.0.1:16379').r).toBeGreaterThan(style('[::1]:18080').r);
    // External callers: dashed outline.
    expect(style('::1').dashed).toBe(true);
    expect(style('127.0.0.1:16379').dashed).toBe(false);
  });

  it('colours by response time against the latency thresholds (ms) when asked', () => {
    const m = model();
    const { nodes } = encodeMap(m, options({ colorBy: 'rrtAvg', latencyThresholds: { warning: 0.05, critical: 0.1 } }), light);
    const style = (id: string) => nodes[m.nodes.findIndex((n) => n.id === id)];
    expect(style('127.0.0.1:18080').status).toBe('ok'); // 28.75 µs
    expect(style('127.0.0.1:16379').status).toBe('warning'); // 86.6 µs
    expect(style('[::1]:18080').status).toBe('critical'); // 148.6 µs
    expect(style('::1').status).toBe('unknown'); // a client: no response time
  });

  it('draws edges wider with more requests or bytes, dashed where TCP connections failed', () => {
    const m = model();
    const byRate = encodeMap(m, options(), light).edges;
    const byBytes = encodeMap(m, options({ widthBy: 'bytes' }), light).edges;
    const i = (target: string) => m.edges.findIndex((e) => e.target === target);
    expect(byRate[i('127.0.0.1:16379')].width).toBe(EDGE_WIDTH.max); // most requests
    expect(byBytes[i('127.0.0.1:18080')].width).toBe(EDGE_WIDTH.max); // most bytes
    expect(byRate[i('127.0.0.1:18099')]).toMatchObject({ width: EDGE_WIDTH.min, dashed: true, color: light.critical });
    expect(byRate.filter((e) => e.dashed)).toHaveLength(1);
  });

  it('uses the theme: the same map in light and dark differs only in colours', () => {
    const m = model();
    const a = encodeMap(m, options(), light);
    const b = encodeMap(m, options(), dark);
    expect(a.nodes.map((n) => [n.r, n.status])).toEqual(b.nodes.map((n) => [n.r, n.status]));
    expect(light.background).not.toBe(dark.background);
    expect(a.edges[0].color).not.toBe(b.edges[0].color);
  });

  it('can encode nothing: fixed size, neutral colour', () => {
    const { nodes, edges } = encodeMap(model(), options({ colorBy: 'none', sizeBy: 'none', widthBy: 'none' }), light);
    expect(new Set(nodes.map((n) => n.r)).size).toBe(1);
    expect(new Set(nodes.map((n) => n.color))).toEqual(new Set([light.neutral]));
    expect(new Set(edges.map((e) => e.width)).size).toBe(1);
  });
});
