import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CORPUS_MISSING, corpusDir } from '../../testing/corpus';
import { feedInTwo, mutate, Random } from '../../testing/fuzz';
import { parseCapture } from '../../testing/l7-corpus';
import { L7Parser, L7Record } from '../l7-parser';
import { parseMessage, readName } from './dns-message';
import { dnsModule } from './dns-parser';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Written from RFC 1035 §4.1: header (id, flags, 4 counts), question (labels, QTYPE, QCLASS).
const Q_EXAMPLE = '07 6578616d706c65 03 636f6d 00'; // example.com
/** A query for example.com A, id 0x1234, RD. */
const QUERY_A = hex(`1234 0100 0001 0000 0000 0000 ${Q_EXAMPLE} 0001 0001`);
/** Its answer: one A record through a compression pointer to offset 12 (c00c). */
const RESP_A = hex(`1234 8180 0001 0001 0000 0000 ${Q_EXAMPLE} 0001 0001 c00c 0001 0001 0000012c 0004 5db8d822`);
/** Query AAAA example.com, id 0x1235, and its NXDOMAIN answer (RCODE 3) with an SOA in authority. */
const QUERY_AAAA = hex(`1235 0100 0001 0000 0000 0000 ${Q_EXAMPLE} 001c 0001`);
const RESP_AAAA_NX = hex(
  `1235 8183 0001 0000 0001 0000 ${Q_EXAMPLE} 001c 0001 c00c 0006 0001 00000e10 0016 02 6e73 c00c 02 686d c00c 00000001 00000002 00000003 00000004 00000005`,
);
/** SOA query for the root with an OPT record (RFC 6891), and a reply whose OPT says extended RCODE 1 → 0x17 = 23 BADCOOKIE. */
const QUERY_SOA_ROOT = hex('beef 0000 0001 0000 0000 0001 00 0006 0001 00 0029 1000 00 00 0000 0000');
const RESP_BADCOOKIE = hex('beef 8087 0001 0000 0000 0001 00 0006 0001 00 0029 1000 01 00 0000 0000');
/** An UPDATE (opcode 5) for zone example.com (zone section type SOA) answered REFUSED. */
const UPDATE = hex(`0777 2800 0001 0000 0000 0000 ${Q_EXAMPLE} 0006 0001`);
const UPDATE_REFUSED = hex(`0777 a805 0001 0000 0000 0000 ${Q_EXAMPLE} 0006 0001`);
/** SERVFAIL (2) for id 0x1236 MX. */
const QUERY_MX = hex(`1236 0100 0001 0000 0000 0000 ${Q_EXAMPLE} 000f 0001`);
const RESP_MX_SERVFAIL = hex(`1236 8182 0001 0000 0000 0000 ${Q_EXAMPLE} 000f 0001`);

const tcp = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

function run(p: L7Parser, feeds: [0 | 1, Buffer, number][]): L7Record[] {
  for (const [d, b, t] of feeds) p.feed(d, b, t);
  return p.take();
}

test('message decoding: header, question, compression, OPT', () => {
  const m = parseMessage(RESP_A, 0, RESP_A.length);
  assert.ok(m);
  assert.equal(m.id, 0x1234);
  assert.equal(m.qr, true);
  assert.equal(m.qname, 'example.com');
  assert.equal(m.qtype, 1);
  assert.equal(m.ancount, 1);
  assert.equal(m.complete, true);
  const c = parseMessage(RESP_BADCOOKIE, 0, RESP_BADCOOKIE.length);
  assert.ok(c);
  assert.equal(c.qname, '.');
  assert.equal(c.rcode, 7);
  assert.equal(c.extRcodeHigh, 1);
  // A pointer loop (c00c pointing at itself) is refused, as is a pointer outside the message.
  const loop = hex('0001 0100 0001 0000 0000 0000 c00c 0001 0001');
  assert.equal(readName(loop, 0, loop.length, 12), undefined);
  assert.equal(parseMessage(loop, 0, loop.length), undefined);
  const out = hex('0001 0100 0001 0000 0000 0000 c0ff 0001 0001');
  assert.equal(parseMessage(out, 0, out.length), undefined);
  // Two pointers jumping to each other.
  const pingpong = hex('0001 0100 0001 0000 0000 0000 c00e c00c 0001 0001');
  assert.equal(readName(pingpong, 0, pingpong.length, 12), undefined);
  // Odd label bytes are escaped.
  const odd = hex('0001 0100 0001 0000 0000 0000 03 612e00 00 0001 0001');
  assert.equal(parseMessage(odd, 0, odd.length)?.qname, 'a\\.\\000');
});

