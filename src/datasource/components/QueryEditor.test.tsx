import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';

import { DataSource } from '../datasource';
import { migrateQuery } from '../query-migration';
import { DEFAULT_QUERY, MetaFlowQuery, QUERY_MODEL_VERSION } from '../types';
import { QueryEditor } from './QueryEditor';

jest.mock('@grafana/ui', () => ({
  ...jest.requireActual('@grafana/ui'),
  // Monaco does not run in jsdom: a textarea stands in for the code editor.
  CodeEditor: ({ value, onBlur }: { value: string; onBlur: (v: string) => void }) => (
    <textarea data-testid="code-editor" defaultValue={value} onBlur={(e) => onBlur(e.currentTarget.value)} />
  ),
}));

function fakeDatasource(): DataSource {
  return {
    migrate: (q: MetaFlowQuery) => migrateQuery(q as MetaFlowQuery & Record<string, unknown>),
    metrics: jest.fn().mockResolvedValue([
      { name: 'request', unit: 'short', description: 'requests seen', aggregations: ['sum', 'rate'] },
      { name: 'rrt', unit: 'µs', description: 'response time', aggregations: ['avg', 'max', 'p99'] },
    ]),
    sqlOf: jest.fn().mockResolvedValue('SELECT sum(request) FROM flow_metrics.application_1m'),
    api: {
      tags: jest.fn().mockResolvedValue([{ name: 'service', type: 'String' }, { name: 'endpoint', type: 'String' }]),
      tagValues: jest.fn().mockResolvedValue(['web:80', 'db:3306']),
    },
  } as unknown as DataSource;
}

function renderEditor(query: MetaFlowQuery, datasource = fakeDatasource()) {
  const onChange = jest.fn();
  const onRunQuery = jest.fn();
  render(<QueryEditor query={query} datasource={datasource} onChange={onChange} onRunQuery={onRunQuery} />);
  return { onChange, onRunQuery, datasource };
}

const current = (patch: Partial<MetaFlowQuery> = {}): MetaFlowQuery => ({ ...DEFAULT_QUERY, refId: 'A', ...patch });

describe('QueryEditor', () => {
  it('stores an old saved query migrated as soon as it is opened', async () => {
    const { onChange } = renderEditor({ refId: 'A', version: 1 } as MetaFlowQuery);
    await waitFor(() => expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ version: QUERY_MODEL_VERSION, mode: 'builder', dataType: 'application' })));
  });

  it('builder: an alias typed for a metric is saved and the query runs', async () => {
    const { onChange, onRunQuery } = renderEditor(current());
    await screen.findByTestId('metaflow-builder');
    fireEvent.change(screen.getByLabelText('alias 1'), { target: { value: 'rps' } });
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ metrics: [{ metric: 'request', aggregation: 'rate', alias: 'rps' }] }));
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('builder: metrics and filters are added and removed', async () => {
    const { onChange } = renderEditor(current({ filters: [{ tag: 'service', op: '=', values: ['web:80'] }] }));
    await screen.findByTestId('metaflow-builder');
    await act(async () => fireEvent.click(screen.getByLabelText('add metric')));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ metrics: [{ metric: 'request', aggregation: 'rate' }, { metric: 'request' }] }));
    fireEvent.click(screen.getByLabelText('remove filter 1'));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ filters: [] }));
    fireEvent.click(screen.getByLabelText('add filter'));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ filters: [{ tag: 'service', op: '=', values: ['web:80'] }, { tag: '', op: '=', values: [] }] }));
  });

  it('builder: filter values autocomplete from the store', async () => {
    const { datasource } = renderEditor(current({ filters: [{ tag: 'service', op: '=', values: [] }] }));
    await waitFor(() => expect(datasource.api.tagValues).toHaveBeenCalledWith('application', 'service', expect.anything()));
  });

  it('builder: shows the SQL it runs', async () => {
    renderEditor(current());
    fireEvent.click(await screen.findByText('Show SQL'));
    expect(await screen.findByTestId('metaflow-generated-sql')).toHaveTextContent('SELECT sum(request) FROM flow_metrics.application_1m');
  });

  it('switching to SQL starts from the builder’s SQL', async () => {
    const { onChange } = renderEditor(current());
    fireEvent.click(await screen.findByText('SQL'));
    await waitFor(() => expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ mode: 'sql', sql: 'SELECT sum(request) FROM flow_metrics.application_1m' })));
  });

  it('service map mode: the level is chosen and the query runs', async () => {
    const { onRunQuery } = renderEditor(current({ mode: 'map' }));
    expect(await screen.findByTestId('metaflow-map-editor')).toBeInTheDocument();
    fireEvent.click(screen.getByText('All'));
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('SQL mode: edited SQL is saved and run', async () => {
    const { onChange, onRunQuery } = renderEditor(current({ mode: 'sql', sql: 'SELECT 1' }));
    const editor = await screen.findByTestId('code-editor');
    fireEvent.blur(editor, { target: { value: 'SELECT 2' } });
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ sql: 'SELECT 2' }));
    expect(onRunQuery).toHaveBeenCalled();
  });
});
