/**
 * Zoom (wheel, buttons), pan (drag) and fit of the map's SVG. The map fits the panel until the
 * user zooms or pans; from then on the view stays where the user put it, through refreshes.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { Bounds, fitTransform, IDENTITY, panBy, Transform, zoomAt } from './viewport';

const DRAG_THRESHOLD = 4;

export interface Viewport {
  transform: Transform;
  /** Ref callback of the SVG element (for the wheel listener). */
  svgRef: (el: SVGSVGElement | null) => void;
  fit: (bounds?: Bounds | null) => void;
  zoomBy: (factor: number) => void;
  /** Whether the last pointer press became a drag (its click is not a click). */
  wasDrag: () => boolean;
  onPointerDown: (e: React.PointerEvent<SVGSVGElement>) => void;
  onPointerMove: (e: React.PointerEvent<SVGSVGElement>) => void;
  onPointerUp: (e: React.PointerEvent<SVGSVGElement>) => void;
}

export function useViewport(bounds: Bounds | null, width: number, height: number): Viewport {
  const [el, svgRef] = useState<SVGSVGElement | null>(null);
  const [transform, setTransform] = useState<Transform>(() => fitTransform(bounds, width, height));
  const moved = useRef(false);
  const drag = useRef<{ x: number; y: number; start: Transform; dragging: boolean; id: number } | null>(null);
  const dragged = useRef(false);

  // Fit until the user takes over.
  useEffect(() => {
    if (!moved.current) {
      setTransform(fitTransform(bounds, width, height));
    }
  }, [bounds, width, height]);

  const fit = useCallback(
    (target?: Bounds | null) => {
      moved.current = target !== undefined;
      setTransform(fitTransform(target === undefined ? bounds : target, width, height));
    },
    [bounds, width, height],
  );

  const zoomBy = useCallback(
    (factor: number) => {
      moved.current = true;
      setTransform((t) => zoomAt(t, factor, width / 2, height / 2));
    },
    [width, height],
  );

  // Wheel zoom around the pointer (a listener that may prevent the page from scrolling).
  useEffect(() => {
    if (!el) {
      return;
    }
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const rect = el.getBoundingClientRect();
      moved.current = true;
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      setTransform((t) => zoomAt(t, factor, e.clientX - rect.left, e.clientY - rect.top));
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, [el]);

  const onPointerDown = useCallback(
    (e: React.PointerEvent<SVGSVGElement>) => {
      if (e.button !== 0) {
        return;
      }
      dragged.current = false;
      drag.current = { x: e.clientX, y: e.clientY, start: transform, dragging: false, id: e.pointerId };
    },
    [transform],
  );

  const onPointerMove = useCallback((e: React.PointerEvent<SVGSVGElement>) => {
    const d = drag.current;
    if (!d || d.id !== e.pointerId) {
      return;
    }
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.dragging && Math.hypot(dx, dy) < DRAG_THRESHOLD) {
      return;
    }
    if (!d.dragging) {
      d.dragging = true;
      dragged.current = true;
      moved.current = true;
      e.currentTarget.setPointerCapture?.(e.pointerId);
    }
    setTransform(panBy(d.start, dx, dy));
  }, []);

  const onPointerUp = useCallback((e: React.PointerEvent<SVGSVGElement>) => {
    if (drag.current?.dragging) {
      e.currentTarget.releasePointerCapture?.(e.pointerId);
    }
    drag.current = null;
  }, []);

  const wasDrag = useCallback(() => dragged.current, []);

  return { transform: transform ?? IDENTITY, svgRef, fit, zoomBy, wasDrag, onPointerDown, onPointerMove, onPointerUp };
}
