import React, { useEffect, useState } from 'react';
import { SelectableValue } from '@grafana/data';
import { Button, IconButton, InlineField, InlineFieldRow, MultiSelect, Select } from '@grafana/ui';

import { FILTER_OPERATORS, FilterOperator, TagFilter } from '../types';

interface Props {
  filters: TagFilter[];
  tags: string[];
  /** Values of a tag for autocompletion (the dashboard's time range). */
  loadValues: (tag: string) => Promise<string[]>;
  onChange: (filters: TagFilter[]) => void;
}

const MULTI: FilterOperator[] = ['in', 'not in'];

function FilterRow({ filter, tags, loadValues, onChange, onRemove, index }: { filter: TagFilter; tags: string[]; loadValues: Props['loadValues']; onChange: (f: TagFilter) => void; onRemove: () => void; index: number }) {
  const [values, setValues] = useState<string[]>([]);
  useEffect(() => {
    let live = true;
    if (filter.tag) loadValues(filter.tag).then((v) => live && setValues(v), () => live && setValues([]));
    return () => {
      live = false;
    };
  }, [filter.tag, loadValues]);
  const valueOptions = [...new Set([...values, ...filter.values])].map((v) => ({ value: v, label: v }));
  return (
    <InlineFieldRow>
      <InlineField label={index === 0 ? 'Filters' : ''} labelWidth={14}>
        <Select aria-label={`filter tag ${index + 1}`} width={22} options={tags.map((t) => ({ value: t, label: t }))} value={filter.tag} allowCustomValue onChange={(v: SelectableValue<string>) => onChange({ ...filter, tag: v.value ?? '' })} />
      </InlineField>
      <Select aria-label={`filter operator ${index + 1}`} width={12} options={FILTER_OPERATORS.map((o) => ({ value: o, label: o }))} value={filter.op} onChange={(v: SelectableValue<FilterOperator>) => onChange({ ...filter, op: v.value ?? '=' })} />
      {MULTI.includes(filter.op) ? (
        <MultiSelect aria-label={`filter values ${index + 1}`} width={40} options={valueOptions} value={filter.values} allowCustomValue onChange={(v: Array<SelectableValue<string>>) => onChange({ ...filter, values: v.map((x) => x.value as string) })} />
      ) : (
        <Select aria-label={`filter value ${index + 1}`} width={40} options={valueOptions} value={filter.values[0] ?? null} allowCustomValue onChange={(v: SelectableValue<string>) => onChange({ ...filter, values: v?.value !== undefined ? [v.value] : [] })} />
      )}
      <IconButton name="trash-alt" aria-label={`remove filter ${index + 1}`} onClick={onRemove} />
    </InlineFieldRow>
  );
}

/** Tag filters; values autocomplete from the store and may be `$variables`. */
export function FiltersEditor({ filters, tags, loadValues, onChange }: Props) {
  return (
    <>
      {filters.map((f, i) => (
        <FilterRow
          key={i}
          index={i}
          filter={f}
          tags={tags}
          loadValues={loadValues}
          onChange={(next) => onChange(filters.map((x, k) => (k === i ? next : x)))}
          onRemove={() => onChange(filters.filter((_, k) => k !== i))}
        />
      ))}
      <Button variant="secondary" size="sm" icon="plus" aria-label="add filter" onClick={() => onChange([...filters, { tag: '', op: '=', values: [] }])}>
        Filter
      </Button>
    </>
  );
}
