import { FieldConfigProperty, PanelPlugin } from '@grafana/data';

import { migrationHandler, needsMigration } from './migration';
import { buildOptions } from './options';
import { ServiceMapPanel } from './ServiceMapPanel';
import { ServiceMapOptions } from './types';

export const plugin = new PanelPlugin<ServiceMapOptions>(ServiceMapPanel)
  .setPanelOptions(buildOptions)
  // Only data links of the standard field options: links on the frames' id field join the click menu.
  .useFieldConfig({
    disableStandardOptions: Object.values(FieldConfigProperty).filter((p) => p !== FieldConfigProperty.Links),
  })
  // Grafana passes the panel model, although the type says a component.
  .setMigrationHandler(migrationHandler, needsMigration as unknown as NonNullable<PanelPlugin<ServiceMapOptions>['shouldMigrate']>);
