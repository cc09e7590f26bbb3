/**
 * Bytes of memory per open flow, with and without the application layer: `count` HTTP/1 flows
 * (handshake and one request each, never answered, so every flow keeps its FlowL7, its reassembly
 * state, its parser and a pending request) through the flow tracker with a sink that discards
 * rows. Mode `l7-answered` answers the request (an idle keep-alive connection: the parser stays,
 * nothing is pending); `l4` runs without L7. Run by the L7 benchmark in its own process:
 *
 *   node --expose-gc l7-flow-memory.js <count> <l7|l7-answered|l4>
 *
 * Prints JSON: the growth of heapUsed + external (ArrayBuffers and Buffers are part of `external`)
 * from before the tracker existed to after every flow is open, divided by `count`. The flow table
 * is allocated for `count` flows up front, so its share is included.
 */
import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { ALL_L7_MODULES } from '../l7/modules';
import { RowCollector } from '../store/row-collector';
import { ethernet, ipv4, tcpSegment } from '../testing/packet-builder';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): NodeJS.MemoryUsage {
  if (gc) for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage();
}

function main(): void {
  const count = Number(process.argv[2] ?? 100_000);
  const mode = process.argv[3] ?? 'l7';
  if (mode !== 'l7' && mode !== 'l7-answered' && mode !== 'l4') throw new Error(`unknown mode ${mode}`);
  const withL7 = mode !== 'l4';
  if (!gc) throw new Error('run with node --expose-gc');
  const decoder = new PacketDecoder();
  const decoded = new DecodedPacket();
  const request = Buffer.from(
    'GET /api/users/123456/orders?page=2 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: okhttp/4.12.0\r\nAccept: application/json\r\nX-Request-Id: 0123456789abcdef\r\n\r\n',
    'latin1',
  );
  const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{"id":123456,"orders":[42]}', 'latin1');
  // Template frames patched in place per flow: SYN, SYN-ACK, ACK, request (, response, ACK).
  const steps: { fromClient: boolean; flags: string; seq: number; ack: number; payload?: Buffer }[] = [
    { fromClient: true, flags: 'S', seq: 1000, ack: 0 },
    { fromClient: false, flags: 'SA', seq: 5000, ack: 1001 },
    { fromClient: true, flags: 'A', seq: 1001, ack: 5001 },
    { fromClient: true, flags: 'PA', seq: 1001, ack: 5001, payload: request },
  ];
  if (mode === 'l7-answered') {
    steps.push({ fromClient: false, flags: 'PA', seq: 5001, ack: 1001 + request.length, payload: response });
    steps.push({ fromClient: true, flags: 'A', seq: 1001 + request.length, ack: 5001 + response.length });
  }
  const templates = steps.map((s) => {
    const seg = tcpSegment({ src: '10.0.0.1', dst: '10.0.0.2', sport: s.fromClient ? 1024 : 80, dport: s.fromClient ? 80 : 1024, flags: s.flags, seq: s.seq, ack: s.ack, payload: s.payload });
    return ethernet(ipv4(s.fromClient ? '10.0.0.1' : '10.0.0.2', s.fromClient ? '10.0.0.2' : '10.0.0.1', 6, seg));
  });
  const pkt: CapturedPacket = { tsUs: 0, linkType: LinkType.ETHERNET, interfaceId: 0, capLen: 0, origLen: 0, data: templates[0] };

  const before = settle();
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'bench', maxFlows: count + 1024, l7: withL7 ? { modules: ALL_L7_MODULES } : undefined });
  const t0 = 1_700_000_041_000_000; // just after a minute boundary: no minute report while flows open
  const spreadUs = 20_000_000;
  let lastTs = t0;
  for (let f = 0; f < count; f++) {
    const client = (10 << 24) | (1 + (f >> 14));
    const port = 1024 + (f & 0x3fff);
    for (let step = 0; step < templates.length; step++) {
      const frame = templates[step];
      const fromClient = steps[step].fromClient;
      frame.writeUInt32BE(client >>> 0, fromClient ? 26 : 30);
      frame.writeUInt16BE(port, fromClient ? 34 : 36);
      pkt.data = frame;
      pkt.capLen = pkt.origLen = frame.length;
      pkt.tsUs = lastTs = t0 + Math.floor((f * spreadUs) / count) + step * 10;
      if (decoder.decode(pkt, decoded)) tracker.process(decoded);
    }
    if ((f & 0xfff) === 0) sink.reset();
  }
  // Close the last second (its per-flow rows go to the sink), then drop every row.
  tracker.tick(lastTs + 2_000_000);
  sink.reset();
  const open = tracker.flows.size;
  const after = settle();
  const grown = after.heapUsed + after.external - (before.heapUsed + before.external);
  process.stdout.write(
    JSON.stringify({
      mode,
      flows: count,
      open,
      l7FlowsParsed: tracker.l7Stats.flowsParsed,
      bytesPerFlow: Math.round(grown / count),
      heapUsedPerFlow: Math.round((after.heapUsed - before.heapUsed) / count),
      externalPerFlow: Math.round((after.external - before.external) / count),
      arrayBuffersPerFlow: Math.round((after.arrayBuffers - before.arrayBuffers) / count),
      rssMiB: Math.round(after.rss / 1048576),
    }) + '\n',
  );
  // Keep the tracker alive until after the measurement.
  if (tracker.flows.size < 0) process.stdout.write('');
}

main();
