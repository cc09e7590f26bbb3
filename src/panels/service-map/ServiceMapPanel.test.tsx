import React from 'react';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { DataFrame, dateTime, LoadingState, PanelProps } from '@grafana/data';

import { plugin } from './module';
import { ServiceMapPanel } from './ServiceMapPanel';
import { demoFrames, edgesFrame, fakeReplaceVariables, nodesFrame } from './test-frames';
import { DEFAULT_OPTIONS, OPTIONS_VERSION, ServiceMapOptions } from './types';
import { forgetLayouts } from './use-layout';

const range = { from: dateTime(1_000), to: dateTime(2_000), raw: { from: 'now-1h', to: 'now' } };

function props(series: DataFrame[], options: Partial<ServiceMapOptions> = {}, id = 1): PanelProps<ServiceMapOptions> {
  return {
    id,
    data: { series, state: LoadingState.Done, timeRange: range, request: { targets: [{ refId: 'A', datasource: { type: 'metaflow-datasource', uid: 'mf' } }] } },
    timeRange: range,
    timeZone: 'utc',
    options: { ...DEFAULT_OPTIONS, ...options },
    width: 800,
    height: 500,
    replaceVariables: fakeReplaceVariables({}),
    fieldConfig: { defaults: {}, overrides: [] },
  } as unknown as PanelProps<ServiceMapOptions>;
}

async function renderMap(series: DataFrame[], options: Partial<ServiceMapOptions> = {}) {
  const view = render(<ServiceMapPanel {...props(series, options)} />);
  await waitFor(() => expect(screen.getByTestId('metaflow-servicemap-panel')).toHaveAttribute('data-render-state', 'ready'));
  return view;
}

const nodeEl = (id: string) => screen.getAllByTestId('servicemap-node').find((el) => el.getAttribute('data-id') === id)!;
const edgeEl = (id: string) => screen.getAllByTestId('servicemap-edge').find((el) => el.getAttribute('data-id') === id)!;

beforeEach(() => forgetLayouts());

