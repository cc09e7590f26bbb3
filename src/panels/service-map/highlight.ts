/** Which nodes and edges stand out: those matching a search, or a focused node, with their neighbours. */
import { ServiceMapModel } from './map-model';

export interface Highlight {
  /** Nodes that match (or the focused one). */
  matches: string[];
  /** Matches and their neighbours. */
  nodes: Set<string>;
  /** Edges touching a match. */
  edges: Set<string>;
}

export function highlightOf(model: ServiceMapModel, search: string, focus?: string): Highlight | null {
  const text = search.trim().toLowerCase();
  let matches: string[];
  if (text) {
    matches = model.nodes.filter((n) => n.id.toLowerCase().includes(text) || n.title.toLowerCase().includes(text)).map((n) => n.id);
  } else if (focus !== undefined) {
    matches = [focus];
  } else {
    return null;
  }
  const matched = new Set(matches);
  const nodes = new Set(matches);
  const edges = new Set<string>();
  for (const e of model.edges) {
    if (matched.has(e.source) || matched.has(e.target)) {
      edges.add(e.id);
      nodes.add(e.source);
      nodes.add(e.target);
    }
  }
  return { matches, nodes, edges };
}
