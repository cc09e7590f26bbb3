import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { DecodedPacket } from '../decode/decoded-packet';
import { PacketDecoder } from '../decode/packet-decoder';
import { FlowTracker } from '../flow/flow-tracker';
import { LocalAddresses } from '../flow/tap-side';
import { RowCollector } from '../store/row-collector';
import { Conversation } from '../testing/conversation';
import { LiveObservationPoints } from './observation-points';

/** One handshake and a request, captured on the interfaces given per packet (index, outgoing). */
function run(points: LiveObservationPoints, capture: (frame: number) => Array<{ tapPort: number; outgoing: boolean }>): Record<string, unknown>[] {
  const conv = new Conversation(['172.17.0.2', 40000], ['10.0.0.9', 80]).handshake().c('PA', { dt: 10, payload: 'GET / HTTP/1.1\r\n\r\n' }).s('PA', { dt: 10, payload: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' });
  const sink = new RowCollector();
  const tracker = new FlowTracker(sink, { host: 'h', runId: 0, localAddresses: new LocalAddresses(['10.0.0.5']), observationPoints: points });
  const decoder = new PacketDecoder();
  const d = new DecodedPacket();
  conv.frames.forEach((f, i) => {
    for (const at of capture(i)) {
      const pkt: CapturedPacket = { tsUs: f.tsUs, linkType: LinkType.ETHERNET, interfaceId: 0, capLen: f.data.length, origLen: f.data.length, data: f.data };
      if (!decoder.decode(pkt, d)) continue;
      d.tapPort = at.tapPort;
      d.outgoing = at.outgoing;
      tracker.process(d);
    }
  });
  tracker.finish();
  return sink.rows('l4_flow_log').filter((r) => r.is_closed === 1);
}

test('a container client seen on its veth and on the NIC is two flows: c-nd and rest', () => {
  const points = new LiveObservationPoints();
  points.addInterface(7, 'veth12ab');
  points.addInterface(2, 'eth0');
  // Client frames (0, 2, 3) come out of the veth (received by the host) and leave by eth0 (outgoing);
  // server frames (1, 4) arrive on eth0 and are sent into the veth.
  const rows = run(points, (i) => {
    const fromClient = i !== 1 && i !== 4;
    return [
      { tapPort: 7, outgoing: !fromClient },
      { tapPort: 2, outgoing: fromClient },
    ];
  });
  assert.deepEqual(rows.map((r) => r.tap_side).sort(), ['c-nd', 'rest']);
  assert.ok(rows.every((r) => r.packet_tx === 3 && r.packet_rx === 2), 'each observation point saw every packet once');
});

test('a hypervisor tap with the server behind it gives s-hv; a gateway port its configured side', () => {
  const hv = new LiveObservationPoints();
  hv.addInterface(9, 'vnet0');
  assert.deepEqual(run(hv, (i) => [{ tapPort: 9, outgoing: i !== 1 && i !== 4 }]).map((r) => r.tap_side), ['s-hv']);
  const gw = new LiveObservationPoints({ gateway: { eth1: 'server' } });
  gw.addInterface(3, 'eth1');
  assert.deepEqual(run(gw, () => [{ tapPort: 3, outgoing: false }]).map((r) => r.tap_side), ['s-gw']);
});
