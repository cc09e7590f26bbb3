import React, { useState } from 'react';
import { dateTime, TimeRange } from '@grafana/data';
import { Button } from '@grafana/ui';

import { DataSource } from '../datasource';
import { MetaFlowQuery } from '../types';

interface Props {
  query: MetaFlowQuery;
  datasource: DataSource;
  range?: TimeRange;
}

/** The ClickHouse SQL a builder query runs, on demand: what it does, in the store's terms. */
export function GeneratedSql({ query, datasource, range }: Props) {
  const [sql, setSql] = useState<string | undefined>();
  const show = async () => {
    if (sql !== undefined) return setSql(undefined);
    const r = range ?? { from: dateTime().subtract(1, 'hour'), to: dateTime(), raw: { from: 'now-1h', to: 'now' } };
    try {
      setSql(await datasource.sqlOf(query, r, 60_000));
    } catch (e) {
      setSql(`-- ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return (
    <div>
      <Button variant="secondary" size="sm" fill="text" icon="eye" onClick={show}>
        {sql === undefined ? 'Show SQL' : 'Hide SQL'}
      </Button>
      {sql !== undefined && <pre data-testid="metaflow-generated-sql">{sql}</pre>}
    </div>
  );
}
