import React, { memo } from 'react';

import { EdgeStyle, NodeStyle, Palette } from './encoding';
import { edgeShape } from './geometry';
import { Highlight } from './highlight';
import { MapEdge, MapNode } from './map-model';
import { Styles } from './styles';

interface Props {
  edges: MapEdge[];
  styles: EdgeStyle[];
  nodes: MapNode[];
  nodeStyles: NodeStyle[];
  positions: Map<string, [number, number]>;
  highlight: Highlight | null;
  palette: Palette;
  classes: Styles;
  /** Prefix of the arrow markers' ids (unique per panel). */
  markerId: string;
}

/** Arrow heads, one per colour an edge can have. */
export function markerColors(palette: Palette): string[] {
  return [...new Set([palette.edge, palette.warning, palette.critical, palette.highlight])];
}

/**
 * The edges: a path from caller to callee with an arrow head, its width by traffic, dashed where
 * TCP connections failed; under each, a wider transparent path to point at and click.
 */
export const EdgesLayer = memo(function EdgesLayer({ edges, styles, nodes, nodeStyles, positions, highlight, palette, classes, markerId }: Props) {
  const radius = new Map(nodes.map((n, i) => [n.id, nodeStyles[i].r]));
  const colors = markerColors(palette);
  // Many edges: lighter, so that nodes and the busy paths still show through.
  const opacity = edges.length > 300 ? 0.45 : 0.85;
  return (
    <g data-testid="servicemap-edges">
      <defs>
        {colors.map((c, i) => (
          <marker key={c} id={`${markerId}-${i}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
            <path d="M0,0L10,5L0,10z" fill={c} />
          </marker>
        ))}
      </defs>
      {edges.map((edge, i) => {
        const s = positions.get(edge.source);
        const t = positions.get(edge.target);
        if (!s || !t) {
          return null;
        }
        const style = styles[i];
        const focused = highlight?.edges.has(edge.id) === true;
        const dimmed = highlight !== null && !focused;
        const color = focused ? palette.highlight : style.color;
        const shape = edgeShape(s, t, radius.get(edge.source) ?? 10, radius.get(edge.target) ?? 10, edge.parallel.index, edge.parallel.count, edge.source > edge.target);
        return (
          <g
            key={edge.id}
            data-testid="servicemap-edge"
            data-kind="edge"
            data-index={i}
            data-id={edge.id}
            data-dashed={style.dashed ? 'true' : undefined}
            data-dimmed={dimmed ? 'true' : undefined}
            role="button"
            aria-label={`edge ${edge.source} to ${edge.target}`}
            className={dimmed ? `${classes.edge} ${classes.dimmed}` : classes.edge}
          >
            <path d={shape.d} fill="none" stroke="transparent" strokeWidth={Math.max(12, style.width + 8)} />
            <path
              d={shape.d}
              fill="none"
              stroke={color}
              strokeWidth={style.width}
              strokeOpacity={focused ? 1 : opacity}
              strokeDasharray={style.dashed ? '6 4' : undefined}
              markerEnd={`url(#${markerId}-${colors.indexOf(color)})`}
            />
          </g>
        );
      })}
    </g>
  );
});
