import { PanelPlugin } from '@grafana/data';

import { ServiceMapPanel } from './ServiceMapPanel';
import { ServiceMapOptions } from './types';

export const plugin = new PanelPlugin<ServiceMapOptions>(ServiceMapPanel);
