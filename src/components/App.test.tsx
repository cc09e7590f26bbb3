import React from 'react';
import { render, screen } from '@testing-library/react';
import { AppRootProps, PluginType } from '@grafana/data';

import { App } from './App';
import { plugin } from '../module';

describe('MetaFlow app', () => {
  it('uses App as the root page of the app plugin', () => {
    expect(plugin.root).toBe(App);
  });

  it('says what MetaFlow is', () => {
    const props = {
      basename: '/a/metaflow-app',
      meta: { id: 'metaflow-app', name: 'MetaFlow', type: PluginType.app },
      query: {},
      path: '/a/metaflow-app',
    } as unknown as AppRootProps;

    render(<App {...props} />);

    expect(screen.getByRole('heading', { name: 'MetaFlow' })).toBeInTheDocument();
    expect(screen.getByTestId('metaflow-app-root')).toHaveTextContent('zero-instrumentation observability');
  });
});
