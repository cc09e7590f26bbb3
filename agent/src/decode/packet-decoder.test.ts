import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapturedPacket, LinkType } from '../capture/captured-packet';
import { ethernet, ipv4, ipv6, sll, sll2, tcpSegment, udpDatagram } from '../testing/packet-builder';
import { formatIpv4, formatIpv6 } from '../util/ip-format';
import { Random } from '../testing/fuzz';
import { DecodedPacket } from './decoded-packet';
import { PacketDecoder } from './packet-decoder';

function decode(linkType: number, data: Buffer, decoder = new PacketDecoder(), origLen = data.length): { ok: boolean; p: DecodedPacket; decoder: PacketDecoder } {
  const p = new DecodedPacket();
  const pkt: CapturedPacket = { tsUs: 1_700_000_000_000_000, linkType, interfaceId: 0, capLen: data.length, origLen, data };
  return { ok: decoder.decode(pkt, p), p, decoder };
}

const tcp = tcpSegment({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'SA', seq: 0xfffffff0, ack: 7, window: 512, windowScale: 7, payload: 'hello' });

test('Ethernet IPv4 TCP: addresses, ports, sequence numbers, flags, window and its scale option', () => {
  const { ok, p } = decode(LinkType.ETHERNET, ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp)));
  assert.ok(ok);
  assert.equal(p.ipVersion, 4);
  assert.equal(formatIpv4(p.srcIp4), '10.0.0.1');
  assert.equal(formatIpv4(p.dstIp4), '10.0.0.2');
  assert.deepEqual([p.srcPort, p.dstPort, p.seq, p.ack, p.window, p.windowScale, p.tcpFlags], [40000, 80, 0xfffffff0, 7, 512, 7, 0x12]);
  assert.equal(p.l4PayloadLen, 5);
  assert.equal(p.payload.toString(), 'hello');
  assert.equal(p.l3Len, 20 + 24 + 5);
  assert.equal(p.vlanId, -1);
});

test('802.1Q and QinQ tags: the innermost VLAN id is kept', () => {
  assert.equal(decode(LinkType.ETHERNET, ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp), [42])).p.vlanId, 42);
  const qinq = decode(LinkType.ETHERNET, ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp), [100, 200]));
  assert.ok(qinq.ok);
  assert.equal(qinq.p.vlanId, 200);
  assert.equal(qinq.p.dstPort, 80);
});

test('Linux cooked SLL and SLL2, raw IP and BSD loopback headers', () => {
  const ip = ipv4('192.168.1.1', '192.168.1.2', 6, tcp);
  for (const [link, frame] of [
    [LinkType.LINUX_SLL, sll(ip)],
    [LinkType.LINUX_SLL2, sll2(ip)],
    [LinkType.RAW, ip],
    [LinkType.IPV4, ip],
  ] as const) {
    const { ok, p } = decode(link, frame);
    assert.ok(ok, `link type ${link}`);
    assert.equal(formatIpv4(p.dstIp4), '192.168.1.2');
  }
  const nullLe = Buffer.concat([Buffer.from([2, 0, 0, 0]), ip]);
  assert.ok(decode(LinkType.NULL, nullLe).ok);
  const loopV6 = Buffer.concat([Buffer.from([0, 0, 0, 30]), ipv6('::1', '::1', 6, tcp)]);
  const v6 = decode(LinkType.LOOP, loopV6);
  assert.ok(v6.ok);
  assert.equal(v6.p.ipVersion, 6);
  const nullV6Linux = Buffer.concat([Buffer.from([10, 0, 0, 0]), ipv6('::1', '::1', 6, tcp)]);
  assert.ok(decode(LinkType.NULL, nullV6Linux).ok);
});

test('IPv6 with hop-by-hop and destination-options extension headers', () => {
  const frame = ethernet(ipv6('2001:db8::1', '2001:db8::2', 6, tcp, [[0, Buffer.alloc(6)], [60, Buffer.alloc(14)]]));
  const { ok, p } = decode(LinkType.ETHERNET, frame);
  assert.ok(ok);
  assert.equal(p.ipVersion, 6);
  assert.equal(formatIpv6(wordsOf(p.srcIp6)), '2001:db8::1');
  assert.equal(p.dstPort, 80);
  assert.equal(p.l4PayloadLen, 5);
  assert.equal(p.l3Len, 40 + 8 + 16 + tcp.length);
});

