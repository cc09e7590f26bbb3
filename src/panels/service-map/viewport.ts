/** Zoom and pan of the map: a transform from layout coordinates to the panel (screen = world × k + (x, y)). */

export interface Transform {
  k: number;
  x: number;
  y: number;
}

export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

export const ZOOM_LIMITS = { min: 0.02, max: 4 };
/** Fitting never magnifies a small map beyond this. */
const FIT_MAX = 1.5;

export const IDENTITY: Transform = { k: 1, x: 0, y: 0 };

export function boundsOf(points: Iterable<[number, number]>, margin = 0): Bounds | null {
  let b: Bounds | null = null;
  for (const [x, y] of points) {
    if (!b) {
      b = { minX: x, minY: y, maxX: x, maxY: y };
    } else {
      b.minX = Math.min(b.minX, x);
      b.minY = Math.min(b.minY, y);
      b.maxX = Math.max(b.maxX, x);
      b.maxY = Math.max(b.maxY, y);
    }
  }
  return b && { minX: b.minX - margin, minY: b.minY - margin, maxX: b.maxX + margin, maxY: b.maxY + margin };
}

const clampK = (k: number) => Math.min(ZOOM_LIMITS.max, Math.max(ZOOM_LIMITS.min, k));

/** The transform that shows the bounds whole, centred, in a width × height viewport. */
export function fitTransform(bounds: Bounds | null, width: number, height: number, padding = 24): Transform {
  if (!bounds || width <= 0 || height <= 0) {
    return IDENTITY;
  }
  const w = Math.max(1, bounds.maxX - bounds.minX);
  const h = Math.max(1, bounds.maxY - bounds.minY);
  const k = clampK(Math.min(FIT_MAX, (width - 2 * padding) / w, (height - 2 * padding) / h));
  return { k, x: width / 2 - ((bounds.minX + bounds.maxX) / 2) * k, y: height / 2 - ((bounds.minY + bounds.maxY) / 2) * k };
}

/** Zoom by a factor keeping the point (px, py) of the viewport where it is. */
export function zoomAt(t: Transform, factor: number, px: number, py: number): Transform {
  const k = clampK(t.k * factor);
  const f = k / t.k;
  return { k, x: px - (px - t.x) * f, y: py - (py - t.y) * f };
}

export function panBy(t: Transform, dx: number, dy: number): Transform {
  return { k: t.k, x: t.x + dx, y: t.y + dy };
}

/** The viewport point of a layout point. */
export function toScreen(t: Transform, x: number, y: number): [number, number] {
  return [x * t.k + t.x, y * t.k + t.y];
}
