import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalAddresses } from './tap-side';
import { ALL_L7_MODULES } from '../l7/modules';
import { Conversation, sum, track, trackInto } from '../testing/conversation';
import { ethernet, ipv4, udpDatagram } from '../testing/packet-builder';

const C: [string, number] = ['10.0.0.1', 40000];
const S: [string, number] = ['10.0.0.2', 80];
const conv = (t0?: number, isn?: [number, number]): Conversation => new Conversation(C, S, t0, isn);

function closeTypes(frames: Conversation['frames'], options = {}): string[] {
  const { rows } = track(frames, options);
  return (rows.l4_flow_log ?? []).filter((r) => r.is_closed === 1).map((r) => String(r.close_type));
}

test('a complete exchange: fin close, handshake RTT legs, SRT, ART and CIT to the microsecond', () => {
  const c = conv()
    .c('S')
    .s('SA', { dt: 100 })
    .c('A', { dt: 150 })
    .c('PA', { dt: 1000, payload: 'GET / HTTP/1.1\r\n\r\n' })
    .s('A', { dt: 40 })
    .s('PA', { dt: 260, payload: 'HTTP/1.1 200 OK\r\n\r\n' })
    .c('A', { dt: 30 })
    .c('PA', { dt: 3700, payload: 'GET /2 HTTP/1.1\r\n\r\n' })
    .s('PA', { dt: 500, payload: 'HTTP/1.1 200 OK\r\n\r\n' })
    .c('FA', { dt: 10 })
    .s('FA', { dt: 10 })
    .c('A', { dt: 10 });
  const { rows } = track(c.frames);
  const [flow] = rows.l4_flow_log;
  assert.equal(flow.close_type, 'fin');
  assert.equal(flow.status, 'ok');
  assert.equal(flow.direction_score, 255);
  assert.deepEqual([flow.ip_0, flow.port_0, flow.ip_1, flow.port_1], ['10.0.0.1', 40000, '10.0.0.2', 80]);
  assert.deepEqual([flow.rtt_sum, flow.rtt_count, flow.rtt_server_sum, flow.rtt_client_sum], [250, 1, 100, 150]);
  assert.deepEqual([flow.srt_sum, flow.srt_count], [40, 1]);
  assert.deepEqual([flow.art_sum, flow.art_count, flow.art_max], [300 + 500, 2, 500]);
  // The second request comes 30 + 3700 µs after the last response data.
  assert.deepEqual([flow.cit_sum, flow.cit_count], [3730, 1]);
  assert.deepEqual([flow.packet_tx, flow.packet_rx, flow.syn_count, flow.synack_count, flow.fin_count], [7, 5, 1, 1, 2]);
  assert.equal(flow.l4_byte_tx, 18 + 19);
  assert.equal(sum(rows.network_map_1s, 'new_flow'), 1);
  assert.equal(sum(rows.network_map_1s, 'close_fin'), 1);
  assert.equal(sum(rows.network_map_1s, 'rtt_sum'), 250);
  // 250 µs falls in the log2 bucket [128, 256).
  assert.deepEqual(rows.network_map_1s.find((r) => r.rtt_hist)?.rtt_hist, { 8: 1 });
});

test('every handshake failure close type', () => {
  assert.deepEqual(closeTypes(conv().c('S').c('S', { dt: 1_000_000, seq: 1000 }).frames), ['server_syn_miss']);
  assert.deepEqual(closeTypes(conv().c('S').c('R', { dt: 3_000_000 }).frames), ['server_syn_miss']);
  assert.deepEqual(closeTypes(conv().c('S').s('RA', { dt: 50 }).frames), ['server_direct_rst']);
  assert.deepEqual(closeTypes(conv().c('S').s('SA', { dt: 50 }).s('SA', { dt: 1_000_000, seq: 5000 }).frames), ['client_ack_miss']);
  assert.deepEqual(closeTypes(conv().c('S').s('SA', { dt: 50 }).c('R', { dt: 50 }).frames), ['client_other_rst']);
  assert.deepEqual(closeTypes(conv().c('S').s('SA', { dt: 50 }).s('R', { dt: 50 }).frames), ['server_other_rst']);
  const queueLack = conv().handshake().c('PA', { dt: 10, payload: 'x' }).s('SA', { dt: 1_000_000, seq: 5000 }).s('R', { dt: 10 });
  assert.deepEqual(closeTypes(queueLack.frames), ['server_queue_lack']);
});