test('UDP query and response', () => {
  const recs = run(dnsModule.create(), [
    [0, QUERY_A, 1000],
    [1, RESP_A, 1500],
  ]);
  assert.equal(recs.length, 1);
  const r = recs[0];
  assert.equal(r.protocol, 'dns');
  assert.equal(r.requestType, 'A');
  assert.equal(r.requestDomain, 'example.com');
  assert.equal(r.requestResource, 'example.com');
  assert.equal(r.endpoint, 'example.com');
  assert.equal(r.requestId, 0x1234);
  assert.equal(r.status, 'ok');
  assert.equal(r.responseCode, 0);
  assert.equal(r.requestTimeUs, 1000);
  assert.equal(r.responseTimeUs, 1500);
  assert.equal(r.requestLength, QUERY_A.length);
  assert.equal(r.responseLength, RESP_A.length);
  assert.equal(r.countsAsRequest, true);
  assert.equal(r.attributes?.['dns.answers'], '1');
  assert.equal(r.attributes?.['dns.transport'], 'udp');
});

test('status rules: NXDOMAIN client, SERVFAIL/REFUSED server, EDNS BADCOOKIE 23 server', () => {
  const recs = run(dnsModule.create(), [
    [0, QUERY_AAAA, 1],
    [0, QUERY_MX, 2],
    [0, QUERY_SOA_ROOT, 3],
    [1, RESP_MX_SERVFAIL, 4],
    [1, RESP_BADCOOKIE, 5],
    [1, RESP_AAAA_NX, 6],
  ]);
  assert.deepEqual(
    recs.map((r) => [r.requestType, r.endpoint, r.status, r.responseCode, r.responseException]),
    [
      ['MX', 'example.com', 'server_error', 2, 'SERVFAIL'],
      ['SOA', '.', 'server_error', 23, 'BADCOOKIE'],
      ['AAAA', 'example.com', 'client_error', 3, 'NXDOMAIN'],
    ],
  );
  assert.equal(recs[1].attributes?.['dns.header_rcode'], '7');
  const formerr = run(dnsModule.create(), [
    [0, QUERY_A, 1],
    [1, hex(`1234 8181 0001 0000 0000 0000 ${Q_EXAMPLE} 0001 0001`), 2],
  ]);
  assert.equal(formerr[0].status, 'client_error');
});

test('UPDATE opcode is logged with its zone and REFUSED is a server error', () => {
  const recs = run(dnsModule.create(), [
    [0, UPDATE, 10],
    [1, UPDATE_REFUSED, 20],
  ]);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].requestType, 'SOA');
  assert.equal(recs[0].endpoint, 'example.com');
  assert.equal(recs[0].attributes?.['dns.opcode'], 'UPDATE');
  assert.equal(recs[0].status, 'server_error');
  assert.equal(recs[0].responseCode, 5);
  // NOTIFY (opcode 4) also expects a response.
  const notify = hex(`0888 2000 0001 0000 0000 0000 ${Q_EXAMPLE} 0006 0001`);
  const notifyResp = hex(`0888 a400 0001 0000 0000 0000 ${Q_EXAMPLE} 0006 0001`);
  const n = run(dnsModule.create(), [
    [0, notify, 1],
    [1, notifyResp, 2],
  ]);
  assert.equal(n[0].attributes?.['dns.opcode'], 'NOTIFY');
  assert.equal(n[0].status, 'ok');
});

test('several outstanding queries pair by id and question, out of order', () => {
  const recs = run(dnsModule.create(), [
    [0, QUERY_A, 1],
    [0, QUERY_AAAA, 2],
    [0, QUERY_MX, 3],
    [1, RESP_AAAA_NX, 10],
    [1, RESP_MX_SERVFAIL, 20],
    [1, RESP_A, 30],
  ]);
  assert.deepEqual(
    recs.map((r) => [r.requestId, r.responseTimeUs! - r.requestTimeUs!]),
    [
      [0x1235, 8],
      [0x1236, 17],
      [0x1234, 29],
    ],
  );
  // Same id, other question: not paired with the pending query.
  const p = dnsModule.create();
  const other = run(p, [
    [0, QUERY_A, 1],
    [1, hex(`1234 8180 0001 0000 0000 0000 ${Q_EXAMPLE} 001c 0001`), 2],
  ]);
  assert.equal(other.length, 1);
  assert.equal(other[0].countsAsRequest, false);
  assert.equal(other[0].requestTimeUs, undefined);
  p.close(100);
  assert.equal(p.take()[0].status, 'timeout');
});

