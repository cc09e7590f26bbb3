/**
 * The memory allocator settings of the embedded ClickHouse, set before chDB's library loads (its
 * jemalloc reads `JE_MALLOC_CONF` once, when it starts). Imported by chdb-store.ts ahead of
 * `chdb`; a value the user set is kept.
 *
 * jemalloc as chDB builds it keeps freed pages for seconds and has no thread returning them, so
 * a burst of inserts (a minute's flow-log rows of a million flows) left 150-200 MB of freed
 * memory resident: with a million flows open the agent then peaked at 980-1030 MiB. A background
 * thread returning pages unused for 100 ms keeps that peak at 940-960 MiB; a steady agent, which
 * inserts every second, reuses its pages within that time anyway.
 */
process.env.JE_MALLOC_CONF ??= 'background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0';

export {};
