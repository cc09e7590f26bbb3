import React from 'react';
import { SelectableValue } from '@grafana/data';
import { CodeEditor, InlineField, RadioButtonGroup } from '@grafana/ui';

import { MetaFlowQuery } from '../types';

interface Props {
  query: MetaFlowQuery;
  onChange: (query: MetaFlowQuery) => void;
  onRunQuery: () => void;
}

const FORMATS: Array<SelectableValue<'table' | 'time_series'>> = [
  { value: 'table', label: 'Table' },
  { value: 'time_series', label: 'Time series' },
];

export const SQL_HELP =
  'Read-only SQL over flow_metrics.* and flow_log.*. Macros: $__timeFilter(time), $__timeInterval(time), $__fromTime, $__toTime, $__interval, $__interval_s. ' +
  'Time series: a time column, number columns as values, text columns as series labels.';

/** SQL mode: ClickHouse SQL with the API's macros, run read-only with time and row limits. */
export function SqlEditor({ query, onChange, onRunQuery }: Props) {
  return (
    <div data-testid="metaflow-sql-editor">
      <InlineField label="Format" labelWidth={14}>
        <RadioButtonGroup options={FORMATS} value={query.sqlFormat ?? 'table'} onChange={(sqlFormat) => onChange({ ...query, sqlFormat })} />
      </InlineField>
      <CodeEditor
        language="sql"
        height={160}
        value={query.sql ?? ''}
        showLineNumbers
        showMiniMap={false}
        onBlur={(sql) => {
          onChange({ ...query, sql });
          onRunQuery();
        }}
        onSave={(sql) => {
          onChange({ ...query, sql });
          onRunQuery();
        }}
      />
      <small>{SQL_HELP}</small>
    </div>
  );
}
