import { dateTime, LinkModel, TimeRange } from '@grafana/data';

import { datasourceOf, edgeLinks, LinkContext, nodeLinks } from './links';
import { buildMapModel, EXTERNAL_GROUP_ID, ServiceMapModel } from './map-model';
import { demoFrames, fakeReplaceVariables } from './test-frames';
import { DEFAULT_OPTIONS, Grouping, LinkOptions } from './types';

const range: TimeRange = { from: dateTime(1_000), to: dateTime(2_000), raw: { from: 'now-1h', to: 'now' } };

function context(links: Partial<LinkOptions> = {}): LinkContext {
  return {
    options: { ...DEFAULT_OPTIONS.links, ...links },
    datasourceUid: 'metaflow',
    timeRange: range,
    replaceVariables: fakeReplaceVariables({ ds: 'metaflow-prod', tap_side: 'local' }) as LinkContext['replaceVariables'],
  };
}

const model = (grouping: Grouping = 'none'): ServiceMapModel => buildMapModel(demoFrames(), { grouping, tapSideMode: 'preferred' });

/** The Explore state an Explore link opens. */
function exploreState(link: LinkModel) {
  const m = /^\/explore\?left=(.*)$/.exec(link.href);
  if (!m) {
    throw new Error(`not an Explore link: ${link.href}`);
  }
  return JSON.parse(decodeURIComponent(m[1]));
}

describe('edge links', () => {
  it('opens the request log of the edge in Explore: client and server filters, its tap side, the panel range', () => {
    const m = model();
    const e = m.edges.find((x) => x.target === '127.0.0.1:18080')!;
    const [link] = edgeLinks(m, e, context());
    expect(link.title).toBe('Request log of this edge');
    const state = exploreState(link);
    expect(state.datasource).toBe('metaflow');
    expect(state.range).toEqual({ from: 'now-1h', to: 'now' }); // the panel's range, relative as the dashboard has it
    expect(state.queries[0]).toMatchObject({
      datasource: { type: 'metaflow-datasource', uid: 'metaflow' },
      mode: 'builder',
      dataType: 'l7_flow_log',
      format: 'logs',
      filters: [
        { tag: 'service_0', op: '=', values: ['127.0.0.1'] },
        { tag: 'service_1', op: '=', values: ['127.0.0.1:18080'] },
      ],
      tapSide: ['local'],
    });
  });

  it('takes the data source from the options, with variables', () => {
    const m = model();
    const [link] = edgeLinks(m, m.edges[0], context({ datasourceUid: '$ds' }));
    expect(exploreState(link).datasource).toBe('metaflow-prod');
    // The query's own data source, when it is a variable, too.
    const [viaQuery] = edgeLinks(m, m.edges[0], { ...context(), datasourceUid: '${ds}' });
    expect(exploreState(viaQuery).queries[0].datasource.uid).toBe('metaflow-prod');
  });

  it('filters a folded external group by its members, an address group by ip', () => {
    const ext = model('external');
    const e = ext.edges.find((x) => x.source === EXTERNAL_GROUP_ID && x.target === '127.0.0.1:18080')!;
    expect(exploreState(edgeLinks(ext, e, context())[0]).queries[0].filters[0]).toEqual({ tag: 'service_0', op: 'in', values: ['127.0.0.1', '::1'] });
    const byAddress = model('address');
    const a = byAddress.edges.find((x) => x.source === '::1')!;
    expect(exploreState(edgeLinks(byAddress, a, context())[0]).queries[0].filters).toEqual([
      { tag: 'ip_0', op: '=', values: ['::1'] },
      { tag: 'ip_1', op: '=', values: ['::1'] },
    ]);
  });

  it('offers no request log where the level has no request-log tag (host)', () => {
    const frames = demoFrames();
    const subtitles = frames[0].fields.find((f) => f.name === 'subtitle')!;
    subtitles.values = subtitles.values.map((v: string) => (v === 'external client' ? v : 'host'));
    const m = buildMapModel(frames, { grouping: 'none', tapSideMode: 'preferred' });
    expect(m.level).toBe('host');
    expect(edgeLinks(m, m.edges[0], context())).toEqual([]);
  });

  it('adds the links configured on the id field after the built-in ones, with the row and variables in them', () => {
    const m = model();
    m.edgeFrame.fields.find((f) => f.name === 'id')!.config.links = [{ title: 'Trace of ${__data.fields.target}', url: '/d/traces?var-svc=${__data.fields.target}&var-side=$tap_side' }];
    const e = m.edges.find((x) => x.target === '[::1]:18080')!;
    const links = edgeLinks(m, e, context());
    expect(links.map((l) => l.title)).toEqual(['Request log of this edge', 'Trace of [::1]:18080']);
    expect(links[1].href).toBe('/d/traces?var-svc=%5B%3A%3A1%5D%3A18080&var-side=local');
    expect(edgeLinks(m, e, context({ builtIn: false })).map((l) => l.title)).toEqual(['Trace of [::1]:18080']);
  });
});

describe('node links', () => {
  it('links a service to its RED dashboard (time range and name in the URL) and its request log as server', () => {
    const m = model();
    const n = m.nodes.find((x) => x.id === '127.0.0.1:18080')!;
    const links = nodeLinks(m, n, context());
    expect(links.map((l) => l.title)).toEqual(['RED dashboard of this service', 'Request log of this service']);
    expect(links[0].href).toBe('/d/metaflow-red/metaflow-red-overview?var-service=127.0.0.1%3A18080&from=1000&to=2000');
    expect(exploreState(links[1]).queries[0].filters).toEqual([{ tag: 'service_1', op: '=', values: ['127.0.0.1:18080'] }]);
  });

  it('gives an external client no RED dashboard, and its request log as client', () => {
    const m = model();
    const links = nodeLinks(m, m.nodes.find((x) => x.id === '::1')!, context());
    expect(links.map((l) => l.title)).toEqual(['Request log of this client']);
    expect(exploreState(links[0]).queries[0].filters).toEqual([{ tag: 'service_0', op: '=', values: ['::1'] }]);
  });
});

describe('datasourceOf', () => {
  it("is the frame's query's data source, not a mixed one", () => {
    const request = { targets: [{ refId: 'A', datasource: { uid: 'one' } }, { refId: 'B', datasource: { uid: 'two' } }] } as never;
    expect(datasourceOf(request, 'B')).toBe('two');
    expect(datasourceOf(request, 'Z')).toBe('one');
    expect(datasourceOf({ targets: [{ refId: 'A', datasource: { uid: '-- Mixed --' } }] } as never)).toBeUndefined();
    expect(datasourceOf(undefined)).toBeUndefined();
  });
});
