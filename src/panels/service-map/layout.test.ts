import { computeLayout, LayoutInput, LayoutResult, positionsOf, structureKey } from './layout';

/** A layered call graph: `clients` callers, then `tiers` of services, edges from each tier to the next. */
function callGraph(size: number, edgeCount: number, seed = 1): LayoutInput {
  let s = seed;
  const random = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const ids = Array.from({ length: size }, (_, i) => `svc-${i}`);
  const tiers = 5;
  const tierOf = (i: number) => Math.floor((i * tiers) / size);
  const edges: Array<[string, string]> = [];
  const seen = new Set<string>();
  while (edges.length < edgeCount) {
    const a = Math.floor(random() * size);
    const b = Math.floor(random() * size);
    if (tierOf(b) !== tierOf(a) + 1 && !(random() < 0.05 && a !== b)) {
      continue;
    }
    const key = `${a}>${b}`;
    if (seen.has(key)) {
      continue;
    }
    seen.add(key);
    edges.push([ids[a], ids[b]]);
  }
  return { ids, edges };
}

function pos(r: LayoutResult, id: string): [number, number] {
  const i = r.ids.indexOf(id);
  return [r.x[i], r.y[i]];
}

function displacements(before: LayoutResult, after: LayoutResult): number[] {
  return before.ids.map((id) => {
    const [x0, y0] = pos(before, id);
    const [x1, y1] = pos(after, id);
    return Math.hypot(x1 - x0, y1 - y0);
  });
}

const DEMO: LayoutInput = {
  ids: ['127.0.0.1', '::1', '127.0.0.1:18080', '[::1]:18080', '127.0.0.1:16379', '127.0.0.1:18099'],
  edges: [
    ['127.0.0.1', '127.0.0.1:18080'],
    ['127.0.0.1', '127.0.0.1:16379'],
    ['127.0.0.1', '127.0.0.1:18099'],
    ['::1', '[::1]:18080'],
  ],
};

