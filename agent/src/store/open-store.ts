import { ChdbStore } from './chdb-store';
import { ClickHouseStore } from './clickhouse-store';
import { Store } from './store';

export const DEFAULT_STORE_DIR = '.metaflow/data';

/** `--store` takes a directory (embedded chDB) or an http(s):// URL (ClickHouse server). */
export function openStore(spec: string | undefined): Store {
  const target = spec ?? DEFAULT_STORE_DIR;
  if (/^https?:\/\//i.test(target)) return new ClickHouseStore(target);
  return new ChdbStore(target);
}
