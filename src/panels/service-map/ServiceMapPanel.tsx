import React from 'react';
import { PanelProps } from '@grafana/data';

import { ServiceMapOptions } from './types';

type Props = PanelProps<ServiceMapOptions>;

export function ServiceMapPanel({ data, width, height }: Props) {
  const frames = data.series.length;
  return (
    <div data-testid="metaflow-servicemap-panel" style={{ width, height, overflow: 'auto' }}>
      MetaFlow service map: the map is not drawn yet. This panel received {frames} data{' '}
      {frames === 1 ? 'frame' : 'frames'}.
    </div>
  );
}
