import { PanelModel } from '@grafana/data';

import { migrateOptions, migrationHandler, needsMigration } from './migration';
import { DEFAULT_OPTIONS, OPTIONS_VERSION, ServiceMapOptions } from './types';

describe('migrateOptions', () => {
  it('gives the defaults for what the 0.1.0 placeholder saved (nothing)', () => {
    expect(migrateOptions({})).toEqual(DEFAULT_OPTIONS);
    expect(migrateOptions(undefined)).toEqual(DEFAULT_OPTIONS);
    expect(migrateOptions(null)).toEqual(DEFAULT_OPTIONS);
  });

  it('keeps valid values and fills in the rest', () => {
    const migrated = migrateOptions({ grouping: 'address', colorBy: 'rrtAvg', links: { datasourceUid: '$ds' } });
    expect(migrated).toEqual({ ...DEFAULT_OPTIONS, grouping: 'address', colorBy: 'rrtAvg', links: { ...DEFAULT_OPTIONS.links, datasourceUid: '$ds' } });
  });

  it('replaces values it does not know (a newer version, a typo) by the defaults', () => {
    const migrated = migrateOptions({ version: 7, grouping: 'galaxy', tapSideMode: 42, sizeBy: 'bytes', widthBy: null, labels: 'sometimes', links: 'no' });
    expect(migrated).toEqual({ ...DEFAULT_OPTIONS, sizeBy: 'bytes' });
  });

  it('repairs thresholds: numbers from strings, swapped ones ordered, bad ones defaulted', () => {
    expect(migrateOptions({ errorThresholds: { warning: '2', critical: 10 } }).errorThresholds).toEqual({ warning: 2, critical: 10 });
    expect(migrateOptions({ errorThresholds: { warning: 10, critical: 2 } }).errorThresholds).toEqual({ warning: 2, critical: 10 });
    expect(migrateOptions({ latencyThresholds: { warning: -1, critical: 'x' } }).latencyThresholds).toEqual(DEFAULT_OPTIONS.latencyThresholds);
  });

  it('is idempotent and does not share objects with the defaults', () => {
    const once = migrateOptions({ grouping: 'external' });
    expect(migrateOptions(once)).toEqual(once);
    once.errorThresholds.warning = 50;
    once.links.builtIn = false;
    expect(DEFAULT_OPTIONS.errorThresholds.warning).toBe(1);
    expect(DEFAULT_OPTIONS.links.builtIn).toBe(true);
  });
});

describe('migration handler', () => {
  const panel = (options: unknown) => ({ id: 1, type: 'metaflow-servicemap-panel', options, fieldConfig: { defaults: {}, overrides: [] }, pluginVersion: '0.1.0' }) as unknown as PanelModel<ServiceMapOptions>;

  it('runs for options of another version only', () => {
    expect(needsMigration(panel({}))).toBe(true);
    expect(needsMigration(panel({ ...DEFAULT_OPTIONS, version: OPTIONS_VERSION - 1 }))).toBe(true);
    expect(needsMigration(panel(DEFAULT_OPTIONS))).toBe(false);
  });

  it('migrates the panel options', async () => {
    expect(await migrationHandler(panel({ colorBy: 'none' }))).toEqual({ ...DEFAULT_OPTIONS, colorBy: 'none' });
  });
});
