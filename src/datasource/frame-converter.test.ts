import { FieldType } from '@grafana/data';

import { toGrafanaFrames } from './frame-converter';

describe('toGrafanaFrames', () => {
  it('keeps types, units and labels, sets the refId and the legend', () => {
    const [frame] = toGrafanaFrames(
      [
        {
          name: 'web',
          fields: [
            { name: 'time', type: 'time', values: [1000, 2000] },
            { name: 'request_rate', type: 'number', values: [1, 2], labels: { service: 'web' }, config: { unit: 'reqps' } },
          ],
          meta: { executedQueryString: 'SELECT 1' },
        },
      ],
      { refId: 'A', legend: '${service} requests' },
    );
    expect(frame.refId).toBe('A');
    expect(frame.length).toBe(2);
    expect(frame.fields[0].type).toBe(FieldType.time);
    expect(frame.fields[1].config).toEqual({ unit: 'reqps', displayNameFromDS: 'web requests' });
    expect(frame.fields[1].labels).toEqual({ service: 'web' });
    expect(frame.meta?.executedQueryString).toBe('SELECT 1');
  });

  it('links every trace id of the request log to the requests of that trace', () => {
    const [frame] = toGrafanaFrames(
      [{ fields: [{ name: 'time', type: 'time', values: [1] }, { name: 'trace_id', type: 'string', values: ['abc'] }], meta: { preferredVisualisationType: 'logs' } }],
      { refId: 'L', datasource: { uid: 'mf', name: 'MetaFlow' } },
    );
    const link = frame.fields[1].config.links?.[0];
    expect(link?.internal?.datasourceUid).toBe('mf');
    expect(link?.internal?.query).toMatchObject({ dataType: 'l7_flow_log', format: 'logs', filters: [{ tag: 'trace_id', op: '=', values: ['${__value.raw}'] }] });
  });
});
