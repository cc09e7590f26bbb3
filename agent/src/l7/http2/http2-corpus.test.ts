/**
 * The HTTP/2 captures of the shared corpus against their tshark oracles (`l7.http2`): requests,
 * responses, per-:status counts and response times (oracle rt_rule: frame delta from the first
 * HEADERS with :method — or the HTTP/1.1 Upgrade request — to the first HEADERS with :status).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir } from '../../testing/corpus';
import { parseCapture } from '../../testing/l7-corpus';
import { http2Module } from './http2-parser';

interface Tx {
  h2_stream: number;
  status: number;
  grpc_status: string | null;
  rt_s: number;
}
interface H2Oracle {
  requests: number;
  responses: number;
  status_counts: Record<string, number>;
  transactions: Tx[];
}

/** Decode-as ports of oracle_hints.tsv (the server side of captures without a handshake). */
const HINT_PORTS: Record<string, number> = {
  'ndpi_http2.pcapng': 29518,
  'deepflow_grpc-unary.pcap': 30035,
  'deepflow_grpc-server-stream.pcap': 9001,
  'deepflow_grpc-service-name.pcap': 38888,
  'deepflow_http2-multi.pcap': 3550,
  'deepflow_h2c_ascii.pcap': 7070,
  'wireshark_http2-data-reassembly.pcap': 8443,
};

const CAPTURES = [
  'deepflow_grpc-server-stream.pcap',
  'deepflow_grpc-service-name.pcap',
  'deepflow_grpc-unary.pcap',
  'deepflow_h2c_ascii.pcap',
  'deepflow_http2-multi.pcap',
  'ndpi_http2.pcapng',
  'sv_dns-over-http2.pcap',
  'sv_http2-authority-mismatch.pcap',
  'sv_http2-continuation.pcap',
  'sv_http2-deflate.pcap',
  'sv_http2-keywords2-h2c-upgrade.pcap',
  'sv_http2-range.pcap',
  'sv_http2-userinfo-authority.pcap',
  'sv_http2_multiple_headers.pcap',
];

for (const name of CAPTURES) {
  test(`corpus http2/${name}`, (t) => {
    const dir = corpusDir();
    if (!dir || !existsSync(join(dir, 'http2', name))) return t.skip('corpus not found');
    const path = join(dir, 'http2', name);
    const oracle = (JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as { l7: { http2: H2Oracle } }).l7.http2;
    const port = HINT_PORTS[name];
    const records = parseCapture(path, http2Module, {}, port ? [port] : []).flatMap((f) => f.records);
    const requests = records.filter((r) => r.countsAsRequest);
    const responses = records.filter((r) => r.responseTimeUs !== undefined);
    assert.equal(requests.length, oracle.requests, 'requests');
    assert.equal(responses.length, oracle.responses, 'responses');
    // per-:status counts (gRPC records keep :status as an attribute, responseCode is grpc-status)
    const counts: Record<string, number> = {};
    for (const r of responses) {
      const code = r.protocol === 'grpc' ? r.attributes?.['http.status_code'] : String(r.responseCode);
      counts[code ?? '?'] = (counts[code ?? '?'] ?? 0) + 1;
    }
    assert.deepEqual(counts, oracle.status_counts);
    // response times, matched by order of request time and stream id
    const ours = responses
      .filter((r) => r.requestTimeUs !== undefined)
      .sort((a, b) => (a.requestTimeUs as number) - (b.requestTimeUs as number) || (a.requestId ?? 0) - (b.requestId ?? 0));
    const theirs = [...oracle.transactions].sort((a, b) => a.h2_stream - b.h2_stream);
    assert.equal(ours.length, theirs.length);
    const rtOurs = ours.map((r) => ((r.responseTimeUs as number) - (r.requestTimeUs as number)) / 1e6).sort();
    const rtTheirs = theirs.map((x) => x.rt_s).sort();
    for (let i = 0; i < rtOurs.length; i++) assert.ok(Math.abs(rtOurs[i] - rtTheirs[i]) <= 1.0001e-6, `rt ${rtOurs[i]} vs ${rtTheirs[i]}`);
    // gRPC: grpc-status from the trailers where tshark decoded one
    for (const x of theirs) {
      const r = records.find((q) => q.requestId === x.h2_stream && q.protocol === 'grpc');
      if (x.grpc_status !== null) assert.equal(r?.responseCode, Number(x.grpc_status));
    }
    for (const r of records) assert.equal(r.protocol, name.includes('grpc') || name.includes('h2c_ascii') ? 'grpc' : 'http2');
  });
}

test('corpus http2/wireshark_http2-data-reassembly.pcap: HTTP/2 inside TLS cannot be read', (t) => {
  const dir = corpusDir();
  if (!dir) return t.skip('corpus not found');
  const path = join(dir, 'http2', 'wireshark_http2-data-reassembly.pcap');
  if (!existsSync(path)) return t.skip('corpus not found');
  // tshark decrypts it with the key log (1 request, 1 response); we see only TLS records
  const withPort = parseCapture(path, http2Module, {}, [8443]);
  assert.equal(withPort.flatMap((f) => f.records).length, 0);
  const byContent = parseCapture(path, http2Module);
  assert.equal(byContent.flatMap((f) => f.records).length, 0);
  assert.equal(byContent.length, 0, 'detect() says no to the TLS flow');
});
