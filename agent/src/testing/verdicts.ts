import { readFileSync } from 'node:fs';
import { CaptureReader } from '../capture/capture-reader';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker, SegmentVerdict } from '../flow/flow-tracker';
import { RowCollector } from '../store/row-collector';

/** Frame numbers (1-based, as tshark counts them) per TCP analysis verdict of our tracker. */
export function frameVerdicts(path: string): Record<SegmentVerdict, number[]> {
  const out: Record<SegmentVerdict, number[]> = {
    retransmission: [],
    out_of_order: [],
    keep_alive: [],
    zero_window: [],
    syn_retransmission: [],
    synack_retransmission: [],
  };
  let frame = 0;
  const tracker = new FlowTracker(new RowCollector(), { host: 'test', onSegmentVerdict: (v) => out[v].push(frame) });
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  const reader = new CaptureReader((pkt) => {
    frame++;
    if (decoder.decode(pkt, decoded)) tracker.process(decoded);
  });
  reader.feed(readFileSync(path));
  reader.end();
  tracker.finish();
  return out;
}
