import React, { useEffect } from 'react';
import { QueryEditorProps } from '@grafana/data';
import { RadioButtonGroup } from '@grafana/ui';

import { DataSource } from '../datasource';
import { MetaFlowDataSourceOptions, MetaFlowQuery, QUERY_MODEL_VERSION, QueryMode } from '../types';
import { BuilderEditor } from './BuilderEditor';
import { MapEditor } from './MapEditor';
import { SqlEditor } from './SqlEditor';

type Props = QueryEditorProps<DataSource, MetaFlowQuery, MetaFlowDataSourceOptions>;

const MODES = [
  { value: 'builder' as const, label: 'Builder' },
  { value: 'sql' as const, label: 'SQL' },
  { value: 'map' as const, label: 'Service map' },
];

export function QueryEditor({ query: saved, datasource, onChange, onRunQuery, range }: Props) {
  const query = datasource.migrate(saved);
  // A query saved by an older version is stored migrated as soon as it is opened (once per
  // version change, hence only the version as dependency).
  const outdated = saved.version !== QUERY_MODEL_VERSION;
  useEffect(() => {
    if (outdated) onChange(query);
  }, [outdated]);

  const change = (next: MetaFlowQuery) => {
    onChange(next);
    if (next.mode !== 'sql') onRunQuery();
  };
  const setMode = (mode: QueryMode) => {
    if (mode === 'sql' && !query.sql) {
      // Start SQL mode from what the builder would run, so the user edits rather than starts over.
      datasource
        .sqlOf(query, range ?? ({} as NonNullable<Props['range']>), 60_000)
        .then((sql) => onChange({ ...query, mode, sql }))
        .catch(() => onChange({ ...query, mode }));
      return;
    }
    onChange({ ...query, mode });
  };

  return (
    <div data-testid="metaflow-query-editor">
      <RadioButtonGroup options={MODES} value={query.mode} onChange={setMode} size="sm" />
      {query.mode === 'sql' ? (
        <SqlEditor query={query} onChange={onChange} onRunQuery={onRunQuery} />
      ) : query.mode === 'map' ? (
        <MapEditor query={query} datasource={datasource} range={range} onChange={change} />
      ) : (
        <BuilderEditor query={query} datasource={datasource} range={range} onChange={change} />
      )}
    </div>
  );
}
