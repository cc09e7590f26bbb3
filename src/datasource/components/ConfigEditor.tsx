import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, Input, MultiSelect, SecretInput } from '@grafana/ui';

import { MetaFlowDataSourceOptions, MetaFlowSecureJsonData } from '../types';
import { TAP_SIDE_OPTIONS } from './tap-sides';

type Props = DataSourcePluginOptionsEditorProps<MetaFlowDataSourceOptions, MetaFlowSecureJsonData>;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = options.jsonData;
  const setJson = (patch: Partial<MetaFlowDataSourceOptions>) => onOptionsChange({ ...options, jsonData: { ...jsonData, ...patch } });
  const tokenSet = options.secureJsonFields?.apiToken === true;

  return (
    <>
      <InlineField label="API URL" labelWidth={20} tooltip="Address of the MetaFlow query API (metaflow serve / metaflow agent), reached by the Grafana server" interactive>
        <Input
          id="metaflow-config-url"
          data-testid="metaflow-config-url"
          width={50}
          placeholder="http://127.0.0.1:20416"
          value={jsonData.apiUrl ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => setJson({ apiUrl: e.target.value.trim() })}
        />
      </InlineField>
      <InlineField label="Bearer token" labelWidth={20} tooltip="The API's --token, kept encrypted by Grafana and added by its proxy">
        <SecretInput
          id="metaflow-config-token"
          data-testid="metaflow-config-token"
          width={50}
          isConfigured={tokenSet}
          value={options.secureJsonData?.apiToken ?? ''}
          placeholder="none"
          onReset={() =>
            onOptionsChange({ ...options, secureJsonFields: { ...options.secureJsonFields, apiToken: false }, secureJsonData: { ...options.secureJsonData, apiToken: '' } })
          }
          onChange={(e: ChangeEvent<HTMLInputElement>) => onOptionsChange({ ...options, secureJsonData: { ...options.secureJsonData, apiToken: e.target.value } })}
        />
      </InlineField>
      <InlineField
        label="Default tap side"
        labelWidth={20}
        tooltip="Observation points a query reads when it names none. Requests seen at several points are counted once per point: pick one (e.g. s-p, or s) so panels do not add them up."
      >
        <MultiSelect
          inputId="metaflow-config-tap-side"
          width={50}
          options={TAP_SIDE_OPTIONS}
          value={jsonData.defaultTapSide ?? []}
          placeholder="all observation points"
          onChange={(v: Array<SelectableValue<string>>) => setJson({ defaultTapSide: v.map((x) => x.value as string) })}
        />
      </InlineField>
    </>
  );
}