test('statuses and failure counters follow the close type', () => {
  const { rows } = track(conv().c('S').s('RA', { dt: 50 }).frames);
  assert.equal(rows.l4_flow_log[0].status, 'server_error');
  assert.equal(sum(rows.network_map_1s, 'server_establish_fail'), 1);
  assert.equal(sum(rows.network_map_1s, 'close_server_direct_rst'), 1);
  const ackMiss = track(conv().c('S').s('SA', { dt: 50 }).frames).rows;
  assert.equal(ackMiss.l4_flow_log[0].status, 'client_error');
  assert.equal(sum(ackMiss.network_map_1s, 'client_establish_fail'), 1);
});

test('resets, half closes and timeouts after the handshake', () => {
  assert.deepEqual(closeTypes(conv().handshake().c('RA', { dt: 10 }).frames), ['client_rst']);
  assert.deepEqual(closeTypes(conv().handshake().s('RA', { dt: 10 }).frames), ['server_rst']);
  assert.deepEqual(closeTypes(conv().handshake().c('FA', { dt: 10 }).frames), ['client_half_close']);
  assert.deepEqual(closeTypes(conv().handshake().s('FA', { dt: 10 }).frames), ['server_half_close']);
  assert.deepEqual(closeTypes(conv().handshake().frames), ['timeout']);
});

test('an idle established flow times out after 300 s, detected by later traffic', () => {
  const idle = conv().handshake();
  const later = new Conversation(['10.0.0.9', 1234], S, idle.tsUs + 301_000_000).handshake();
  const { rows, tracker } = track([...idle.frames, ...later.frames]);
  const first = rows.l4_flow_log.find((r) => r.port_0 === 40000 && r.is_closed === 1);
  assert.equal(first?.close_type, 'timeout');
  assert.equal(first?.status, 'server_error');
  // Reported when the second flow's packets moved the clock, before the input ended.
  assert.ok(rows.l4_flow_log.indexOf(first as never) < rows.l4_flow_log.findIndex((r) => r.port_0 === 1234));
  assert.equal(tracker.stats.flowsCreated, 2);
});

test('a new SYN on an established tuple ends the old flow as client_port_reuse', () => {
  const c = conv().handshake().c('PA', { dt: 10, payload: 'x' });
  const reuse = new Conversation(C, S, c.tsUs + 1_000_000, [900_000, 7000]).handshake();
  assert.deepEqual(closeTypes([...c.frames, ...reuse.frames]), ['client_port_reuse', 'timeout']);
  const afterFin = conv().handshake().c('FA', { dt: 10 }).s('FA', { dt: 10 }).c('A', { dt: 10 });
  const again = new Conversation(C, S, afterFin.tsUs + 1_000_000, [900_000, 7000]).handshake().c('FA').s('FA').c('A');
  assert.deepEqual(closeTypes([...afterFin.frames, ...again.frames]), ['fin', 'fin']);
});

test('a flow spanning a minute boundary reports the minute (forced_report) and then its close', () => {
  const t0 = 1_700_000_080_000_000; // 40 s into a minute
  const c = conv(t0).handshake().c('PA', { dt: 30_000_000, payload: 'late' }).c('FA', { dt: 10 }).s('FA', { dt: 10 }).c('A', { dt: 10 });
  const { rows } = track(c.frames);
  const log = rows.l4_flow_log;
  assert.deepEqual(log.map((r) => r.close_type), ['forced_report', 'fin']);
  assert.deepEqual(log.map((r) => r.is_closed), [0, 1]);
  assert.deepEqual(log.map((r) => r.packet_tx), [2, 3]);
  assert.equal(log[0].is_new_flow, 1);
  assert.equal(log[1].is_new_flow, 0);
  assert.equal(sum(rows.network_map_1s, 'packet_tx'), 5);
});

