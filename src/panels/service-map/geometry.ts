/** Shapes of edges: from circle to circle, bent apart when several join the same two nodes. */

export type Point = [number, number];

export interface EdgeShape {
  /** SVG path data. */
  d: string;
  /** Where a label or tooltip anchor goes. */
  mid: Point;
}

/** Space between parallel edges at their middle. */
const SPREAD = 22;
/** The arrow head sits this far off the target circle. */
const ARROW_GAP = 2;

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/**
 * Path of an edge from `s` (radius rs) to `t` (radius rt). `index` / `count` place it among the
 * edges between the same two nodes; `flip` is set for edges drawn against their pair's canonical
 * direction so that a → b and b → a bend to opposite sides.
 */
export function edgeShape(s: Point, t: Point, rs: number, rt: number, index: number, count: number, flip: boolean): EdgeShape {
  const dx = t[0] - s[0];
  const dy = t[1] - s[1];
  const len = Math.hypot(dx, dy);
  if (len < 1e-6) {
    return selfLoop(s, rs, index);
  }
  // Perpendicular offset of the curve's middle; a lone edge is straight.
  const offset = (index - (count - 1) / 2) * SPREAD * (flip ? -1 : 1);
  const nx = -dy / len;
  const ny = dx / len;
  const control: Point = [(s[0] + t[0]) / 2 + nx * offset * 2, (s[1] + t[1]) / 2 + ny * offset * 2];
  const toward = (from: Point, to: Point, r: number): Point => {
    const l = Math.hypot(to[0] - from[0], to[1] - from[1]) || 1;
    return [from[0] + ((to[0] - from[0]) / l) * r, from[1] + ((to[1] - from[1]) / l) * r];
  };
  const a = toward(s, control, rs);
  const b = toward(t, control, rt + ARROW_GAP);
  const mid: Point = [(s[0] + t[0]) / 2 + nx * offset, (s[1] + t[1]) / 2 + ny * offset];
  if (offset === 0) {
    return { d: `M${fmt(a[0])},${fmt(a[1])}L${fmt(b[0])},${fmt(b[1])}`, mid };
  }
  return { d: `M${fmt(a[0])},${fmt(a[1])}Q${fmt(control[0])},${fmt(control[1])} ${fmt(b[0])},${fmt(b[1])}`, mid };
}

/** A loop above the node, for calls within a group. */
function selfLoop(c: Point, r: number, index: number): EdgeShape {
  const size = r * 2.2 + index * 12;
  const a: Point = [c[0] - r * 0.6, c[1] - r * 0.8];
  const b: Point = [c[0] + r * 0.6, c[1] - r * 0.8 - ARROW_GAP];
  return {
    d: `M${fmt(a[0])},${fmt(a[1])}C${fmt(c[0] - size)},${fmt(c[1] - size * 1.4)} ${fmt(c[0] + size)},${fmt(c[1] - size * 1.4)} ${fmt(b[0])},${fmt(b[1])}`,
    mid: [c[0], c[1] - size * 1.1],
  };
}
