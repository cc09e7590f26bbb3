import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CORPUS_MISSING, corpusDir } from '../../testing/corpus';
import { feedInTwo, mutate, Random } from '../../testing/fuzz';
import { parseCapture } from '../../testing/l7-corpus';
import { L7Parser, L7Record } from '../l7-parser';
import { parseClientHello, parseServerHello, tlsModule } from './tls-parser';
import { hex, hs, rec, CH_BODY, CLIENT_HELLO, SERVER_FLIGHT_12, CLIENT_FINISH_12, SERVER_FINISH_12, APP_DATA, SH13, HRR, alert } from './fixtures';

function run(p: L7Parser, feeds: [0 | 1, Buffer, number][]): L7Record[] {
  for (const [d, b, t] of feeds) p.feed(d, b, t);
  return p.take();
}

test('ClientHello and ServerHello decoding', () => {
  const ch = parseClientHello(hex(CH_BODY));
  assert.deepEqual(ch, { legacyVersion: 0x0303, sni: 'example.com', alpn: ['h2', 'http/1.1'], versions: [0x0304, 0x0303] });
  const sh = parseServerHello(SH13.subarray(9));
  assert.equal(sh?.version, 0x0304);
  assert.equal(sh?.cipher, 0x1301);
  assert.equal(parseServerHello(HRR.subarray(9))?.hrr, true);
  assert.equal(parseClientHello(hex(CH_BODY).subarray(0, 40)), undefined);
});

test('TLS 1.2 full handshake: one record ended by the server Finished', () => {
  const p = tlsModule.create();
  const recs = run(p, [
    [0, CLIENT_HELLO, 100],
    [1, SERVER_FLIGHT_12, 200],
    [0, CLIENT_FINISH_12, 300],
    [1, SERVER_FINISH_12, 400],
    [0, APP_DATA, 500],
    [1, APP_DATA, 600],
  ]);
  assert.equal(recs.length, 1);
  const r = recs[0];
  assert.equal(r.protocol, 'tls');
  assert.equal(r.requestType, 'handshake');
  assert.equal(r.requestDomain, 'example.com');
  assert.equal(r.endpoint, 'example.com');
  assert.equal(r.version, 'TLS 1.2');
  assert.equal(r.status, 'ok');
  assert.equal(r.requestTimeUs, 100);
  assert.equal(r.responseTimeUs, 400);
  assert.equal(r.countsAsRequest, true);
  assert.equal(r.attributes?.['tls.cipher'], 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
  assert.equal(r.attributes?.['tls.alpn_offered'], 'h2,http/1.1');
  assert.equal(r.attributes?.['tls.alpn_selected'], 'h2');
  assert.equal(r.attributes?.['tls.supported_versions'], 'TLS 1.3,TLS 1.2');
  p.close(1000);
  assert.equal(p.take().length, 0);
});

test('split at every byte boundary, and one handshake message across two records', () => {
  const client = Buffer.concat([CLIENT_HELLO]);
  const server = Buffer.concat([SERVER_FLIGHT_12, SERVER_FINISH_12]);
  for (let i = 1; i < server.length; i++) {
    const p = tlsModule.create();
    feedInTwo(p, 0, client, (i % (client.length - 1)) + 1, 1, 2);
    feedInTwo(p, 1, server, i, 3, 4);
    const recs = p.take();
    assert.equal(recs.length, 1, `split ${i}`);
    assert.equal(recs[0].requestDomain, 'example.com');
    assert.equal(recs[0].responseTimeUs, 4); // the feed that completes the Finished record
    assert.equal(recs[0].requestTimeUs, 2);
    assert.equal(p.stats.bytesSkipped, 0);
  }
  // The ClientHello fragmented over two records (RFC 5246 §6.2.1).
  const msg = hs(1, CH_BODY);
  const cut = 50 * 2;
  const frag = Buffer.concat([rec(22, msg.slice(0, cut), '0301'), rec(22, msg.slice(cut), '0301')]);
  const recs = run(tlsModule.create(), [
    [0, frag, 1],
    [1, SH13, 2],
  ]);
  assert.equal(recs[0].requestDomain, 'example.com');
  assert.equal(recs[0].version, 'TLS 1.3');
});

test('TLS 1.3: ends at the ServerHello; encrypted records after it are not parsed', () => {
  const p = tlsModule.create();
  const recs = run(p, [
    [0, CLIENT_HELLO, 10],
    [1, Buffer.concat([SH13, rec(20, '01'), APP_DATA]), 25],
    [1, alert(2, 40), 30],
  ]);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].version, 'TLS 1.3');
  assert.equal(recs[0].status, 'ok');
  assert.equal(recs[0].responseTimeUs, 25);
  assert.equal(recs[0].attributes?.['tls.cipher'], 'TLS_AES_128_GCM_SHA256');
  assert.equal(recs[0].attributes?.['tls.version_raw'], '0x0304');
});

