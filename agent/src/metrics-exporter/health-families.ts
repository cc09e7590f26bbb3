/**
 * The exporter's and the agent's own health. The exporter families and the store's data age
 * exist in both `serve` and `agent`; the capture and store-writer families only where a live
 * agent runs in the process. None of them needs the store to answer, so a scrape during a store
 * outage still reports them (with `metaflow_exporter_store_up 0`).
 */
import { LiveHealth } from '../live/live-agent';
import { AnyRegistry, collectedCounter, collectedGauge, Sample } from './collected-metrics';
import { StoreScrape } from './store-scrape';

type Scrape = () => Promise<StoreScrape>;
type NoLabels = Record<never, string>;

const one = (value: number): Sample<never>[] => [{ labels: {} as NoLabels, value }];

export function registerExporterFamilies(registry: AnyRegistry, scrape: Scrape, maxSeries: number): void {
  collectedGauge(registry, {
    name: 'metaflow_exporter_store_up',
    help: 'Whether the last read of the store for /metrics succeeded (1) or failed or timed out (0).',
    labelNames: [],
    samples: async () => one((await scrape()).up ? 1 : 0),
  });
  collectedGauge(registry, {
    name: 'metaflow_exporter_store_read_duration_seconds',
    help: 'How long the last read of the store for /metrics took (reads are reused for a few seconds).',
    labelNames: [],
    samples: async () => one((await scrape()).durationSeconds),
  });
  collectedGauge(registry, {
    name: 'metaflow_exporter_series_limit',
    help: 'Label sets each group of store families exposes on its own; more are folded into service/endpoint (or client/server) "other".',
    labelNames: [],
    samples: () => one(maxSeries),
  });
  collectedGauge(registry, {
    name: 'metaflow_exporter_series_folded',
    help: 'Label sets over the limit in the last read, folded into the "other" label sets, per data type.',
    labelNames: ['data_type'],
    samples: async () => {
      const s = await scrape();
      return [
        { labels: { data_type: 'application' }, value: s.application.folded },
        { labels: { data_type: 'network' }, value: s.network.folded },
      ];
    },
  });
  collectedGauge(registry, {
    name: 'metaflow_store_data_age_seconds',
    help: 'Seconds since the newest second stored, per kind of data: how far the store lags behind (or how old a replayed capture is).',
    labelNames: ['data_type'],
    // Computed now from the (possibly reused) newest second, so the age keeps growing between reads.
    samples: async () => Object.entries((await scrape()).newestData).map(([kind, newest]) => ({ labels: { data_type: kind }, value: Date.now() / 1000 - newest })),
  });
}

/** Counters of the live agent's capture and of its store writer. */
export function registerAgentFamilies(registry: AnyRegistry, health: () => LiveHealth): void {
  const counter = (name: string, help: string, value: (h: LiveHealth) => number): void => {
    collectedCounter(registry, { name, help, labelNames: [], samples: () => one(value(health())) });
  };
  const gauge = (name: string, help: string, value: (h: LiveHealth) => number): void => {
    collectedGauge(registry, { name, help, labelNames: [], samples: () => one(value(health())) });
  };
  counter('metaflow_agent_packets_total', 'Packets read from the capture ring.', (h) => h.packets);
  counter('metaflow_agent_packet_bytes_total', 'Wire length of the packets read.', (h) => h.packetBytes);
  counter('metaflow_agent_socket_events_total', 'eBPF socket data and lifecycle records read.', (h) => h.socketEvents);
  counter('metaflow_agent_kernel_drops_total', 'Records lost in the kernel before the agent read them: AF_PACKET ring and eBPF ring buffer drops, over every loader run.', (h) => h.kernelDrops);
  counter('metaflow_agent_loader_restarts_total', 'Times the capture loader died and was restarted.', (h) => h.loaderRestarts);
  counter('metaflow_agent_capture_gaps_total', 'Times the capture stopped because the loader died (each gap is a row of flow_metrics.capture_gaps once it ends).', (h) => h.captureGaps);
  counter('metaflow_agent_capture_gap_seconds_total', 'Seconds without capture since the agent started, an open gap up to now included.', (h) => h.captureGapSeconds);
  counter('metaflow_agent_flow_table_evictions_total', 'Flows evicted because the flow table was full.', (h) => h.flowTableEvictions);
  counter('metaflow_agent_l7_records_total', 'Request log records produced by the protocol parsers.', (h) => h.requestRecords);
  gauge('metaflow_agent_flows_open', 'Flows in the flow table now.', (h) => h.flowsOpen);
  gauge('metaflow_agent_sockets_open', 'Sockets traced through eBPF now.', (h) => h.socketsOpen);
  collectedCounter(registry, {
    name: 'metaflow_agent_packets_not_analysed_total',
    help: 'Packets the decoder did not turn into flow updates: kind malformed (damaged) or skipped (valid, not analysed), by reason.',
    labelNames: ['kind', 'reason'],
    samples: () => notAnalysed(health()),
  });
  counter('metaflow_store_rows_written_total', 'Rows the store accepted.', (h) => h.store.rowsWritten);
  counter('metaflow_store_rows_dropped_total', 'Rows given up on: refused by the store, or dropped because the buffer for an unreachable store was full.', (h) => h.store.rowsDropped);
  counter('metaflow_store_insert_failures_total', 'Inserts that failed (each is retried unless the store refused the rows).', (h) => h.store.insertsFailed);
  gauge('metaflow_store_rows_pending', 'Rows in batches waiting for the store.', (h) => h.store.rowsBuffered);
  gauge('metaflow_store_buffered_bytes', 'Bytes of rows not stored yet (open, queued and in-flight batches).', (h) => h.store.bufferedBytes);
}

function notAnalysed(h: LiveHealth): Sample<'kind' | 'reason'>[] {
  const samples = (kind: string, counts: Record<string, number>): Sample<'kind' | 'reason'>[] => Object.entries(counts).map(([reason, value]) => ({ labels: { kind, reason }, value }));
  return [...samples('malformed', h.malformed), ...samples('skipped', h.skipped)];
}
