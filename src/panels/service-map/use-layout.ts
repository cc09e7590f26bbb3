/**
 * The layout of the model, computed off the main thread, and stable: a refresh with the same
 * nodes and edges keeps the positions as they are (no new layout at all), a changed map is laid
 * out anchored on the positions it had, and a panel that is mounted again (dashboard reload of
 * the panel, edit mode) finds its last positions in memory.
 */
import { useEffect, useMemo, useRef, useState } from 'react';

import { LayoutInput, positionsOf, structureKey } from './layout';
import { LayoutEngine, LayoutRunner } from './layout-worker';
import { ServiceMapModel } from './map-model';

export const NODE_GAP = 80;
export const LAYER_GAP = 260;

export interface PlacedLayout {
  key: string;
  positions: Map<string, [number, number]>;
  engine: LayoutEngine | 'memory';
  ms: number;
}

const remembered = new Map<string, { key: string; positions: Record<string, [number, number]> }>();
const MAX_REMEMBERED = 32;

function remember(panel: string, key: string, positions: Record<string, [number, number]>) {
  remembered.delete(panel);
  remembered.set(panel, { key, positions });
  while (remembered.size > MAX_REMEMBERED) {
    remembered.delete(remembered.keys().next().value as string);
  }
}

function fromMemory(panel: string, key: string): PlacedLayout | null {
  const m = remembered.get(panel);
  return m && m.key === key ? { key, positions: new Map(Object.entries(m.positions)), engine: 'memory', ms: 0 } : null;
}

/** Forgets remembered layouts (tests, benchmarks). */
export function forgetLayouts(): void {
  remembered.clear();
}

export function useLayout(model: ServiceMapModel, panel: string): { layout: PlacedLayout | null; ready: boolean; error?: string } {
  const ids = useMemo(() => model.nodes.map((n) => n.id), [model]);
  const edges = useMemo(() => model.edges.map((e): [string, string] => [e.source, e.target]), [model]);
  const key = useMemo(() => structureKey(ids, edges), [ids, edges]);
  const [layout, setLayout] = useState<PlacedLayout | null>(() => fromMemory(panel, key));
  const [error, setError] = useState<string>();
  const latest = useRef<PlacedLayout | null>(layout);
  const runner = useRef<LayoutRunner | null>(null);

  useEffect(() => () => runner.current?.dispose(), []);

  useEffect(() => {
    if (latest.current?.key === key) {
      return;
    }
    const memory = fromMemory(panel, key);
    if (memory) {
      latest.current = memory;
      setLayout(memory);
      return;
    }
    let cancelled = false;
    runner.current ??= new LayoutRunner();
    const previous = latest.current ? Object.fromEntries(latest.current.positions) : (remembered.get(panel)?.positions ?? null);
    const input: LayoutInput = { ids, edges, previous, nodeGap: NODE_GAP, layerGap: LAYER_GAP };
    runner.current.run(input).then(
      (outcome) => {
        if (cancelled) {
          return;
        }
        const positions = positionsOf(outcome.result);
        const next: PlacedLayout = { key, positions: new Map(Object.entries(positions)), engine: outcome.engine, ms: outcome.ms };
        latest.current = next;
        remember(panel, key, positions);
        setError(undefined);
        setLayout(next);
      },
      (e: unknown) => {
        if (!cancelled) {
          setError(e instanceof Error ? e.message : String(e));
        }
      },
    );
    return () => {
      cancelled = true;
    };
  }, [key, ids, edges, panel]);

  return { layout, ready: layout?.key === key, error };
}
