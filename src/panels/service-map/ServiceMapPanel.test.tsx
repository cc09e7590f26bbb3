import React from 'react';
import { render, screen } from '@testing-library/react';
import { createDataFrame, PanelProps } from '@grafana/data';

import { plugin } from './module';
import { ServiceMapPanel } from './ServiceMapPanel';
import { ServiceMapOptions } from './types';

function props(frameCount: number): PanelProps<ServiceMapOptions> {
  const series = Array.from({ length: frameCount }, (_, i) => createDataFrame({ refId: `R${i}`, fields: [] }));
  return { data: { series }, width: 400, height: 300, options: {} } as unknown as PanelProps<ServiceMapOptions>;
}

describe('ServiceMapPanel', () => {
  it('is the panel of the service map plugin', () => {
    expect(plugin.panel).toBe(ServiceMapPanel);
  });

  it('renders the placeholder with the number of frames it received', () => {
    render(<ServiceMapPanel {...props(2)} />);
    expect(screen.getByTestId('metaflow-servicemap-panel')).toHaveTextContent('received 2 data frames');
  });

  it('uses the singular for one frame', () => {
    render(<ServiceMapPanel {...props(1)} />);
    expect(screen.getByTestId('metaflow-servicemap-panel')).toHaveTextContent('received 1 data frame.');
  });
});
