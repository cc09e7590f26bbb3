import { createTheme } from '@grafana/data';

import { detailRows } from './details';
import { buildMapModel } from './map-model';
import { demoFrames } from './test-frames';

const theme = createTheme();
const model = buildMapModel(demoFrames(), { grouping: 'none', tapSideMode: 'preferred' });

describe('detailRows', () => {
  it('shows every metric of an edge with its unit', () => {
    const e = model.edges.find((x) => x.target === '127.0.0.1:18080')!;
    const rows = Object.fromEntries(detailRows(model.edgeFrame, e.row, theme).map((r) => [r.label, r.value]));
    expect(rows).toEqual({
      'requests/s': '0.660 req/s',
      'error ratio': '22.2%',
      'avg response time': '28.8 µs',
      'p99 response time': '210 µs',
      'timeout ratio': '0%',
      'bytes/s': '360 B/s',
      rtt: '31.6 µs',
      'retransmission ratio': '0%',
      'connection failures': '0',
      'tap side': 'local',
      'seen at': 'local',
    });
  });

  it('leaves out missing values and shows node arcs as percentages', () => {
    const n = model.nodes.find((x) => x.id === '::1')!;
    const rows = Object.fromEntries(detailRows(model.nodeFrame, n.row, theme).map((r) => [r.label, r.value]));
    expect(rows.errors).toBe('36.8%');
    expect(rows['avg response time']).toBeUndefined();
    expect(rows.kind).toBe('external');
    expect(rows.ok).toBeUndefined();
  });
});
