import { createDataFrame, FieldType } from '@grafana/data';

import { addressOf, buildMapModel, EXTERNAL_GROUP_ID, findMapFrames, levelOf, MapEdge, MapNode, ServiceMapModel } from './map-model';
import { demoFrames, edgesFrame, nodesFrame } from './test-frames';

const PREFERRED = { grouping: 'none' as const, tapSideMode: 'preferred' as const };

const node = (m: ServiceMapModel, id: string): MapNode => {
  const n = m.nodes.find((x) => x.id === id);
  if (!n) {
    throw new Error(`no node ${id} in ${m.nodes.map((x) => x.id)}`);
  }
  return n;
};
const edge = (m: ServiceMapModel, source: string, target: string): MapEdge[] => m.edges.filter((e) => e.source === source && e.target === target);
const column = (m: ServiceMapModel, frame: 'nodeFrame' | 'edgeFrame', name: string) => m[frame].fields.find((f) => f.name === name)?.values;

describe('buildMapModel', () => {
  it('reads the demo map: 6 nodes, 4 edges, external clients kept and marked', () => {
    const m = buildMapModel(demoFrames(), PREFERRED);
    expect(m.nodes.map((n) => n.id).sort()).toEqual(['127.0.0.1', '127.0.0.1:16379', '127.0.0.1:18080', '127.0.0.1:18099', '::1', '[::1]:18080']);
    expect(m.edges).toHaveLength(4);
    expect(m.nodes.filter((n) => n.external).map((n) => n.id).sort()).toEqual(['127.0.0.1', '::1']);
    expect(node(m, '::1').kind).toBe('external');
    expect(node(m, '127.0.0.1:18080').kind).toBe('unknown');
    expect(m.level).toBe('service');
    // Numbers as the frames have them; response times in µs.
    expect(node(m, '127.0.0.1:18080')).toMatchObject({ requestRate: 0.66, errorRatio: 0.222, rrtAvg: 28.75 });
    // A caller's error ratio is its own as a client; a service that answered nothing has none.
    expect(node(m, '::1').errorRatio).toBe(0.368);
    expect(node(m, '127.0.0.1:18099').errorRatio).toBeNull();
    const refused = edge(m, '127.0.0.1', '127.0.0.1:18099')[0];
    expect(refused).toMatchObject({ requestRate: 0, errorRatio: null, connectionFailures: 3, tapSide: 'local' });
    // Frames for links and tooltips: one row per drawn node / edge, fields and units as the input.
    expect(column(m, 'nodeFrame', 'id')).toEqual(m.nodes.map((n) => n.id));
    expect(column(m, 'edgeFrame', 'id')).toEqual(m.edges.map((e) => e.id));
    expect(m.edgeFrame.fields.find((f) => f.name === 'detail__rrt_avg')?.config.unit).toBe('µs');
  });

  it('takes a node or edge that several frames hold once (no double counting)', () => {
    const [nodes, edges] = demoFrames();
    // The same map from two queries (A and B), and a duplicated edge row.
    const again = demoFrames().map((f) => ({ ...f, refId: 'B' }));
    const dup = edgesFrame([{ source: '127.0.0.1', target: '127.0.0.1:18080', rate: 99 }], 'C');
    const m = buildMapModel([nodes, edges, ...again, dup], PREFERRED);
    expect(m.nodes).toHaveLength(6);
    expect(m.edges).toHaveLength(4);
    expect(edge(m, '127.0.0.1', '127.0.0.1:18080')[0].requestRate).toBe(0.66);
    expect(m.duplicates).toBe(6 + 4 + 1);
  });

  it('keeps the most trusted observation point of a pair seen at several, without adding them up', () => {
    const frames = [
      nodesFrame([{ id: 'web', kind: 'external' }, { id: 'db' }]),
      edgesFrame([
        { id: 'web->db@c-p', source: 'web', target: 'db', rate: 10, errorRatio: 0.1, tapSide: 'c-p', rrtAvg: 900 },
        { id: 'web->db@s-p', source: 'web', target: 'db', rate: 9.8, errorRatio: 0.05, tapSide: 's-p', rrtAvg: 800 },
        { id: 'web->db@s', source: 'web', target: 'db', rate: 9.7, errorRatio: 0.05, tapSide: 's', rrtAvg: 810 },
      ]),
    ];
    const m = buildMapModel(frames, PREFERRED);
    expect(m.edges).toHaveLength(1);
    expect(m.edges[0]).toMatchObject({ id: 'web->db@s-p', requestRate: 9.8, tapSide: 's-p', seenAt: ['s-p', 's', 'c-p'] });
    expect(m.collapsed).toBe(2);
    // Node numbers from that one edge, not from the three (which the agent's nodes frame adds up in `all` mode).
    expect(node(m, 'db').requestRate).toBe(9.8);
    expect(node(m, 'db').rrtAvg).toBe(800);

    const all = buildMapModel(frames, { grouping: 'none', tapSideMode: 'all' });
    expect(all.edges.map((e) => e.tapSide).sort()).toEqual(['c-p', 's', 's-p']);
    expect(all.edges.map((e) => e.parallel.count)).toEqual([3, 3, 3]);
    expect(new Set(all.edges.map((e) => e.parallel.index))).toEqual(new Set([0, 1, 2]));
    expect(node(all, 'db').requestRate).toBe(9.8);
  });

  it('keeps nodes that only edges name, callers marked external', () => {
    const m = buildMapModel([edgesFrame([{ source: '203.0.113.9', target: 'web:80', rate: 2 }, { source: 'web:80', target: 'db:5432', rate: 1 }])], PREFERRED);
    expect(m.nodes.map((n) => [n.id, n.kind, n.inferred])).toEqual([
      ['203.0.113.9', 'external', true],
      ['db:5432', 'unknown', true],
      ['web:80', 'unknown', true],
    ]);
    expect(node(m, 'web:80')).toMatchObject({ requestRate: 2 });
    expect(node(m, '203.0.113.9')).toMatchObject({ external: true, requestRate: 2 });
  });

  it('groups the ports of an address; distinct pairs add up, each edge once', () => {
    const frames = [
      nodesFrame([{ id: '10.0.0.1', kind: 'external' }, { id: '10.0.0.2:80', mainstat: 3 }, { id: '10.0.0.2:443', mainstat: 1 }, { id: '[fd00::1]:5432', mainstat: 4 }]),
      edgesFrame([
        { source: '10.0.0.1', target: '10.0.0.2:80', rate: 3, errorRatio: 0, rrtAvg: 100, bytes: 300 },
        { source: '10.0.0.1', target: '10.0.0.2:443', rate: 1, errorRatio: 0.4, rrtAvg: 500, bytes: 100 },
        { source: '10.0.0.2:80', target: '[fd00::1]:5432', rate: 4, errorRatio: 0, rrtAvg: 50 },
      ]),
    ];
    const m = buildMapModel(frames, { grouping: 'address', tapSideMode: 'preferred' });
    expect(m.nodes.map((n) => n.id).sort()).toEqual(['10.0.0.1', '10.0.0.2', 'fd00::1']);
    const grouped = edge(m, '10.0.0.1', '10.0.0.2')[0];
    expect(grouped).toMatchObject({ requestRate: 4, bytes: 400, members: ['10.0.0.1->10.0.0.2:443', '10.0.0.1->10.0.0.2:80'] });
    expect(grouped.errorRatio).toBeCloseTo(0.1);
    expect(grouped.rrtAvg).toBeCloseTo(200);
    const server = node(m, '10.0.0.2');
    expect(server).toMatchObject({ kind: 'group', requestRate: 4, members: ['10.0.0.2:443', '10.0.0.2:80'] });
    expect(server.rrtAvg).toBeCloseTo(200);
    // The merged rows in the frames carry the merged numbers.
    const ids = column(m, 'edgeFrame', 'id') as string[];
    expect((column(m, 'edgeFrame', 'mainstat') as number[])[ids.indexOf(grouped.id)]).toBe(4);
  });

  it('can fold all external clients into one node', () => {
    const m = buildMapModel(demoFrames(), { grouping: 'external', tapSideMode: 'preferred' });
    expect(m.nodes).toHaveLength(5);
    const ext = node(m, EXTERNAL_GROUP_ID);
    expect(ext).toMatchObject({ external: true, kind: 'external', title: 'external clients (2)', members: ['127.0.0.1', '::1'] });
    expect(m.edges.every((e) => e.source === EXTERNAL_GROUP_ID)).toBe(true);
    expect(m.edges).toHaveLength(4);
    expect(ext.requestRate).toBeCloseTo(0.35 + 0.73 + 0.66);
  });

  it('converts response times given in ms to µs', () => {
    const edges = edgesFrame([{ source: 'a', target: 'b', rrtAvg: 2 }]);
    edges.fields.find((f) => f.name === 'detail__rrt_avg')!.config.unit = 'ms';
    expect(buildMapModel([edges], PREFERRED).edges[0].rrtAvg).toBe(2000);
  });

  it('is empty without map frames', () => {
    const table = createDataFrame({ fields: [{ name: 'service', type: FieldType.string, values: ['x'] }] });
    const m = buildMapModel([table], PREFERRED);
    expect(m.nodes).toEqual([]);
    expect(m.edges).toEqual([]);
  });
});

describe('helpers', () => {
  it('finds map frames by name or by Node Graph fields', () => {
    const [nodes, edges] = demoFrames();
    const unnamedEdges = { ...edges, name: undefined };
    expect(findMapFrames([nodes, unnamedEdges])).toEqual({ nodes: [nodes], edges: [unnamedEdges] });
  });

  it('addressOf strips ports of IPv4, IPv6 and names, and leaves bare addresses alone', () => {
    expect(['127.0.0.1:18080', '[::1]:18080', 'web:80', '::1', 'fd00::1', 'web'].map(addressOf)).toEqual(['127.0.0.1', '::1', 'web', '::1', 'fd00::1', 'web']);
  });

  it('levelOf reads the level from subtitles', () => {
    expect(levelOf(['external client', 'unknown ip', 'ip'])).toBe('ip');
    expect(levelOf(['external client'])).toBe('service');
  });
});
