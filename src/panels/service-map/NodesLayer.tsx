import React, { memo } from 'react';
import { colorManipulator, getValueFormat, formattedValueToString } from '@grafana/data';

import { NodeStyle, Palette } from './encoding';
import { Highlight } from './highlight';
import { MapNode } from './map-model';
import { Styles } from './styles';

interface Props {
  nodes: MapNode[];
  styles: NodeStyle[];
  positions: Map<string, [number, number]>;
  highlight: Highlight | null;
  showLabels: boolean;
  palette: Palette;
  classes: Styles;
}

const formatRate = getValueFormat('reqps');
const MAX_LABEL = 28;

function shorten(text: string): string {
  return text.length > MAX_LABEL ? `${text.slice(0, 12)}…${text.slice(-(MAX_LABEL - 13))}` : text;
}

/** The nodes: a circle coloured by status and sized by traffic, dashed for external callers, and a label. */
export const NodesLayer = memo(function NodesLayer({ nodes, styles, positions, highlight, showLabels, palette, classes }: Props) {
  return (
    <g data-testid="servicemap-nodes">
      {nodes.map((node, i) => {
        const p = positions.get(node.id);
        if (!p) {
          return null;
        }
        const s = styles[i];
        const dimmed = highlight !== null && !highlight.nodes.has(node.id);
        const labelled = showLabels ? !dimmed : highlight?.nodes.has(node.id) === true;
        return (
          <g
            key={node.id}
            data-testid="servicemap-node"
            data-kind="node"
            data-index={i}
            data-id={node.id}
            data-status={s.status}
            data-dimmed={dimmed ? 'true' : undefined}
            role="button"
            aria-label={`node ${node.title}`}
            transform={`translate(${p[0]},${p[1]})`}
            className={dimmed ? `${classes.node} ${classes.dimmed}` : classes.node}
          >
            <circle
              r={s.r}
              fill={colorManipulator.alpha(s.color, 0.22)}
              stroke={highlight?.matches.includes(node.id) ? palette.highlight : s.color}
              strokeWidth={highlight?.matches.includes(node.id) ? 4 : 2.5}
              strokeDasharray={s.dashed ? '4 3' : undefined}
            />
            {labelled && (
              <>
                <text className={classes.label} y={s.r + 13} textAnchor="middle" fill={palette.text}>
                  {shorten(node.title)}
                </text>
                {node.requestRate !== null && (
                  <text className={classes.labelStat} y={s.r + 25} textAnchor="middle" fill={palette.textWeak}>
                    {formattedValueToString(formatRate(node.requestRate))}
                  </text>
                )}
              </>
            )}
          </g>
        );
      })}
    </g>
  );
});
