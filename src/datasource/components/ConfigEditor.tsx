import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { InlineField, Input } from '@grafana/ui';

import { MetaFlowDataSourceOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<MetaFlowDataSourceOptions>;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const onUrlChange = (event: ChangeEvent<HTMLInputElement>) => {
    onOptionsChange({ ...options, url: event.target.value });
  };

  return (
    <InlineField label="URL" labelWidth={14} tooltip="Address of the MetaFlow query API" interactive>
      <Input
        id="metaflow-config-url"
        data-testid="metaflow-config-url"
        width={50}
        placeholder="http://localhost:8080"
        value={options.url ?? ''}
        onChange={onUrlChange}
      />
    </InlineField>
  );
}
