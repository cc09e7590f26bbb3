import { hostname } from 'node:os';
import { CaptureFormatError, CaptureReader, readFileChunks } from '../capture/capture-reader';
import { CapturedPacket } from '../capture/captured-packet';
import { DecodeCounters } from '../decode/decode-counters';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker, FlowTrackerStats } from '../flow/flow-tracker';
import { ParserOptions } from '../l7/l7-parser';
import { ALL_L7_MODULES } from '../l7/modules';
import { LocalAddresses } from '../flow/tap-side';
import { BatchWriter, BatchWriterStats } from '../store/batch-writer';
import { SchemaOptions } from '../store/schema';
import { migrate, Store } from '../store/store';
import { CAPTURE_STATS } from '../store/tables';

export interface ReplayOptions {
  /** A capture file path, or '-' for standard input. */
  input: string;
  store: Store;
  localAddresses?: readonly string[];
  host?: string;
  maxFlows?: number;
  /** Application protocols: parsed by default; `false` for L4 only. */
  l7?: false | { parser?: ParserOptions };
  /** Table layout when the store is created (a cluster name for Replicated/Distributed tables). */
  schema?: SchemaOptions;
  /** Reports bytes of the input consumed so far (for progress bars). */
  onProgress?: (bytesConsumed: number, packets: number) => void;
  onStoreError?: (error: Error, table: string, rows: number) => void;
}

export interface ReplayResult {
  packets: number;
  bytes: number;
  bytesConsumed: number;
  /** Set when the input was not a capture or was cut: what came before it was still stored. */
  captureError?: CaptureFormatError;
  decode: DecodeCounters;
  flows: FlowTrackerStats;
  store: BatchWriterStats;
}

/**
 * Replays a capture through the whole L4 pipeline into the store:
 * reader → decoder → flow tracker → aggregation → batch writer. The reader is paused while the
 * store is behind, so a replay of any size runs in bounded memory and loses nothing.
 */
export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  // The store is set up while the first packets are analysed; inserts wait for it.
  const migrated = migrate(o.store, o.schema);
  let migrationFailure: { error: unknown } | undefined;
  migrated.catch((error: unknown) => (migrationFailure = { error }));
  const host = o.host ?? hostname();
  const writer = new BatchWriter(o.store, { onError: o.onStoreError, ready: migrated });
  const tracker = new FlowTracker(writer, {
    host,
    maxFlows: o.maxFlows,
    localAddresses: new LocalAddresses(o.localAddresses ?? []),
    l7: o.l7 === false ? undefined : { modules: ALL_L7_MODULES, parser: o.l7?.parser },
  });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  let packets = 0;
  // Byte count and capture time in a typed array, not closure variables: a closure variable
  // holding a number beyond a small integer takes a new heap box at every assignment, which was
  // one allocation per packet (a tenth of the replay's garbage).
  const totals = new Float64Array(2);
  const BYTES = 0;
  const LAST_TS_US = 1;
  const onPacket = (pkt: CapturedPacket): void => {
    packets++;
    totals[BYTES] += pkt.origLen;
    if (pkt.tsUs > totals[LAST_TS_US]) totals[LAST_TS_US] = pkt.tsUs;
    if (decoder.decode(pkt, decoded)) tracker.process(decoded);
  };
  const reader = new CaptureReader(onPacket);
  const input: AsyncIterable<Buffer> = o.input === '-' ? process.stdin : readFileChunks(o.input);
  let captureError: CaptureFormatError | undefined;
  try {
    for await (const chunk of input) {
      if (migrationFailure) break;
      reader.feed(chunk);
      o.onProgress?.(reader.stats.bytesConsumed, packets);
      if (writer.backlogged) await writer.drained();
    }
    // A store that cannot be set up fails the replay, as before any packet was read.
    await migrated;
    reader.end();
  } catch (error) {
    if (!(error instanceof CaptureFormatError)) throw error;
    captureError = error;
    // Leaving the loop by the error closed the file (for-await ends the generator).
  }
  while (!tracker.finishSome(10_000)) if (writer.backlogged) await writer.drained();
  const counters = decoder.counters;
  const statsTime = Math.floor((totals[LAST_TS_US] || Date.now() * 1000) / 60_000_000) * 60;
  writer.rowBuffer(CAPTURE_STATS.name).jsonRow({
    time: statsTime,
    host,
    signal_source: 'packet',
    source: o.input === '-' ? 'stdin' : o.input,
    packets,
    bytes: totals[BYTES],
    malformed: DecodeCounters.nonZero(counters.malformed),
    skipped: DecodeCounters.nonZero(counters.skipped),
    flow_table_overflow: tracker.stats.overflowEvictions,
    dropped_rows: writer.stats.rowsDropped,
    l7_records: tracker.l7Stats.records,
    l7_endpoints_folded: tracker.l7EndpointsFolded,
  });
  await writer.flush();
  return {
    packets,
    bytes: totals[BYTES],
    bytesConsumed: reader.stats.bytesConsumed,
    captureError,
    decode: counters,
    flows: { ...tracker.stats, flowsOpen: tracker.flows.size },
    store: writer.stats,
  };
}
