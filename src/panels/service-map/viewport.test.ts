import { boundsOf, fitTransform, IDENTITY, panBy, toScreen, zoomAt, ZOOM_LIMITS } from './viewport';

describe('viewport', () => {
  it('fits a layout into the panel, centred', () => {
    const b = boundsOf([
      [0, 0],
      [1000, 500],
    ]);
    const t = fitTransform(b, 520, 320, 10);
    expect(t.k).toBeCloseTo(0.5);
    expect(toScreen(t, 0, 0)).toEqual([10, 35]);
    expect(toScreen(t, 1000, 500)).toEqual([510, 285]);
  });

  it('does not magnify a small map beyond 1.5, nor fit nothing', () => {
    expect(fitTransform(boundsOf([[5, 5]], 10), 800, 600).k).toBe(1.5);
    expect(fitTransform(null, 800, 600)).toEqual(IDENTITY);
    expect(fitTransform(boundsOf([[0, 0]]), 0, 0)).toEqual(IDENTITY);
  });

  it('zooms around the pointer and within limits', () => {
    const t = zoomAt({ k: 1, x: 0, y: 0 }, 2, 100, 50);
    expect(t).toEqual({ k: 2, x: -100, y: -50 });
    expect(toScreen(t, 100, 50)).toEqual([100, 50]);
    expect(zoomAt(t, 1000, 0, 0).k).toBe(ZOOM_LIMITS.max);
    expect(zoomAt(t, 0, 0, 0).k).toBe(ZOOM_LIMITS.min);
  });

  it('pans', () => {
    expect(panBy({ k: 2, x: 1, y: 1 }, 10, -5)).toEqual({ k: 2, x: 11, y: -4 });
  });
});
