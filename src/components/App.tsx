import React from 'react';
import { AppRootProps } from '@grafana/data';

export function App(_props: AppRootProps) {
  return (
    <div data-testid="metaflow-app-root">
      <h2>MetaFlow</h2>
      <p>
        MetaFlow is zero-instrumentation observability for Linux services: an agent watches what services do,
        without changes to their code, and writes it to ClickHouse.
      </p>
      <p>
        This app ships the MetaFlow data source, which queries that data, and the MetaFlow Service Map panel.
      </p>
    </div>
  );
}
