import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { MetaFlowDataSourceOptions, MetaFlowSecureJsonData } from '../types';

function settings(jsonData: MetaFlowDataSourceOptions, tokenSet = false): DataSourceSettings<MetaFlowDataSourceOptions, MetaFlowSecureJsonData> {
  return { id: 1, uid: 'mf', name: 'MetaFlow', jsonData, secureJsonFields: { apiToken: tokenSet } } as unknown as DataSourceSettings<MetaFlowDataSourceOptions, MetaFlowSecureJsonData>;
}

describe('ConfigEditor', () => {
  it('shows and changes the API URL, keeping the other settings', () => {
    const onOptionsChange = jest.fn();
    const options = settings({ apiUrl: 'http://127.0.0.1:20416', defaultTapSide: ['s'] });
    render(<ConfigEditor options={options} onOptionsChange={onOptionsChange} />);
    expect(screen.getByTestId('metaflow-config-url')).toHaveValue('http://127.0.0.1:20416');
    fireEvent.change(screen.getByTestId('metaflow-config-url'), { target: { value: ' http://agent:20416 ' } });
    expect(onOptionsChange).toHaveBeenCalledWith({ ...options, jsonData: { apiUrl: 'http://agent:20416', defaultTapSide: ['s'] } });
  });

  it('puts the token in secureJsonData, never in jsonData, and shows a stored one as configured', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({})} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByTestId('metaflow-config-token'), { target: { value: 's3cret' } });
    const next = onOptionsChange.mock.calls[0][0];
    expect(next.secureJsonData).toEqual({ apiToken: 's3cret' });
    expect(next.jsonData).toEqual({});
    render(<ConfigEditor options={settings({}, true)} onOptionsChange={jest.fn()} />);
    expect(screen.getByText('Reset')).toBeInTheDocument();
  });
});