describe('ServiceMapPanel', () => {
  it('is the panel of the plugin, with options and a migration handler', () => {
    expect(plugin.panel).toBe(ServiceMapPanel);
    expect(plugin.onPanelMigration).toBeDefined();
    const paths: string[] = [];
    const builder = { addRadio: add, addNumberInput: add, addBooleanSwitch: add, addTextInput: add };
    function add(this: typeof builder, item: { path: string }) {
      paths.push(item.path);
      return this;
    }
    plugin.getPanelOptionsSupplier()(builder as never, { data: [] });
    expect(paths).toEqual(expect.arrayContaining(['grouping', 'tapSideMode', 'colorBy', 'errorThresholds.warning', 'latencyThresholds.critical', 'sizeBy', 'widthBy', 'links.redDashboardUrl']));
  });

  it('draws the demo map: 6 nodes, 4 edges, the failed one dashed, external callers dashed', async () => {
    await renderMap(demoFrames());
    const root = screen.getByTestId('metaflow-servicemap-panel');
    expect(screen.getAllByTestId('servicemap-node')).toHaveLength(6);
    expect(screen.getAllByTestId('servicemap-edge')).toHaveLength(4);
    expect(root).toHaveAttribute('data-layout-engine', 'main'); // jsdom has no Worker
    expect(edgeEl('127.0.0.1->127.0.0.1:18099')).toHaveAttribute('data-dashed', 'true');
    expect(screen.getAllByTestId('servicemap-edge').filter((e) => e.getAttribute('data-dashed'))).toHaveLength(1);
    expect(nodeEl('::1').querySelector('circle')).toHaveAttribute('stroke-dasharray', '4 3');
    expect(nodeEl('[::1]:18080')).toHaveAttribute('data-status', 'critical');
    expect(screen.getByTestId('servicemap-summary')).toHaveTextContent('6 nodes, 4 edges');
    // Callers left of the services they call.
    const x = (id: string) => Number(/translate\(([-\d.]+),/.exec(nodeEl(id).getAttribute('transform')!)![1]);
    expect(x('127.0.0.1')).toBeLessThan(x('127.0.0.1:18080'));
  });

  it('opens the data links of a clicked edge: its request log in Explore', async () => {
    await renderMap(demoFrames());
    fireEvent.click(edgeEl('127.0.0.1->127.0.0.1:18080').querySelector('path')!);
    expect(await screen.findByTestId('servicemap-menu-header')).toHaveTextContent('127.0.0.1 → 127.0.0.1:18080');
    const link = screen.getAllByTestId('servicemap-link').find((a) => a.textContent === 'Request log of this edge')!;
    const href = link.getAttribute('href')!;
    expect(href).toMatch(/^\/explore\?left=/);
    const state = JSON.parse(decodeURIComponent(href.slice('/explore?left='.length)));
    expect(state.datasource).toBe('mf');
    expect(state.queries[0].filters).toEqual([
      { tag: 'service_0', op: '=', values: ['127.0.0.1'] },
      { tag: 'service_1', op: '=', values: ['127.0.0.1:18080'] },
    ]);
  });

  it('opens the links of a clicked service: RED dashboard and request log', async () => {
    await renderMap(demoFrames());
    fireEvent.click(nodeEl('127.0.0.1:16379').querySelector('circle')!);
    const menu = await screen.findByRole('menu');
    const items = within(menu).getAllByTestId('servicemap-link');
    expect(items.map((i) => i.textContent)).toEqual(['RED dashboard of this service', 'Request log of this service']);
    expect(items[0]).toHaveAttribute('href', '/d/metaflow-red/metaflow-red-overview?var-service=127.0.0.1%3A16379&from=1000&to=2000');
    // A click on the background closes it.
    fireEvent.click(screen.getByRole('img', { name: 'service map' }));
    await waitFor(() => expect(screen.queryByRole('menu')).not.toBeInTheDocument());
  });

  it('closes the links menu on Escape wherever focus is', async () => {
    await renderMap(demoFrames());
    fireEvent.click(nodeEl('127.0.0.1:16379').querySelector('circle')!);
    await screen.findByRole('menu');
    fireEvent.keyDown(document.body, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByRole('menu')).not.toBeInTheDocument());
  });

  it('shows every metric of the edge under the pointer, with units', async () => {
    await renderMap(demoFrames());
    fireEvent.mouseMove(edgeEl('::1->[::1]:18080').querySelector('path')!, { clientX: 50, clientY: 60 });
    const tooltip = await screen.findByTestId('servicemap-tooltip');
    expect(tooltip).toHaveTextContent('::1 → [::1]:18080');
    expect(tooltip).toHaveTextContent('requests/s0.350 req/s');
    expect(tooltip).toHaveTextContent('error ratio36.8%');
    expect(tooltip).toHaveTextContent('p99 response time1.85 ms');
    fireEvent.mouseLeave(screen.getByRole('img', { name: 'service map' }));
    expect(screen.queryByTestId('servicemap-tooltip')).not.toBeInTheDocument();
  });

  it('highlights the nodes a search finds and their neighbours, dims the rest', async () => {
    await renderMap(demoFrames());
    fireEvent.change(screen.getByLabelText('find a node'), { target: { value: '16379' } });
    const dimmed = screen.getAllByTestId('servicemap-node').filter((el) => el.getAttribute('data-dimmed') === 'true');
    expect(dimmed.map((el) => el.getAttribute('data-id')).sort()).toEqual(['127.0.0.1:18080', '127.0.0.1:18099', '::1', '[::1]:18080']);
    fireEvent.keyDown(screen.getByLabelText('find a node'), { key: 'Escape' });
    expect(screen.getAllByTestId('servicemap-node').filter((el) => el.getAttribute('data-dimmed') === 'true')).toHaveLength(0);
  });

  it('keeps positions through a refresh with the same map, and existing nodes where they were when one is added', async () => {
    const view = await renderMap(demoFrames());
    const where = () => Object.fromEntries(screen.getAllByTestId('servicemap-node').map((el) => [el.getAttribute('data-id'), el.getAttribute('transform')]));
    const before = where();
    view.rerender(<ServiceMapPanel {...props(demoFrames())} />);
    expect(where()).toEqual(before);
    const [nodes, edges] = demoFrames();
    const more = [nodesFrame([{ id: '127.0.0.1:9000', mainstat: 1 }]), edgesFrame([{ source: '127.0.0.1', target: '127.0.0.1:9000', rate: 1 }]), nodes, edges];
    view.rerender(<ServiceMapPanel {...props(more)} />);
    await waitFor(() => expect(screen.getAllByTestId('servicemap-node')).toHaveLength(7));
    const after = where();
    const moved = Object.keys(before).map((id) => {
      const [x0, y0] = before[id]!.match(/[-\d.]+/g)!.map(Number);
      const [x1, y1] = after[id]!.match(/[-\d.]+/g)!.map(Number);
      return Math.hypot(x1 - x0, y1 - y0);
    });
    expect(Math.max(...moved)).toBeLessThan(40);
  });

  it('folds external clients into one node when asked', async () => {
    await renderMap(demoFrames(), { grouping: 'external' });
    expect(screen.getAllByTestId('servicemap-node')).toHaveLength(5);
    expect(nodeEl('__external__')).toHaveAttribute('aria-label', 'node external clients (2)');
  });

  it('says so when the data has no map', async () => {
    render(<ServiceMapPanel {...props([])} />);
    expect(screen.getByTestId('metaflow-servicemap-empty')).toHaveTextContent('No service map in the data');
    expect(screen.getByTestId('metaflow-servicemap-panel')).toHaveAttribute('data-render-state', 'empty');
  });

  it('draws with options saved by an older version (migrated on the fly)', async () => {
    await act(async () => {
      render(<ServiceMapPanel {...props(demoFrames(), { version: OPTIONS_VERSION - 1, colorBy: 'bogus' } as unknown as Partial<ServiceMapOptions>)} />);
    });
    await waitFor(() => expect(screen.getAllByTestId('servicemap-node')).toHaveLength(6));
  });
});
