import React, { useEffect, useState } from 'react';
import { SelectableValue } from '@grafana/data';
import { InlineField, Input, Select } from '@grafana/ui';

import { DataSource } from '../datasource';
import { DATA_TYPES, DataType, MetaFlowVariableQuery } from '../types';
import { parseVariableQuery } from '../variable-query';

interface Props {
  query: MetaFlowVariableQuery | string;
  datasource: DataSource;
  onChange: (query: MetaFlowVariableQuery, definition: string) => void;
}

/** A template variable: the values of one tag of one data type (optionally by prefix). */
export function VariableQueryEditor({ query, datasource, onChange }: Props) {
  const current = parseVariableQuery(query) ?? { dataType: 'application' as DataType, tag: '' };
  const [tags, setTags] = useState<string[]>([]);
  useEffect(() => {
    datasource.api.tags(current.dataType).then((t) => setTags(t.map((x) => x.name)), () => setTags([]));
  }, [datasource, current.dataType]);
  const set = (patch: Partial<MetaFlowVariableQuery>) => {
    const next = { ...current, ...patch };
    onChange(next, `tag_values(${next.dataType}, ${next.tag}${next.prefix ? `, ${next.prefix}` : ''})`);
  };
  return (
    <>
      <InlineField label="Data" labelWidth={14}>
        <Select aria-label="variable data type" width={28} options={DATA_TYPES} value={current.dataType} onChange={(v: SelectableValue<DataType>) => v.value && set({ dataType: v.value })} />
      </InlineField>
      <InlineField label="Tag" labelWidth={14}>
        <Select aria-label="variable tag" width={28} options={tags.map((t) => ({ value: t, label: t }))} value={current.tag} allowCustomValue onChange={(v: SelectableValue<string>) => set({ tag: v.value ?? '' })} />
      </InlineField>
      <InlineField label="Prefix" labelWidth={14}>
        <Input aria-label="variable prefix" width={28} value={current.prefix ?? ''} onChange={(e) => set({ prefix: e.currentTarget.value || undefined })} />
      </InlineField>
    </>
  );
}