test('TLS 1.3 HelloRetryRequest: the second ServerHello ends the handshake', () => {
  const recs = run(tlsModule.create(), [
    [0, CLIENT_HELLO, 1],
    [1, Buffer.concat([HRR, rec(20, '01')]), 2],
    [0, Buffer.concat([rec(20, '01'), CLIENT_HELLO]), 3],
    [1, SH13, 4],
  ]);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].requestTimeUs, 1);
  assert.equal(recs[0].responseTimeUs, 4);
  assert.equal(recs[0].attributes?.['tls.hello_retry'], 'true');
});

test('fatal alert: server_error with the alert description; warnings are not errors', () => {
  const recs = run(tlsModule.create(), [
    [0, CLIENT_HELLO, 1],
    [1, alert(2, 40), 5],
  ]);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].status, 'server_error');
  assert.equal(recs[0].responseCode, 40);
  assert.equal(recs[0].responseException, 'handshake_failure');
  assert.equal(recs[0].responseTimeUs, 5);
  const p = tlsModule.create();
  assert.equal(
    run(p, [
      [0, CLIENT_HELLO, 1],
      [1, alert(1, 112), 2],
    ]).length,
    0,
  );
  const late = run(p, [[1, Buffer.concat([SERVER_FLIGHT_12, SERVER_FINISH_12]), 3]]);
  assert.equal(late[0].status, 'ok');
  // A client's fatal alert (e.g. bad_certificate after the server flight) also ends it in error.
  const c = run(tlsModule.create(), [
    [0, CLIENT_HELLO, 1],
    [1, SERVER_FLIGHT_12, 2],
    [0, alert(2, 42), 3],
  ]);
  assert.equal(c[0].status, 'server_error');
  assert.equal(c[0].responseCode, 42);
  assert.equal(c[0].attributes?.['tls.alert_from'], 'client');
});

test('timeouts: expire() and close() before and after the ServerHello', () => {
  const p = tlsModule.create();
  p.feed(0, CLIENT_HELLO, 1_000);
  p.expire(2_000, 5_000);
  assert.equal(p.take().length, 0);
  p.expire(10_000, 5_000);
  const t = p.take();
  assert.equal(t.length, 1);
  assert.equal(t[0].status, 'timeout');
  assert.equal(t[0].responseTimeUs, undefined);
  const q = tlsModule.create();
  q.feed(0, CLIENT_HELLO, 1);
  q.feed(1, SERVER_FLIGHT_12, 2);
  q.close(3);
  const c = q.take();
  assert.equal(c[0].status, 'ok');
  assert.equal(c[0].responseTimeUs, 2);
  assert.equal(c[0].attributes?.['tls.handshake_complete'], 'false');
});

test('mid-stream start and gaps resync at the next record', () => {
  // Starting inside application data: no handshake, no record.
  const p = tlsModule.create();
  p.feed(0, APP_DATA.subarray(7), 1);
  p.feed(1, APP_DATA, 2);
  p.close(3);
  assert.equal(p.take().length, 0);
  // Garbage before the ClientHello.
  const q = tlsModule.create();
  const recs = run(q, [
    [0, Buffer.concat([hex('000102'), CLIENT_HELLO]), 1],
    [1, SH13, 2],
  ]);
  assert.equal(recs.length, 1);
  assert.equal(q.stats.bytesSkipped, 3);
  // A gap inside the certificate: the server's CCS + Finished still end the handshake.
  const g = tlsModule.create();
  g.feed(0, CLIENT_HELLO, 1);
  g.feed(1, SERVER_FLIGHT_12.subarray(0, 150), 2);
  g.gap(1, 100);
  g.feed(1, SERVER_FLIGHT_12.subarray(250), 3);
  g.feed(1, SERVER_FINISH_12, 4);
  const gr = g.take();
  assert.equal(gr.length, 1);
  assert.equal(gr[0].responseTimeUs, 4);
  assert.equal(gr[0].version, 'TLS 1.2');
});

