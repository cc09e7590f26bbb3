import React, { useCallback } from 'react';
import { SelectableValue, TimeRange } from '@grafana/data';
import { InlineField, InlineFieldRow, RadioButtonGroup, Select } from '@grafana/ui';

import { DataSource } from '../datasource';
import { MapLevel, MetaFlowQuery } from '../types';
import { FiltersEditor } from './FiltersEditor';
import { useCatalog } from './use-catalog';

interface Props {
  query: MetaFlowQuery;
  datasource: DataSource;
  range?: TimeRange;
  onChange: (query: MetaFlowQuery) => void;
}

const LEVELS: Array<SelectableValue<MapLevel>> = [
  { value: 'service', label: 'Service' },
  { value: 'process', label: 'Process' },
  { value: 'ip', label: 'IP' },
  { value: 'host', label: 'Host' },
  { value: 'container', label: 'Container' },
];

const TAP_SIDE_MODES = [
  { value: 'preferred' as const, label: 'One per edge', description: 'the most trusted observation point of each edge (SPEC §6)' },
  { value: 'all' as const, label: 'All', description: 'an edge per observation point, side by side' },
];

/** The service map query: who calls whom, as Node Graph nodes and edges. */
export function MapEditor({ query, datasource, range, onChange }: Props) {
  const { tags } = useCatalog(datasource, 'application_map');
  const loadValues = useCallback(
    (tag: string) => datasource.api.tagValues('application_map', tag, { from: range?.from.valueOf(), to: range?.to.valueOf() }),
    [datasource, range],
  );
  return (
    <div data-testid="metaflow-map-editor">
      <InlineFieldRow>
        <InlineField label="Nodes are" labelWidth={14}>
          <Select aria-label="map level" width={20} options={LEVELS} value={query.mapLevel ?? 'service'} onChange={(v: SelectableValue<MapLevel>) => onChange({ ...query, mapLevel: v.value })} />
        </InlineField>
        <InlineField label="Tap side" labelWidth={10} tooltip="A request seen at several points is counted once, at the most trusted point, unless all are shown">
          <RadioButtonGroup options={TAP_SIDE_MODES} value={query.mapTapSideMode ?? 'preferred'} onChange={(mapTapSideMode) => onChange({ ...query, mapTapSideMode })} />
        </InlineField>
      </InlineFieldRow>
      <FiltersEditor filters={query.filters} tags={tags} loadValues={loadValues} onChange={(filters) => onChange({ ...query, filters })} />
    </div>
  );
}
