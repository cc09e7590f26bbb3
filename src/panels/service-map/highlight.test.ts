import { highlightOf } from './highlight';
import { buildMapModel } from './map-model';
import { demoFrames } from './test-frames';

const model = buildMapModel(demoFrames(), { grouping: 'none', tapSideMode: 'preferred' });

describe('highlightOf', () => {
  it('is nothing without a search or focus', () => {
    expect(highlightOf(model, '  ')).toBeNull();
  });

  it('finds nodes by name, case-insensitive, with their neighbours and edges', () => {
    const h = highlightOf(model, '16379')!;
    expect(h.matches).toEqual(['127.0.0.1:16379']);
    expect([...h.nodes].sort()).toEqual(['127.0.0.1', '127.0.0.1:16379']);
    expect([...h.edges]).toEqual(['127.0.0.1->127.0.0.1:16379']);
  });

  it('highlights a focused node and all it talks to', () => {
    const h = highlightOf(model, '', '127.0.0.1')!;
    expect(h.nodes.size).toBe(4);
    expect(h.edges.size).toBe(3);
  });

  it('matches nothing for an unknown name', () => {
    const h = highlightOf(model, 'nope')!;
    expect(h.matches).toEqual([]);
    expect(h.nodes.size).toBe(0);
  });
});
