import { edgeShape } from './geometry';

describe('edgeShape', () => {
  it('draws a lone edge straight, from circle to circle', () => {
    const s = edgeShape([0, 0], [100, 0], 10, 20, 0, 1, false);
    expect(s.d).toBe('M10,0L78,0');
    expect(s.mid).toEqual([50, 0]);
  });

  it('bends parallel edges apart, and a → b and b → a to opposite sides', () => {
    const first = edgeShape([0, 0], [100, 0], 10, 10, 0, 2, false);
    const second = edgeShape([0, 0], [100, 0], 10, 10, 1, 2, false);
    expect(first.d).toMatch(/Q/);
    expect(first.mid[1]).toBeCloseTo(-11);
    expect(second.mid[1]).toBeCloseTo(11);
    // a → b in slot 0 and b → a in slot 1: a slot is a side of the pair's line whatever the direction.
    const back = edgeShape([100, 0], [0, 0], 10, 10, 1, 2, true);
    expect(back.mid[1]).toBeCloseTo(11);
    expect(back.mid[1]).not.toBeCloseTo(first.mid[1]);
  });

  it('draws a loop for an edge from a node to itself', () => {
    const loop = edgeShape([50, 50], [50, 50], 10, 10, 0, 1, false);
    expect(loop.d).toMatch(/^M.*C/);
    expect(loop.mid[1]).toBeLessThan(50);
  });
});