describe('computeLayout', () => {
  it('places callers left of what they call, by call depth', () => {
    const r = computeLayout({ ids: ['web', 'db', 'client', 'cache', 'api'], edges: [['client', 'web'], ['web', 'api'], ['api', 'db'], ['web', 'cache']] });
    const layer = (id: string) => r.layer[r.ids.indexOf(id)];
    expect([layer('client'), layer('web'), layer('api'), layer('db')]).toEqual([0, 1, 2, 3]);
    expect(layer('cache')).toBe(2);
    expect(pos(r, 'client')[0]).toBeLessThan(pos(r, 'web')[0]);
    expect(pos(r, 'web')[0]).toBeLessThan(pos(r, 'api')[0]);
    expect(r.layers).toBe(4);
  });

  it('keeps a caller next to what it calls, even when that is deep', () => {
    const r = computeLayout({ ids: ['a', 'b', 'c', 'late'], edges: [['a', 'b'], ['b', 'c'], ['late', 'c']] });
    expect(r.layer[r.ids.indexOf('late')]).toBe(1);
  });

  it('lays out cycles and self loops without hanging', () => {
    const r = computeLayout({ ids: ['a', 'b', 'c'], edges: [['a', 'b'], ['b', 'c'], ['c', 'a'], ['b', 'b']] });
    expect(r.ids).toEqual(['a', 'b', 'c']);
    expect(new Set(r.layer).size).toBe(3);
    expect(r.x.every(Number.isFinite) && r.y.every(Number.isFinite)).toBe(true);
  });

  it('handles empty and single-node maps', () => {
    expect(computeLayout({ ids: [], edges: [] }).ids).toEqual([]);
    const one = computeLayout({ ids: ['x'], edges: [['x', 'missing']] });
    expect(one.x).toHaveLength(1);
  });

  it('is deterministic: same input, same positions, whatever the order of nodes and edges', () => {
    const input = callGraph(120, 300);
    const a = computeLayout(input);
    const b = computeLayout({ ids: [...input.ids].reverse(), edges: [...input.edges].reverse() });
    expect(b).toEqual(a);
    expect(computeLayout(input)).toEqual(a);
    // The seed only breaks ties: another seed is another (still deterministic) layout.
    const c = computeLayout({ ...input, seed: 7 });
    expect(c).toEqual(computeLayout({ ...input, seed: 7 }));
  });

  it('keeps nodes of one column apart', () => {
    const r = computeLayout({ ...callGraph(200, 500), nodeGap: 60 });
    const byColumn = new Map<number, number[]>();
    r.ids.forEach((_, i) => {
      const c = Math.round(r.x[i]);
      byColumn.set(c, [...(byColumn.get(c) ?? []), r.y[i]]);
    });
    let closest = Infinity;
    for (const ys of byColumn.values()) {
      ys.sort((p, q) => p - q);
      for (let i = 1; i < ys.length; i++) {
        closest = Math.min(closest, ys[i] - ys[i - 1]);
      }
    }
    expect(closest).toBeGreaterThanOrEqual(60 * 0.9 - 0.01);
  });

  it('is stable: given the previous positions, adding a node moves the others little', () => {
    const before = computeLayout(DEMO);
    const after = computeLayout({ ...DEMO, ids: [...DEMO.ids, '127.0.0.1:9000'], edges: [...DEMO.edges, ['127.0.0.1', '127.0.0.1:9000']], previous: positionsOf(before) });
    const moved = displacements(before, after);
    expect(Math.max(...moved)).toBeLessThan(64 * 0.5);
    // The new node joins the column of the other servers.
    expect(pos(after, '127.0.0.1:9000')[0]).toBeCloseTo(pos(after, '127.0.0.1:18080')[0], 0);
  });

  it('is stable on a large map too: one more node moves existing nodes by a fraction of the spacing', () => {
    const input = callGraph(300, 900);
    const before = computeLayout(input);
    const after = computeLayout({ ...input, ids: [...input.ids, 'new'], edges: [...input.edges, ['svc-3', 'new'], ['new', 'svc-250']], previous: positionsOf(before) });
    const moved = displacements(before, after).sort((a, b) => a - b);
    const median = moved[Math.floor(moved.length / 2)];
    const p95 = moved[Math.floor(moved.length * 0.95)];
    expect(median).toBeLessThan(2);
    expect(p95).toBeLessThan(64 * 0.25);
    // Same structure and previous positions: nothing moves at all.
    const again = computeLayout({ ...input, previous: positionsOf(before) });
    expect(Math.max(...displacements(before, again))).toBeLessThan(64 * 0.25);
  });

  it('moves a node whose call depth changed to its new column', () => {
    const before = computeLayout(DEMO);
    const after = computeLayout({ ...DEMO, edges: [...DEMO.edges, ['127.0.0.1:18080', '127.0.0.1:16379']], previous: positionsOf(before) });
    expect(pos(after, '127.0.0.1:16379')[0]).toBeGreaterThan(pos(after, '127.0.0.1:18080')[0] + 100);
  });

  it('runs from its own source text alone, as the Web Worker runs it', () => {
    const standalone = new Function(`return (${computeLayout.toString()});`)() as typeof computeLayout;
    const input = callGraph(60, 150);
    expect(standalone(input)).toEqual(computeLayout(input));
  });

  it('lays out 500 nodes and 2,000 edges quickly', () => {
    const input = callGraph(500, 2000);
    const t0 = Date.now();
    const r = computeLayout(input);
    const ms = Date.now() - t0;
    expect(r.ids).toHaveLength(500);
    expect(ms).toBeLessThan(2000);
  });
});

describe('structureKey', () => {
  it('depends on the structure, not on order', () => {
    expect(structureKey(['b', 'a'], [['a', 'b']])).toBe(structureKey(['a', 'b'], [['a', 'b']]));
    expect(structureKey(['a', 'b'], [['a', 'b']])).not.toBe(structureKey(['a', 'b'], [['b', 'a']]));
  });
});