test('retransmission, out-of-order gap fill and keep-alive are told apart', () => {
  const verdicts: string[] = [];
  const c = conv()
    .handshake()
    .c('PA', { dt: 10, payload: Buffer.alloc(100) }) // 1001..1100
    .c('PA', { dt: 10, seq: 1201, payload: Buffer.alloc(100) }) // gap 1101..1200
    .c('PA', { dt: 10, seq: 1101, payload: Buffer.alloc(100) }) // fills the gap: out of order
    .c('PA', { dt: 10, seq: 1001, payload: Buffer.alloc(100) }) // seen already: retransmission
    .c('A', { dt: 10, seq: 1300, payload: Buffer.alloc(1) }) // keep-alive probe
    .s('A', { dt: 10 });
  const { rows } = track(c.frames, { onSegmentVerdict: (v) => verdicts.push(v) });
  assert.deepEqual(verdicts, ['out_of_order', 'retransmission', 'keep_alive']);
  assert.deepEqual([sum(rows.network_map_1s, 'retrans_tx'), sum(rows.network_map_1s, 'ooo_tx')], [1, 1]);
});

test('sequence numbers wrap around 2^32 without false retransmissions', () => {
  const verdicts: string[] = [];
  const c = new Conversation(C, S, undefined, [0xffffff00, 5000])
    .handshake()
    .c('PA', { dt: 10, payload: Buffer.alloc(200) }) // crosses the wrap
    .c('PA', { dt: 10, payload: Buffer.alloc(200) })
    .c('PA', { dt: 10, seq: 0xffffff01, payload: Buffer.alloc(200) }); // the first one again
  track(c.frames, { onSegmentVerdict: (v) => verdicts.push(v) });
  assert.deepEqual(verdicts, ['retransmission']);
});

test('zero window: a zero window field counts whatever the scale, SYN/FIN/RST excluded', () => {
  const c = conv()
    .c('S', { window: 0, windowScale: 7 })
    .s('SA', { dt: 10, window: 0, windowScale: 7 })
    .c('A', { dt: 10, window: 1 }) // 1 << 7 bytes: not zero
    .s('A', { dt: 10, window: 0 })
    .s('A', { dt: 10, window: 0 })
    .c('FA', { dt: 10, window: 0 });
  const { rows } = track(c.frames);
  assert.deepEqual([sum(rows.network_map_1s, 'zero_win_tx'), sum(rows.network_map_1s, 'zero_win_rx')], [0, 2]);
});

test('direction: a SYN-ACK seen first makes its receiver the client; mid-stream uses ports', () => {
  const synAckFirst = conv().s('SA').c('A', { dt: 10 });
  const { rows } = track(synAckFirst.frames);
  assert.deepEqual([rows.l4_flow_log[0].ip_0, rows.l4_flow_log[0].port_1, rows.l4_flow_log[0].direction_score], ['10.0.0.1', 80, 255]);
  const midStream = conv().s('PA', { payload: 'HTTP/1.1 200 OK\r\n\r\n' }).c('A', { dt: 10 });
  const mid = track(midStream.frames).rows.l4_flow_log[0];
  assert.deepEqual([mid.ip_1, mid.port_1, mid.direction_score], ['10.0.0.2', 80, 150]);
});

