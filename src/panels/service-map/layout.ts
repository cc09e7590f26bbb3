/**
 * Layout of the service map: layered by call depth, then refined by forces. Pure and
 * deterministic: the same nodes and edges give the same positions whatever their order, and
 * positions of a previous layout, when given, anchor the nodes that were already there so that a
 * refresh moves nothing that did not change.
 *
 * `computeLayout` is self-contained (no imports, no reference outside its body, no syntax that
 * the bundler turns into helper calls) because its source text is what the layout Web Worker runs
 * (layout-worker.ts): keep every helper inside it.
 */

export interface LayoutInput {
  /** Node ids (any order; duplicates ignored). */
  ids: string[];
  /** Directed edges as [source id, target id]; self loops and unknown ids are ignored. */
  edges: Array<[string, string]>;
  /** Positions of a previous layout by node id, in the same coordinate space. */
  previous?: Record<string, [number, number]> | null;
  /** Seed of the tie-breaking hash. */
  seed?: number;
  /** Vertical distance between neighbours in a column. */
  nodeGap?: number;
  /** Horizontal distance between layers. */
  layerGap?: number;
  /** Force iterations (default: by size). */
  iterations?: number;
}

export interface LayoutResult {
  /** Node ids, sorted; x, y and layer are in this order. */
  ids: string[];
  x: number[];
  y: number[];
  layer: number[];
  layers: number;
  iterations: number;
}

