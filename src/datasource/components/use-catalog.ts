import { useEffect, useState } from 'react';

import { DataSource } from '../datasource';
import { MetricInfo } from '../types';

/** Metrics and tags of a data type from the API, for the builder's pickers. */
export function useCatalog(datasource: DataSource, dataType: string): { metrics: MetricInfo[]; tags: string[]; error?: string } {
  const [state, setState] = useState<{ metrics: MetricInfo[]; tags: string[]; error?: string }>({ metrics: [], tags: [] });
  useEffect(() => {
    let live = true;
    Promise.all([datasource.metrics(dataType), datasource.api.tags(dataType)])
      .then(([metrics, tags]) => live && setState({ metrics, tags: tags.map((t) => t.name) }))
      .catch((e: unknown) => live && setState({ metrics: [], tags: [], error: e instanceof Error ? e.message : String(e) }));
    return () => {
      live = false;
    };
  }, [datasource, dataType]);
  return state;
}
