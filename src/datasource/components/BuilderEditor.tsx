import React, { useCallback } from 'react';
import { SelectableValue, TimeRange } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, MultiSelect, RadioButtonGroup, Select } from '@grafana/ui';

import { DataSource } from '../datasource';
import { DATA_TYPES, DataType, LOG_DATA_TYPES, MetaFlowQuery, ResultFormat } from '../types';
import { FiltersEditor } from './FiltersEditor';
import { GeneratedSql } from './GeneratedSql';
import { MetricsEditor } from './MetricsEditor';
import { TAP_SIDE_OPTIONS } from './tap-sides';
import { useCatalog } from './use-catalog';

interface Props {
  query: MetaFlowQuery;
  datasource: DataSource;
  range?: TimeRange;
  onChange: (query: MetaFlowQuery) => void;
}

const INTERVALS = [
  { value: 'auto', label: 'auto' },
  { value: '1s', label: '1s' },
  { value: '1m', label: '1m' },
];

/** The builder: data type, metrics, grouping, filters and result options, no SQL needed. */
export function BuilderEditor({ query, datasource, range, onChange }: Props) {
  const { metrics, tags, error } = useCatalog(datasource, query.dataType);
  const isLog = LOG_DATA_TYPES.includes(query.dataType);
  const set = (patch: Partial<MetaFlowQuery>) => onChange({ ...query, ...patch });
  const loadValues = useCallback(
    (tag: string) => datasource.api.tagValues(query.dataType, tag, { from: range?.from.valueOf(), to: range?.to.valueOf() }),
    [datasource, query.dataType, range],
  );
  const formats: Array<SelectableValue<ResultFormat>> = [
    { value: 'time_series', label: 'Time series' },
    { value: 'table', label: 'Table' },
    ...(isLog ? [{ value: 'logs' as const, label: 'Logs' }] : []),
  ];
  const tagOptions = tags.map((t) => ({ value: t, label: t }));
  const orderOptions = [...query.metrics.map((m) => m.alias || m.metric), ...query.groupBy, 'time'].map((v) => ({ value: v, label: v }));

  const changeDataType = (dataType: DataType) => {
    const log = LOG_DATA_TYPES.includes(dataType);
    set({ dataType, metrics: log ? [] : [{ metric: dataType.startsWith('network') ? 'byte' : 'request', aggregation: 'rate' }], format: log ? 'logs' : 'time_series', orderBy: [], filters: query.filters });
  };

  return (
    <div data-testid="metaflow-builder">
      <InlineFieldRow>
        <InlineField label="Data" labelWidth={14}>
          <Select inputId="metaflow-data-type" aria-label="data type" width={28} options={DATA_TYPES} value={query.dataType} onChange={(v: SelectableValue<DataType>) => v.value && changeDataType(v.value)} />
        </InlineField>
        <InlineField label="Format" labelWidth={10}>
          <RadioButtonGroup options={formats} value={query.format} onChange={(format: ResultFormat) => set({ format, metrics: format === 'logs' ? [] : query.metrics })} />
        </InlineField>
      </InlineFieldRow>
      {error && <div role="alert">{error}</div>}
      {query.format !== 'logs' && <MetricsEditor metrics={query.metrics} available={metrics} onChange={(m) => set({ metrics: m })} />}
      {query.format !== 'logs' && (
        <InlineField label="Group by" labelWidth={14}>
          <MultiSelect aria-label="group by" width={60} options={tagOptions} value={query.groupBy} allowCustomValue onChange={(v: Array<SelectableValue<string>>) => set({ groupBy: v.map((x) => x.value as string) })} />
        </InlineField>
      )}
      <FiltersEditor filters={query.filters} tags={tags} loadValues={loadValues} onChange={(filters) => set({ filters })} />
      <InlineFieldRow>
        <InlineField label="Tap side" labelWidth={14} tooltip="Observation points to read; empty: the data source's default. Requests seen at several points are counted once per point.">
          <MultiSelect aria-label="tap side" width={28} options={TAP_SIDE_OPTIONS} value={query.tapSide} allowCustomValue placeholder="default" onChange={(v: Array<SelectableValue<string>>) => set({ tapSide: v.map((x) => x.value as string) })} />
        </InlineField>
        {!isLog && (
          <InlineField label="Interval" labelWidth={10}>
            <RadioButtonGroup options={INTERVALS} value={query.interval} onChange={(interval) => set({ interval: interval as MetaFlowQuery['interval'] })} />
          </InlineField>
        )}
      </InlineFieldRow>
      <InlineFieldRow>
        <InlineField label="Order by" labelWidth={14}>
          <Select
            aria-label="order by"
            width={20}
            isClearable
            options={orderOptions}
            value={query.orderBy[0]?.by ?? null}
            onChange={(v: SelectableValue<string> | null) => set({ orderBy: v?.value ? [{ by: v.value, desc: query.orderBy[0]?.desc ?? true }] : [] })}
          />
        </InlineField>
        <RadioButtonGroup
          options={[
            { value: true, label: 'desc' },
            { value: false, label: 'asc' },
          ]}
          value={query.orderBy[0]?.desc ?? true}
          onChange={(desc: boolean) => set({ orderBy: query.orderBy.length ? [{ ...query.orderBy[0], desc }] : [] })}
        />
        <InlineField label="Limit" labelWidth={8}>
          <Input aria-label="limit" type="number" width={10} value={query.limit ?? ''} placeholder="10000" onChange={(e) => set({ limit: e.currentTarget.value ? Number(e.currentTarget.value) : undefined })} />
        </InlineField>
        {query.format === 'time_series' && (
          <InlineField label="Legend" labelWidth={8} tooltip="Series name: ${tag} for a grouped tag, ${metric} for the metric">
            <Input aria-label="legend" width={24} placeholder="${service} ${metric}" value={query.legend ?? ''} onChange={(e) => set({ legend: e.currentTarget.value || undefined })} />
          </InlineField>
        )}
      </InlineFieldRow>
      <GeneratedSql query={query} datasource={datasource} range={range} />
    </div>
  );
}