export function computeLayout(input: LayoutInput): LayoutResult {
  const nodeGap = input.nodeGap && input.nodeGap > 0 ? input.nodeGap : 64;
  const layerGap = input.layerGap && input.layerGap > 0 ? input.layerGap : 240;
  const seed = (input.seed || 0) >>> 0;
  const MAX_LAYERS = 12;
  const previous = input.previous || null;

  // ---- nodes, sorted and unique, so that input order does not matter
  const sorted = input.ids.slice().sort();
  const ids: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) {
      ids.push(sorted[i]);
    }
  }
  const n = ids.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    index.set(ids[i], i);
  }
  const empty: LayoutResult = { ids: ids, x: [], y: [], layer: [], layers: 0, iterations: 0 };
  if (n === 0) {
    return empty;
  }

  /** FNV-1a of the id mixed with the seed: a stable pseudo-random number in [0, 1) per node. */
  function hash(text: string): number {
    let h = (0x811c9dc5 ^ seed) >>> 0;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    h ^= h >>> 12;
    return (h >>> 0) / 4294967296;
  }
  const jitter: number[] = [];
  for (let i = 0; i < n; i++) {
    jitter.push(hash(ids[i]));
  }

  // ---- edges: unique pairs, both directions kept apart
  const pairs: number[] = [];
  const seenPairs = new Set<number>();
  for (let e = 0; e < input.edges.length; e++) {
    const s = index.get(input.edges[e][0]);
    const t = index.get(input.edges[e][1]);
    if (s === undefined || t === undefined || s === t) {
      continue;
    }
    const key = s * n + t;
    if (!seenPairs.has(key)) {
      seenPairs.add(key);
      pairs.push(key);
    }
  }
  pairs.sort(function (a, b) {
    return a - b;
  });
  const outs: number[][] = [];
  const ins: number[][] = [];
  const neighbours: number[][] = [];
  for (let i = 0; i < n; i++) {
    outs.push([]);
    ins.push([]);
    neighbours.push([]);
  }
  for (let p = 0; p < pairs.length; p++) {
    const s = Math.floor(pairs[p] / n);
    const t = pairs[p] % n;
    outs[s].push(t);
    ins[t].push(s);
    if (!seenPairs.has(t * n + s) || s < t) {
      neighbours[s].push(t);
      neighbours[t].push(s);
    }
  }

  // ---- cycle breaking: depth-first from the callers (no incoming edge) first; back edges dropped.
  // Reverse post-order of that search is a topological order of the remaining (acyclic) edges.
  const state = new Uint8Array(n); // 0 new, 1 on the stack, 2 done
  const dagOuts: number[][] = [];
  const dagIns: number[][] = [];
  for (let i = 0; i < n; i++) {
    dagOuts.push([]);
    dagIns.push([]);
  }
  const postOrder: number[] = [];
  const roots: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ins[i].length === 0) {
      roots.push(i);
    }
  }
  for (let i = 0; i < n; i++) {
    if (ins[i].length > 0) {
      roots.push(i);
    }
  }
  for (let r = 0; r < roots.length; r++) {
    const root = roots[r];
    if (state[root] !== 0) {
      continue;
    }
    const stackNode: number[] = [root];
    const stackEdge: number[] = [0];
    state[root] = 1;
    while (stackNode.length > 0) {
      const top = stackNode.length - 1;
      const v = stackNode[top];
      const k = stackEdge[top];
      if (k < outs[v].length) {
        stackEdge[top] = k + 1;
        const w = outs[v][k];
        if (state[w] === 1) {
          continue; // back edge: ignored for layering
        }
        dagOuts[v].push(w);
        dagIns[w].push(v);
        if (state[w] === 0) {
          state[w] = 1;
          stackNode.push(w);
          stackEdge.push(0);
        }
      } else {
        state[v] = 2;
        postOrder.push(v);
        stackNode.pop();
        stackEdge.pop();
      }
    }
  }

  // ---- layers: longest path from the callers (call depth), callers then pulled next to what they call
  const layer = new Int32Array(n);
  for (let k = postOrder.length - 1; k >= 0; k--) {
    const v = postOrder[k];
    let l = 0;
    for (let j = 0; j < dagIns[v].length; j++) {
      l = Math.max(l, layer[dagIns[v][j]] + 1);
    }
    layer[v] = l;
  }
  for (let k = 0; k < postOrder.length; k++) {
    const v = postOrder[k];
    if (dagIns[v].length === 0 && dagOuts[v].length > 0) {
      let l = Infinity;
      for (let j = 0; j < dagOuts[v].length; j++) {
        l = Math.min(l, layer[dagOuts[v][j]] - 1);
      }
      layer[v] = Math.max(0, l);
    }
  }
  let layerCount = 0;
  for (let i = 0; i < n; i++) {
    layerCount = Math.max(layerCount, layer[i] + 1);
  }
  if (layerCount > MAX_LAYERS) {
    // A tangle rather than a call tree (long paths through it): call depth as the fewest hops
    // from a caller instead, which stays shallow; some edges then go back or along a layer.
    layer.fill(-1);
    const queue: number[] = [];
    for (let r = 0; r < roots.length; r++) {
      const root = roots[r];
      if (layer[root] >= 0) {
        continue;
      }
      layer[root] = 0;
      queue.push(root);
      for (let head = queue.length - 1; head < queue.length; head++) {
        const v = queue[head];
        for (let j = 0; j < outs[v].length; j++) {
          const w = outs[v][j];
          if (layer[w] < 0) {
            layer[w] = layer[v] + 1;
            queue.push(w);
          }
        }
      }
    }
    layerCount = 0;
    for (let i = 0; i < n; i++) {
      layerCount = Math.max(layerCount, layer[i] + 1);
    }
  }

  // ---- columns: a layer too tall for the map's size is split into staggered sub-columns
  const members: number[][] = [];
  for (let l = 0; l < layerCount; l++) {
    members.push([]);
  }
  for (let i = 0; i < n; i++) {
    members[layer[i]].push(i);
  }
  const capacity = Math.max(8, Math.ceil(Math.sqrt(n) * 1.5));
  const subGap = nodeGap * 1.3;
  const subColumns: number[] = [];
  const layerX: number[] = [];
  let cursor = 0;
  for (let l = 0; l < layerCount; l++) {
    const k = Math.max(1, Math.ceil(members[l].length / capacity));
    subColumns.push(k);
    layerX.push(cursor);
    cursor += (k - 1) * subGap + layerGap;
  }

  // ---- order within layers
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const anchored = new Uint8Array(n);
  const anchorX = new Float64Array(n);
  const anchorY = new Float64Array(n);
  let anchoredCount = 0;
  if (previous) {
    for (let i = 0; i < n; i++) {
      const p = previous[ids[i]];
      if (p && isFinite(p[0]) && isFinite(p[1])) {
        anchored[i] = 1;
        anchorX[i] = p[0];
        anchorY[i] = p[1];
        anchoredCount++;
      }
    }
  }
  const key = new Float64Array(n);
  if (anchoredCount === 0) {
    // Barycentre sweeps over a hash order: few crossings, and no dependence on input order.
    const rank = new Float64Array(n);
    for (let l = 0; l < layerCount; l++) {
      const m = members[l];
      m.sort(function (a, b) {
        return jitter[a] - jitter[b] || a - b;
      });
      for (let r = 0; r < m.length; r++) {
        rank[m[r]] = m.length > 1 ? r / (m.length - 1) : 0.5;
      }
    }
    for (let sweep = 0; sweep < 8; sweep++) {
      const down = sweep % 2 === 0;
      for (let q = 0; q < layerCount; q++) {
        const l = down ? q : layerCount - 1 - q;
        const m = members[l];
        for (let r = 0; r < m.length; r++) {
          const v = m[r];
          const nb = neighbours[v];
          let sum = 0;
          let count = 0;
          for (let j = 0; j < nb.length; j++) {
            const w = nb[j];
            if ((down && layer[w] < l) || (!down && layer[w] > l)) {
              sum += rank[w];
              count++;
            }
          }
          key[v] = count > 0 ? sum / count : rank[v];
        }
        m.sort(function (a, b) {
          return key[a] - key[b] || jitter[a] - jitter[b] || a - b;
        });
        for (let r = 0; r < m.length; r++) {
          rank[m[r]] = m.length > 1 ? r / (m.length - 1) : 0.5;
        }
      }
    }
  }

  // ---- initial positions: anchored nodes where they were, new ones beside their neighbours
  const targetX = new Float64Array(n);
  for (let l = 0; l < layerCount; l++) {
    const m = members[l];
    const k = subColumns[l];
    const step = nodeGap / k;
    for (let r = 0; r < m.length; r++) {
      const v = m[r];
      targetX[v] = layerX[l] + (r % k) * subGap;
      x[v] = targetX[v];
      y[v] = (r - (m.length - 1) / 2) * step;
    }
  }
  if (anchoredCount > 0) {
    for (let i = 0; i < n; i++) {
      if (anchored[i]) {
        x[i] = anchorX[i];
        y[i] = anchorY[i];
        // A node whose call depth changed moves to its new layer; otherwise it stays.
        const l = layer[i];
        const left = layerX[l] - subGap / 2;
        const right = layerX[l] + (subColumns[l] - 1) * subGap + subGap / 2;
        if (anchorX[i] >= left && anchorX[i] <= right) {
          targetX[i] = anchorX[i];
        } else {
          anchorX[i] = targetX[i];
        }
      }
    }
    // New nodes, in an order that does not depend on the input: next to their placed neighbours.
    const fresh: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!anchored[i]) {
        fresh.push(i);
      }
    }
    let maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      if (anchored[i]) {
        maxY = Math.max(maxY, y[i]);
      }
    }
    const placed = Uint8Array.from(anchored);
    for (let pass = 0; pass < 2; pass++) {
      for (let f = 0; f < fresh.length; f++) {
        const v = fresh[f];
        const nb = neighbours[v];
        let sum = 0;
        let count = 0;
        for (let j = 0; j < nb.length; j++) {
          if (placed[nb[j]]) {
            sum += y[nb[j]];
            count++;
          }
        }
        if (count > 0) {
          y[v] = sum / count + (jitter[v] - 0.5) * nodeGap;
          placed[v] = 1;
        } else if (pass === 1) {
          // Unconnected to anything placed: below the map.
          y[v] = maxY + nodeGap * (1 + jitter[v] * 2);
          placed[v] = 1;
        }
      }
    }
  }

  // ---- columns: x is the column's (nodes keep their layer); nodes whose x are closer than the
  // minimum gap share a column for the overlap rules
  for (let i = 0; i < n; i++) {
    x[i] = targetX[i];
  }
  const minGap = nodeGap * 0.9;
  const byX: number[] = [];
  for (let i = 0; i < n; i++) {
    byX.push(i);
  }
  byX.sort(function (a, b) {
    return x[a] - x[b] || a - b;
  });
  const columns: number[][] = [];
  for (let q = 0; q < byX.length; q++) {
    const v = byX[q];
    if (q === 0 || x[v] - x[byX[q - 1]] >= minGap) {
      columns.push([]);
    }
    columns[columns.length - 1].push(v);
  }
  function byY(a: number, b: number): number {
    return y[a] - y[b] || jitter[a] - jitter[b] || a - b;
  }

  // ---- force refinement, vertical: nodes of a column push each other away, edges pull their
  // ends level (each node toward the mean of its neighbours), and a node that was there before
  // is held at its previous place, feeling the others only a little.
  const iterations = input.iterations !== undefined ? Math.max(0, Math.floor(input.iterations)) : n > 300 ? 80 : 120;
  const cutoff = nodeGap * 1.5;
  const repulse = nodeGap * 0.5;
  const fy = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    const temperature = nodeGap * 0.5 * (1 - it / iterations) + 0.25;
    fy.fill(0);
    for (let c = 0; c < columns.length; c++) {
      const m = columns[c];
      m.sort(byY);
      for (let a = 0; a < m.length; a++) {
        for (let b = a + 1; b < m.length; b++) {
          const d = y[m[b]] - y[m[a]];
          if (d >= cutoff) {
            break;
          }
          const f = (repulse * (cutoff - d)) / cutoff;
          fy[m[a]] -= f;
          fy[m[b]] += f;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      const nb = neighbours[i];
      if (nb.length === 0) {
        continue;
      }
      let sum = 0;
      for (let j = 0; j < nb.length; j++) {
        sum += y[nb[j]];
      }
      fy[i] += (sum / nb.length - y[i]) * 0.1;
    }
    for (let i = 0; i < n; i++) {
      let f = fy[i];
      if (anchored[i]) {
        f = f * 0.1 + (anchorY[i] - y[i]) * 0.5;
      }
      y[i] += f > temperature ? temperature : f < -temperature ? -temperature : f;
    }
  }

  // ---- no overlaps: in each column the least (weighted) movement that keeps the order and the
  // minimum gap (isotonic regression by pooling adjacent violators); anchored nodes weigh more.
  for (let c = 0; c < columns.length; c++) {
    const m = columns[c];
    m.sort(byY);
    const blockStart: number[] = [];
    const blockWeight: number[] = [];
    const blockMean: number[] = [];
    for (let q = 0; q < m.length; q++) {
      const w = anchored[m[q]] ? 8 : 1;
      let start = q;
      let weight = w;
      let mean = y[m[q]] - q * minGap;
      while (blockStart.length > 0 && blockMean[blockMean.length - 1] >= mean) {
        const pw = blockWeight.pop() as number;
        const pm = blockMean.pop() as number;
        start = blockStart.pop() as number;
        mean = (pm * pw + mean * weight) / (pw + weight);
        weight += pw;
      }
      blockStart.push(start);
      blockWeight.push(weight);
      blockMean.push(mean);
    }
    for (let b = 0; b < blockStart.length; b++) {
      const end = b + 1 < blockStart.length ? blockStart[b + 1] : m.length;
      for (let q = blockStart[b]; q < end; q++) {
        y[m[q]] = blockMean[b] + q * minGap;
      }
    }
  }

  const out: LayoutResult = { ids: ids, x: [], y: [], layer: [], layers: layerCount, iterations: iterations };
  for (let i = 0; i < n; i++) {
    out.x.push(Math.round(x[i] * 100) / 100);
    out.y.push(Math.round(y[i] * 100) / 100);
    out.layer.push(layer[i]);
  }
  return out;
}

/** A key that changes when the graph's structure (node ids, edges) changes, and only then. */
export function structureKey(ids: string[], edges: Array<[string, string]>): string {
  const nodes = ids.slice().sort();
  const pairs = edges.map((e) => `${e[0]}\u0000${e[1]}`).sort();
  return `${nodes.join('\u0001')}\u0002${pairs.join('\u0001')}`;
}

/** Positions of a layout result by id, the form `previous` takes. */
export function positionsOf(result: LayoutResult): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (let i = 0; i < result.ids.length; i++) {
    out[result.ids[i]] = [result.x[i], result.y[i]];
  }
  return out;
}
