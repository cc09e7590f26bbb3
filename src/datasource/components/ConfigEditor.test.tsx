import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { MetaFlowDataSourceOptions } from '../types';

function settings(url: string): DataSourceSettings<MetaFlowDataSourceOptions> {
  return { id: 1, uid: 'metaflow-test', name: 'MetaFlow', url, jsonData: {} } as unknown as DataSourceSettings<
    MetaFlowDataSourceOptions
  >;
}

describe('ConfigEditor', () => {
  it('shows the configured URL', () => {
    render(<ConfigEditor options={settings('http://metaflow:8080')} onOptionsChange={jest.fn()} />);
    expect(screen.getByTestId('metaflow-config-url')).toHaveValue('http://metaflow:8080');
  });

  it('passes a changed URL to onOptionsChange and keeps the other settings', () => {
    const onOptionsChange = jest.fn();
    const options = settings('');
    render(<ConfigEditor options={options} onOptionsChange={onOptionsChange} />);

    fireEvent.change(screen.getByTestId('metaflow-config-url'), { target: { value: 'http://clickhouse-api:9000' } });

    expect(onOptionsChange).toHaveBeenCalledTimes(1);
    expect(onOptionsChange).toHaveBeenCalledWith({ ...options, url: 'http://clickhouse-api:9000' });
  });
});