test('IPv6 fragments are counted, atomic fragments decoded', () => {
  const fragment = (offsetWord: number): Buffer => {
    const body = Buffer.alloc(6);
    body.writeUInt16BE(offsetWord, 0);
    return body;
  };
  const d = new PacketDecoder();
  assert.equal(decode(LinkType.ETHERNET, ethernet(ipv6('::1', '::2', 6, tcp, [[44, fragment(0x0001)]])), d).ok, false);
  assert.equal(d.counters.skipped.ipv6_fragment, 1);
  assert.ok(decode(LinkType.ETHERNET, ethernet(ipv6('::1', '::2', 6, tcp, [[44, fragment(0)]]))).ok);
});

test('IPv4 fragments arriving out of order are reassembled into one datagram', () => {
  const payload = Buffer.alloc(3000, 7);
  const datagram = udpDatagram({ src: '10.1.1.1', dst: '10.1.1.2', sport: 5353, dport: 53, payload });
  const pieces = [
    { offset: 1480, more: true, data: datagram.subarray(1480, 2960) },
    { offset: 2960, more: false, data: datagram.subarray(2960) },
    { offset: 0, more: true, data: datagram.subarray(0, 1480) },
  ];
  const d = new PacketDecoder();
  const results = pieces.map((f) =>
    decode(LinkType.ETHERNET, ethernet(ipv4('10.1.1.1', '10.1.1.2', 17, f.data, { id: 99, fragmentOffset: f.offset, moreFragments: f.more })), d),
  );
  assert.deepEqual(results.map((r) => r.ok), [false, false, true]);
  const whole = results[2].p;
  assert.equal(whole.l4PayloadLen, 3000);
  assert.equal(whole.payload.length, 3000);
  assert.equal(whole.dstPort, 53);
  assert.equal(d.counters.skipped.ipv4_fragment_pending, 2);
  assert.equal(d.counters.reassembled, 1);
});

test('a fragment that is not a multiple of 8 bytes is malformed, never parsed as a header', () => {
  const d = new PacketDecoder();
  const odd = ethernet(ipv4('10.1.1.1', '10.1.1.2', 6, Buffer.alloc(13), { moreFragments: true }));
  assert.equal(decode(LinkType.ETHERNET, odd, d).ok, false);
  assert.equal(d.counters.malformed.bad_ipv4_fragment, 1);
});

test('snaplen: a frame cut inside the payload decodes with the header lengths; cut inside the TCP header is malformed', () => {
  const full = ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcpSegment({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, flags: 'A', payload: Buffer.alloc(1000) })));
  const cutPayload = decode(LinkType.ETHERNET, full.subarray(0, 80), new PacketDecoder(), full.length);
  assert.ok(cutPayload.ok);
  assert.equal(cutPayload.p.l4PayloadLen, 1000);
  assert.equal(cutPayload.p.payload.length, 80 - 54);
  const d = new PacketDecoder();
  assert.equal(decode(LinkType.ETHERNET, full.subarray(0, 40), d, full.length).ok, false);
  assert.equal(d.counters.malformed.truncated_l4_header, 1);
});

test('headers that lie are counted by reason', () => {
  const d = new PacketDecoder();
  const cases: [Buffer, string][] = [
    [ethernet(ipv4('1.1.1.1', '2.2.2.2', 6, tcp, { ihl: 4 })), 'bad_ip_header_length'],
    [ethernet(ipv4('1.1.1.1', '2.2.2.2', 6, tcp, { totalLength: 10 })), 'bad_ip_total_length'],
    [ethernet(ipv4('1.1.1.1', '2.2.2.2', 17, udpDatagram({ src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2 }).fill(0xff, 4, 6))), 'bad_udp_length'],
    [Buffer.from([1, 2, 3]), 'truncated_link_header'],
  ];
  for (const [frame, reason] of cases) {
    assert.equal(decode(LinkType.ETHERNET, frame, d).ok, false, reason);
    assert.equal(d.counters.malformed[reason as keyof typeof d.counters.malformed], 1, reason);
  }
  const badOffset = Buffer.from(tcp);
  badOffset[12] = 0x30; // 12-byte TCP header
  assert.equal(decode(LinkType.ETHERNET, ethernet(ipv4('1.1.1.1', '2.2.2.2', 6, badOffset)), d).ok, false);
  assert.equal(d.counters.malformed.bad_tcp_header_length, 1);
});