test('tap_side from the capturing host addresses', () => {
  const run = (local: string[]): unknown => track(conv().handshake().frames, { localAddresses: new LocalAddresses(local) }).rows.l4_flow_log[0].tap_side;
  assert.equal(run([]), 'rest');
  assert.equal(run(['10.0.0.1']), 'c');
  assert.equal(run(['10.0.0.2']), 's');
  assert.equal(run(['10.0.0.1', '10.0.0.2']), 'local');
  const loop = new Conversation(['127.0.0.1', 5000], ['127.0.0.1', 6379]).handshake();
  assert.equal(track(loop.frames).rows.l4_flow_log[0].tap_side, 'local');
  const v6 = new Conversation(['2001:db8::1', 5000], ['2001:db8::2', 443]).handshake();
  assert.equal(track(v6.frames, { localAddresses: new LocalAddresses(['2001:db8::2']) }).rows.l4_flow_log[0].tap_side, 's');
});

test('the flow table is bounded: when full the oldest flow is closed and counted', () => {
  const frames = [0, 1, 2].flatMap((i) => new Conversation([`10.0.1.${i}`, 1000 + i], S, 1_700_000_000_000_000 + i * 1000).handshake().frames);
  const { rows, tracker } = track(frames, { maxFlows: 2 });
  assert.equal(tracker.stats.overflowEvictions, 1);
  assert.equal(rows.l4_flow_log.length, 3);
  assert.equal(rows.l4_flow_log[0].port_0, 1000);
});

test('a UDP flow ends by idling: close type timeout, status ok, no TCP failure counted', () => {
  const query = ethernet(ipv4('10.0.0.1', '10.0.0.53', 17, udpDatagram({ src: '10.0.0.1', dst: '10.0.0.53', sport: 5353, dport: 53, payload: 'q' })));
  const answer = ethernet(ipv4('10.0.0.53', '10.0.0.1', 17, udpDatagram({ src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 5353, payload: 'a' })));
  const t0 = 1_700_000_000_000_000;
  const { rows } = track([
    { tsUs: t0, data: query },
    { tsUs: t0 + 100, data: answer },
  ]);
  const [flow] = rows.l4_flow_log;
  assert.deepEqual([flow.protocol, flow.close_type, flow.status, flow.port_1], ['udp', 'timeout', 'ok', 53]);
  assert.equal(sum(rows.network_map_1s, 'tcp_transfer_fail'), 0);
  assert.equal(sum(rows.network_map_1s, 'close_timeout'), 1);
});

test("a TCP flow's application state ends once both FINs are through; the flow stays for late retransmissions", () => {
  const t0 = 1_700_000_000_000_000;
  const conv = new Conversation(['10.0.0.1', 40000], ['10.0.0.2', 80], t0)
    .handshake()
    .c('PA', { dt: 100, payload: 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' })
    .s('PA', { dt: 200, payload: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' })
    .c('PA', { dt: 100, payload: 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n' })
    .s('FA', { dt: 100 })
    .c('FA', { dt: 100 });
  const beforeLastFin = trackInto(conv.frames.slice(0, -1), { l7: { modules: ALL_L7_MODULES } }, false);
  assert.equal(beforeLastFin.tracker.l7FlowsOpen, 1, 'one side still open: a response may yet come');
  assert.deepEqual(
    beforeLastFin.sink.rows('l7_flow_log').map((r) => [r.request_resource, r.response_status]),
    [['/a', 'ok']],
  );
  const { tracker, sink } = trackInto(conv.frames, { l7: { modules: ALL_L7_MODULES } }, false);
  assert.equal(tracker.l7FlowsOpen, 0);
  assert.equal(tracker.flows.size, 1, 'the flow itself stays (closing timeout)');
  // The unanswered request ends with the connection, at the last FIN.
  const rows = sink.rows('l7_flow_log');
  assert.deepEqual(
    rows.map((r) => [r.request_resource, r.response_status]),
    [
      ['/a', 'ok'],
      ['/b', 'timeout'],
    ],
  );
  // A late retransmission of the FIN starts no parsing again, and closing adds no row.
  const late = conv.frames[conv.frames.length - 1];
  const again = trackInto([...conv.frames, { tsUs: late.tsUs + 1000, data: late.data }], { l7: { modules: ALL_L7_MODULES } });
  assert.equal(again.tracker.l7FlowsOpen, 0);
  assert.equal(again.sink.rows('l7_flow_log').length, 2);
});
