import React from 'react';

import { DetailRow } from './details';
import { Styles } from './styles';

interface Props {
  title: string;
  subtitle?: string;
  rows: DetailRow[];
  /** Pointer position within the panel. */
  x: number;
  y: number;
  width: number;
  height: number;
  classes: Styles;
}

const OFFSET = 14;
const ESTIMATED_WIDTH = 300;

/** Every metric of the node or edge under the pointer, with units. */
export function MapTooltip({ title, subtitle, rows, x, y, width, height, classes }: Props) {
  // Beside the pointer, on the side with room.
  const left = x + OFFSET + ESTIMATED_WIDTH > width ? Math.max(0, x - OFFSET - ESTIMATED_WIDTH) : x + OFFSET;
  const estimatedHeight = 40 + rows.length * 17;
  const top = y + OFFSET + estimatedHeight > height ? Math.max(0, y - OFFSET - estimatedHeight) : y + OFFSET;
  return (
    <div className={classes.tooltip} style={{ left, top }} data-testid="servicemap-tooltip" role="tooltip">
      <div className={classes.tooltipTitle}>{title}</div>
      {subtitle && <div className={classes.tooltipSubtitle}>{subtitle}</div>}
      <table className={classes.tooltipTable}>
        <tbody>
          {rows.map((r) => (
            <tr key={r.label}>
              <th scope="row">{r.label}</th>
              <td>{r.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