test('an IPv4 total length beyond the frame is counted and the packet analysed with what is there', () => {
  const d = new PacketDecoder();
  const frame = ethernet(ipv4('1.1.1.1', '2.2.2.2', 6, tcp, { totalLength: 20 + tcp.length + 100 }));
  const { ok, p } = decode(LinkType.ETHERNET, frame, d);
  assert.ok(ok);
  assert.equal(p.l4PayloadLen, 5);
  assert.equal(d.counters.malformed.ip_length_exceeds_frame, 1);
});

test('non-IP, ICMP and unknown link types are skipped by reason', () => {
  const d = new PacketDecoder();
  const arp = Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
  assert.equal(decode(LinkType.ETHERNET, arp, d).ok, false);
  assert.equal(decode(LinkType.ETHERNET, ethernet(ipv4('1.1.1.1', '2.2.2.2', 1, Buffer.alloc(8))), d).ok, false);
  assert.equal(decode(147, Buffer.alloc(40), d).ok, false);
  assert.deepEqual([d.counters.skipped.non_ip, d.counters.skipped.other_l4_protocol, d.counters.skipped.unsupported_link_type], [1, 1, 1]);
});

function wordsOf(b: Buffer): number[] {
  return [b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12)];
}

test('a frame read in place from a larger buffer decodes exactly as a copy of it, whatever surrounds it', () => {
  const random = new Random(0xdec0de);
  const v4 = ipv4('10.0.0.1', '10.0.0.2', 6, tcp);
  const v6 = ipv6('fd00::1', 'fd00::2', 6, tcp, [[0, Buffer.alloc(6)]]);
  const udp = ipv4('10.0.0.1', '10.0.0.2', 17, udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 53, dport: 5353, payload: 'q' }));
  const loop = (ip: Buffer, family: number): Buffer => Buffer.concat([Buffer.from([family, 0, 0, 0]), ip]);
  const samples: [number, Buffer][] = [
    [LinkType.ETHERNET, ethernet(v4)],
    [LinkType.ETHERNET, ethernet(v6, [7, 8])],
    [LinkType.ETHERNET, ethernet(udp)],
    [LinkType.LINUX_SLL, sll(v4)],
    [LinkType.LINUX_SLL2, sll2(v6)],
    [LinkType.RAW, v6],
    [LinkType.NULL, loop(v4, 2)],
    [LinkType.LOOP, Buffer.concat([Buffer.from([0, 0, 0, 24]), v6])],
  ];
  const view = (p: DecodedPacket, ok: boolean, d: PacketDecoder): string =>
    JSON.stringify({
      ok,
      fields: [p.tsUs, p.frameLen, p.vlanId, p.ipProto, p.l3Len, p.l4PayloadLen, p.srcPort, p.dstPort, p.tcpFlags, p.seq, p.ack, p.window, p.windowScale],
      addr: ok ? [p.ipVersion, [...p.srcAddr], [...p.dstAddr]] : [],
      payload: ok ? p.payload.toString('hex') : '',
      counters: [d.counters.malformed, d.counters.skipped],
    });
  for (let i = 0; i < 20_000; i++) {
    const [linkType, base] = random.pick(samples);
    const frame = Buffer.from(base);
    for (let k = random.int(4); k > 0; k--) frame[random.int(frame.length)] = random.int(256);
    const cut = random.int(3) === 0 ? frame.subarray(0, random.int(frame.length + 1)) : frame;
    const origLen = cut.length + (random.int(4) === 0 ? random.int(100) : 0);
    const copy = Buffer.from(cut);
    const a = new DecodedPacket();
    const da = new PacketDecoder();
    const okA = da.decode({ tsUs: 1, linkType, interfaceId: 0, capLen: copy.length, origLen, data: copy }, a);
    // In place: random bytes before and after the frame, as the next record of a chunk would be.
    const before = random.int(40);
    const chunk = Buffer.concat([random.bytes(before), cut, random.bytes(80)]);
    const b = new DecodedPacket();
    const db = new PacketDecoder();
    const okB = db.decode({ tsUs: 1, linkType, interfaceId: 0, capLen: cut.length, origLen, data: Buffer.alloc(0), buffer: chunk, offset: before }, b);
    assert.equal(view(b, okB, db), view(a, okA, da), `sample ${i}`);
  }
});
