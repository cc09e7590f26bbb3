import React from 'react';
import { SelectableValue } from '@grafana/data';
import { Button, IconButton, InlineField, InlineFieldRow, Input, Select } from '@grafana/ui';

import { Aggregation, MetricInfo, MetricSelection } from '../types';

interface Props {
  metrics: MetricSelection[];
  available: MetricInfo[];
  onChange: (metrics: MetricSelection[]) => void;
}

/** One row per metric: which metric, how it is aggregated, and an optional alias. */
export function MetricsEditor({ metrics, available, onChange }: Props) {
  const options: Array<SelectableValue<string>> = available.map((m) => ({ value: m.name, label: m.name, description: `${m.description} (${m.unit})` }));
  const update = (i: number, patch: Partial<MetricSelection>) => onChange(metrics.map((m, k) => (k === i ? { ...m, ...patch } : m)));
  return (
    <>
      {metrics.map((m, i) => {
        const info = available.find((a) => a.name === m.metric);
        const aggregations = (info?.aggregations ?? []).map((a) => ({ value: a, label: a }));
        return (
          <InlineFieldRow key={i}>
            <InlineField label={i === 0 ? 'Metrics' : ''} labelWidth={14}>
              <Select
                inputId={`metaflow-metric-${i}`}
                aria-label={`metric ${i + 1}`}
                width={28}
                options={options}
                value={m.metric}
                allowCustomValue
                onChange={(v: SelectableValue<string>) => update(i, { metric: v.value ?? '', aggregation: undefined })}
              />
            </InlineField>
            <InlineField label="aggregation" labelWidth={12}>
              <Select
                aria-label={`aggregation ${i + 1}`}
                width={14}
                options={aggregations}
                value={m.aggregation ?? info?.aggregations[0]}
                onChange={(v: SelectableValue<Aggregation>) => update(i, { aggregation: v.value })}
              />
            </InlineField>
            <InlineField label="as" labelWidth={5}>
              <Input aria-label={`alias ${i + 1}`} width={16} placeholder="alias" value={m.alias ?? ''} onChange={(e) => update(i, { alias: e.currentTarget.value || undefined })} />
            </InlineField>
            <IconButton name="trash-alt" aria-label={`remove metric ${i + 1}`} onClick={() => onChange(metrics.filter((_, k) => k !== i))} />
          </InlineFieldRow>
        );
      })}
      <Button variant="secondary" size="sm" icon="plus" aria-label="add metric" onClick={() => onChange([...metrics, { metric: available[0]?.name ?? '' }])}>
        Metric
      </Button>
    </>
  );
}