test('detect: hellos yes, other protocols no', () => {
  assert.equal(tlsModule.detect(0, CLIENT_HELLO, 443), 'yes');
  assert.equal(tlsModule.detect(1, SERVER_FLIGHT_12, 443), 'yes');
  assert.equal(tlsModule.detect(0, APP_DATA, 443), 'maybe');
  const others: [string, Buffer][] = [
    ['http', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')],
    ['http response', Buffer.from('HTTP/1.1 200 OK\r\n\r\n')],
    ['mysql greeting', hex('4a0000000a382e302e3333000800000035253f4c5e5d2c1d00ffffff0200ffdf1500000000000000000000')],
    ['redis inline', Buffer.from('PING\r\n')],
    ['kafka', hex('0000002a00120003000000010009636f6e73756d6572000000000000000000000000000000000000000000')],
    ['dns', hex('1234 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001')],
    ['mqtt', hex('101000044d5154540402003c0004746573740000')],
  ];
  for (const [name, b] of others) for (const d of [0, 1] as const) assert.equal(tlsModule.detect(d, b, 443), 'no', name);
  const random = new Random(3);
  for (let i = 0; i < 20000; i++) {
    const b = random.bytes(10 + random.int(100));
    assert.notEqual(tlsModule.detect(0, b, 1), 'yes');
  }
});

test('fuzz: 110,000 mutated flights, no exception, bounded buffers', () => {
  const seeds = [CLIENT_HELLO, SERVER_FLIGHT_12, SERVER_FINISH_12, SH13, HRR, alert(2, 40), CLIENT_FINISH_12];
  const random = new Random(99);
  const max = 2048;
  let p = tlsModule.create({ maxBufferBytes: max });
  for (let i = 0; i < 110_000; i++) {
    // Random lengths in the record, handshake and extension length fields.
    const m = mutate(random.pick(seeds), random, { length: { bytes: 2, at: [3, 6, 7, 8, 9 + 38, 9 + 40] }, randomMax: 60 });
    p.feed(random.int(2) as 0 | 1, m, i);
    if (random.int(50) === 0) p.gap(random.int(2) as 0 | 1, random.int(100));
    const sides = (p as unknown as { sides: { hs: Buffer; hdr: Buffer }[] }).sides;
    assert.ok(sides[0].hs.length <= max && sides[1].hs.length <= max && sides[0].hdr.length < 5);
    if (i % 7 === 0) {
      p.close(i);
      p.take();
      p = tlsModule.create({ maxBufferBytes: max });
    }
  }
});

interface TlsOracle {
  server_names: Record<string, number>;
  alpn_offered: Record<string, number>;
  alpn_selected: Record<string, number>;
  server_hello_version: Record<string, number>;
  alert_descriptions: Record<string, number>;
  handshake_types: Record<string, number>;
}

/**
 * Request (ClientHello) and response (end of handshake) frame times, read with
 * `tshark -T fields -e frame.time_epoch -e tls.record.content_type -e tls.handshake.type`: the
 * ClientHello frame, and the server's CCS+Finished frame (TLS 1.2), the ServerHello frame (1.3) or
 * the alert frame.
 */
const FRAME_TIMES: Record<string, [number, number]> = {
  'zeek_tls-1.2-stream-keylog.pcap': [1646150638_667415, 1646150638_735717],
  'deepflow_tls-1-3.pcap': [1702006798_447289, 1702006798_466272],
  'arkime_tls13.pcap': [1483560476_246553, 1483560476_263899],
  'ndpi_tls_alert.pcap': [1628259176_204397, 1628259176_204934],
  'sv_tls-extra-alert.pcap': [1725905756_091687, 1725905756_316962],
};

test('corpus: SNI, ALPN, versions and alerts equal the tshark oracle', (t) => {
  const dir = corpusDir();
  if (!dir) {
    t.skip(CORPUS_MISSING);
    return;
  }
  const files = [
    'arkime_tls-alpn-h2.pcap', 'arkime_tls13.pcap', 'deepflow_tls-1-3.pcap', 'ndpi_tls_alert.pcap', 'sv_tls-extra-alert.pcap',
    'zeek_tls-1.2-stream-keylog.pcap', 'zeek_tls12-decryption.pcap',
  ];
  for (const f of files) {
    const path = join(dir, 'tls', f);
    const o = (JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as { l7: { tls: TlsOracle } }).l7.tls;
    const flows = parseCapture(path, tlsModule);
    const recs = flows.flatMap((x) => x.records);
    const count = (vals: string[]): Record<string, number> => {
      const c: Record<string, number> = {};
      for (const v of vals) c[v] = (c[v] ?? 0) + 1;
      return c;
    };
    // One handshake record per ClientHello (tshark's client_hello count).
    assert.equal(recs.filter((r) => r.countsAsRequest).length, o.handshake_types.client_hello ?? 0, `${f} handshakes`);
    assert.deepEqual(count(recs.map((r) => r.requestDomain).filter(Boolean)), o.server_names, `${f} SNI`);
    assert.deepEqual(count(recs.flatMap((r) => r.attributes?.['tls.alpn_offered']?.split(',') ?? [])), o.alpn_offered, `${f} ALPN offered`);
    assert.deepEqual(count(recs.flatMap((r) => r.attributes?.['tls.alpn_selected'] ?? [])), o.alpn_selected, `${f} ALPN selected`);
    assert.deepEqual(count(recs.flatMap((r) => r.attributes?.['tls.version_raw'] ?? [])), o.server_hello_version, `${f} version`);
    // Alerts: tshark lists close_notify (0) in the two decrypted captures; that alert is
    // encrypted (after the handshake) and we do not parse it. Only handshake alerts are ours.
    const handshakeAlerts = Object.fromEntries(Object.entries(o.alert_descriptions).filter(([d]) => d !== '0'));
    assert.deepEqual(count(recs.flatMap((r) => (r.responseCode !== undefined ? [String(r.responseCode)] : []))), handshakeAlerts, `${f} alerts`);
    for (const r of recs) {
      assert.equal(r.status, r.responseCode !== undefined ? 'server_error' : 'ok', `${f} status`);
      assert.ok(r.responseTimeUs! > r.requestTimeUs!, `${f} time order`);
    }
    const times = FRAME_TIMES[f];
    if (times) assert.deepEqual([recs[0].requestTimeUs, recs[0].responseTimeUs], times, `${f} times`);
    for (const fl of flows) assert.equal(fl.parser.stats.parseErrors, 0, `${f} parse errors`);
  }
});
