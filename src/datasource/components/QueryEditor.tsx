import React from 'react';
import { QueryEditorProps } from '@grafana/data';

import { DataSource } from '../datasource';
import { MetaFlowDataSourceOptions, MetaFlowQuery } from '../types';

type Props = QueryEditorProps<DataSource, MetaFlowQuery, MetaFlowDataSourceOptions>;

export function QueryEditor({ query }: Props) {
  return (
    <div data-testid="metaflow-query-editor">
      MetaFlow query (model version {query.version}): no options to set yet.
    </div>
  );
}