test('retransmitted query: one pair timed from the first query, the repeat counted as an unanswered request', () => {
  const p = dnsModule.create();
  const recs = run(p, [
    [0, QUERY_A, 1000],
    [0, QUERY_A, 2000],
    [1, RESP_A, 2100],
    [1, RESP_A, 2200],
  ]);
  assert.equal(recs.length, 3);
  assert.equal(recs[0].status, 'ok');
  assert.equal(recs[0].responseTimeUs! - recs[0].requestTimeUs!, 1100);
  assert.equal(recs[0].attributes?.['dns.retransmissions'], '1');
  assert.equal(recs[1].status, 'unknown');
  assert.equal(recs[1].countsAsRequest, true);
  assert.equal(recs[1].attributes?.['dns.retransmission'], 'true');
  assert.equal(recs[1].requestTimeUs, 2000);
  // The repeated response finds no pending query: logged, not a request.
  assert.equal(recs[2].countsAsRequest, false);
  assert.equal(recs.filter((r) => r.countsAsRequest).length, 2); // tshark: 2 queries
  assert.equal(recs.filter((r) => r.responseTimeUs !== undefined).length, 2); // tshark: 2 responses
});

test('TCP: length prefix, several messages per feed, split at every byte boundary', () => {
  const req = Buffer.concat([tcp(QUERY_A), tcp(QUERY_AAAA)]);
  const resp = Buffer.concat([tcp(RESP_A), tcp(RESP_AAAA_NX)]);
  const all = run(dnsModule.create(), [
    [0, req, 1],
    [1, resp, 2],
  ]);
  assert.deepEqual(
    all.map((r) => [r.requestId, r.status, r.attributes?.['dns.transport']]),
    [
      [0x1234, 'ok', 'tcp'],
      [0x1235, 'client_error', 'tcp'],
    ],
  );
  for (let i = 1; i < req.length; i++) {
    for (const j of [1, 2, 3, 17, tcp(RESP_A).length, resp.length - 1]) {
      const p = dnsModule.create();
      feedInTwo(p, 0, req, i, 1, 2);
      feedInTwo(p, 1, resp, j, 3, 4);
      const recs = p.take();
      assert.equal(recs.length, 2, `split ${i}/${j}`);
      assert.equal(recs[0].requestTimeUs, i >= tcp(QUERY_A).length ? 1 : 2);
      assert.equal(recs[0].responseTimeUs, j >= tcp(RESP_A).length ? 3 : 4);
      assert.equal(p.stats.bytesSkipped, 0);
    }
  }
});

test('TCP: capture starting mid-message resyncs at the next message', () => {
  const stream = Buffer.concat([tcp(QUERY_MX).subarray(7), tcp(QUERY_A), tcp(QUERY_AAAA)]);
  const p = dnsModule.create();
  p.feed(0, tcp(QUERY_MX).subarray(0, 9), 0); // decides TCP
  p.gap(0, 100);
  p.feed(0, stream, 1);
  p.feed(1, Buffer.concat([tcp(RESP_A), tcp(RESP_AAAA_NX)]), 2);
  const recs = p.take();
  assert.deepEqual(
    recs.map((r) => r.requestId),
    [0x1234, 0x1235],
  );
  assert.ok(p.stats.bytesSkipped > 0);
  // A fresh parser whose first bytes are mid-message still finds the boundary.
  const q = dnsModule.create();
  q.feed(0, Buffer.concat([Buffer.from([0x41, 0x42, 0x43]), tcp(QUERY_A)]), 1);
  q.feed(1, tcp(RESP_A), 2);
  assert.equal(q.take().length, 1);
});

test('gap drops the partial message; the next one pairs', () => {
  const p = dnsModule.create();
  p.feed(0, tcp(QUERY_A), 1);
  p.feed(1, tcp(RESP_A).subarray(0, 10), 2);
  p.gap(1, 30);
  p.feed(1, tcp(RESP_A), 3);
  const recs = p.take();
  assert.equal(recs.length, 1);
  assert.equal(recs[0].responseTimeUs, 3);
});

test('oversized TCP message: header and question logged, the rest skipped, buffer bounded', () => {
  const big = Buffer.concat([RESP_A.subarray(0, RESP_A.length), Buffer.alloc(3000)]);
  big.writeUInt16BE(1, 6);
  const p = dnsModule.create({ maxBufferBytes: 1024 });
  p.feed(0, tcp(QUERY_A), 1);
  const framed = tcp(big);
  for (let i = 0; i < framed.length; i += 500) p.feed(1, framed.subarray(i, i + 500), 2 + i);
  p.feed(0, tcp(QUERY_AAAA), 5000);
  p.feed(1, tcp(RESP_AAAA_NX), 5001);
  const recs = p.take();
  assert.equal(recs.length, 2);
  assert.equal(recs[0].requestId, 0x1234);
  assert.equal(recs[0].responseLength, big.length);
  assert.equal(recs[1].requestId, 0x1235);
});

test('timeouts through expire() and close()', () => {
  const p = dnsModule.create();
  p.feed(0, QUERY_A, 1_000);
  p.feed(0, QUERY_AAAA, 5_000_000);
  p.expire(3_000_000, 2_000_000);
  let recs = p.take();
  assert.equal(recs.length, 1);
  assert.equal(recs[0].status, 'timeout');
  assert.equal(recs[0].requestId, 0x1234);
  assert.equal(recs[0].countsAsRequest, true);
  p.close(6_000_000);
  recs = p.take();
  assert.deepEqual(
    recs.map((r) => [r.requestId, r.status]),
    [[0x1235, 'timeout']],
  );
});

test('detect: DNS yes, other protocols no', () => {
  assert.equal(dnsModule.detect(0, QUERY_A, 53), 'yes');
  assert.equal(dnsModule.detect(1, RESP_A, 53), 'yes');
  assert.equal(dnsModule.detect(0, tcp(QUERY_A), 53), 'yes');
  assert.equal(dnsModule.detect(0, Buffer.concat([tcp(QUERY_A), tcp(QUERY_AAAA)]), 53), 'yes');
  assert.equal(dnsModule.detect(0, tcp(RESP_A).subarray(0, 30), 53), 'maybe');
  const others: [string, Buffer][] = [
    ['http', Buffer.from('GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n')],
    [
      'tls client hello',
      hex(
        '16030100a5010000a10303' + '00'.repeat(32) + '00 0020 c02bc02fc02cc030cca9cca8c013c014009c009d002f0035000a 0100 0058 0000 0010 000e 00000b 6578616d706c652e636f6d',
      ),
    ],
    ['mysql greeting', hex('4a0000000a382e302e3333000800000035253f4c5e5d2c1d00ffffff0200ffdf1500000000000000000000')],
    ['redis inline', Buffer.from('PING\r\n')],
    ['redis resp', Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n')],
    ['kafka', hex('0000002a00120003000000010009636f6e73756d6572000000000000000000000000000000000000000000')],
    ['mqtt connect', hex('101000044d5154540402003c0004746573740000')],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [name, b] of others) {
    assert.equal(dnsModule.detect(0, b, 8080), 'no', name);
    assert.equal(dnsModule.detect(1, b, 8080), 'no', name);
  }
  const random = new Random(7);
  let yes = 0;
  for (let i = 0; i < 20000; i++) {
    const b = random.bytes(20 + random.int(200));
    if (dnsModule.detect(0, b, 1234) === 'yes') yes++;
  }
  assert.equal(yes, 0, 'random bytes never detected as DNS');
});

test('fuzz: 120,000 mutated messages, no exception, bounded buffers', () => {
  const seeds = [QUERY_A, RESP_A, QUERY_AAAA, RESP_AAAA_NX, QUERY_SOA_ROOT, RESP_BADCOOKIE, UPDATE, UPDATE_REFUSED];
  const random = new Random(12345);
  const max = 2048;
  let parser = dnsModule.create({ maxBufferBytes: max });
  let framedParser = dnsModule.create({ maxBufferBytes: max });
  for (let i = 0; i < 120_000; i++) {
    // Random section counts (header offsets 4 to 10), with up to 63 bytes of room behind.
    const m = mutate(random.pick(seeds), random, { length: { bytes: 2, at: [4, 6, 8, 10], pad: 64 }, randomMax: 80 });
    const d = random.int(2) as 0 | 1;
    parser.feed(d, m, i);
    const f = random.int(3) === 0 ? m : tcp(m);
    if (random.int(5) === 0 && f.length >= 2) f.writeUInt16BE(random.int(65536), 0); // a random TCP length prefix
    framedParser.feed(d, f, i);
    if (i % 1000 === 0) {
      parser.expire(i, 500);
      framedParser.expire(i, 500);
      parser.take();
      framedParser.take();
    }
    if (i % 20000 === 0) {
      parser.close(i);
      framedParser.close(i);
      parser = dnsModule.create({ maxBufferBytes: max });
      framedParser = dnsModule.create({ maxBufferBytes: max });
    }
    const sides = (framedParser as unknown as { sides: { buf: Buffer }[] }).sides;
    assert.ok(sides[0].buf.length <= max && sides[1].buf.length <= max);
  }
  parser.close(1e9);
  framedParser.close(1e9);
});

interface DnsOracle {
  requests: number;
  responses: number;
  status_counts: Record<string, number>;
  transactions: { endpoint: string; rcode: number; rt_s: number }[];
}

test('corpus: counts, status and response times equal the tshark oracle', (t) => {
  const dir = corpusDir();
  if (!dir) {
    t.skip(CORPUS_MISSING);
    return;
  }
  const folder = join(dir, 'dns');
  const files = [
    'arkime_dns-refused.pcap', 'arkime_dns-udp.pcap', 'arkime_dns-update-notimp.pcap', 'arkime_dns-wiresharkrepo.pcap',
    'cs_dns_lab.pcapng', 'cs_dns_query_nonexistent.pcapng', 'cs_dns_tcp.pcapng', 'deepflow_a-and-ns.pcap',
    'deepflow_dns-tcp-multi.pcap', 'deepflow_dns.pcap', 'deepflow_nxdomain.pcap', 'sv_dns-tcp-multirequest-buffer.pcap',
    'sv_dns-udp-double-request-response.pcap', 'tcpdump_dns-badcookie.pcap', 'tcpdump_edns-opts.pcap',
    'zeek_dns-dynamic-update.pcap', 'zeek_dns-long-connection.pcap',
  ];
  for (const f of files) {
    const path = join(folder, f);
    const oracle = (JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as { l7: { dns: DnsOracle } }).l7.dns;
    const flows = parseCapture(path, dnsModule);
    const recs = flows.flatMap((x) => x.records);
    for (const fl of flows) assert.equal(fl.parser.stats.parseErrors, 0, `${f} parse errors`);
    assert.equal(recs.filter((r) => r.countsAsRequest).length, oracle.requests, `${f} requests`);
    const answered = recs.filter((r) => r.responseTimeUs !== undefined);
    assert.equal(answered.length, oracle.responses, `${f} responses`);
    // Status counts: tshark counts the 4-bit header RCODE; we report the 12-bit RCODE when an OPT
    // record extends it (tcpdump_dns-badcookie: header 7 YXRRSET, with the OPT bits 23 BADCOOKIE;
    // both are errors). Compare on the header RCODE kept in `dns.header_rcode`.
    const ours: Record<number, number> = {};
    for (const r of answered) {
      const header = r.attributes?.['dns.header_rcode'] !== undefined ? Number(r.attributes['dns.header_rcode']) : r.responseCode!;
      ours[header] = (ours[header] ?? 0) + 1;
    }
    const theirs: Record<number, number> = {};
    for (const [k, v] of Object.entries(oracle.status_counts)) theirs[Number(k.split(' ')[0])] = v;
    assert.deepEqual(ours, theirs, `${f} status counts`);
    // Every transaction: same endpoint (tshark writes the root as <Root>, we write '.'), same
    // header RCODE and the same response time within 1 µs. Matched in order of the response.
    const paired = answered.filter((r) => r.requestTimeUs !== undefined).sort((a, b) => a.responseTimeUs! - b.responseTimeUs!);
    assert.equal(paired.length, oracle.transactions.length, `${f} transactions`);
    const tx = [...oracle.transactions];
    for (const r of paired) {
      const ep = `${r.requestType} ${r.endpoint === '.' ? '<Root>' : r.endpoint}`;
      const rt = r.responseTimeUs! - r.requestTimeUs!;
      const i = tx.findIndex((x) => x.endpoint === ep && Math.abs(x.rt_s * 1e6 - rt) <= 1);
      assert.ok(i >= 0, `${f}: ${ep} rt ${rt} µs in the oracle`);
      tx.splice(i, 1);
    }
    if (f === 'tcpdump_dns-badcookie.pcap') {
      const bad = answered.find((r) => r.responseCode === 23);
      assert.equal(bad?.status, 'server_error');
      assert.equal(bad?.responseException, 'BADCOOKIE');
    }
    if (f === 'arkime_dns-udp.pcap') assert.equal(recs.filter((r) => r.status === 'timeout').length, 1);
  }
});
