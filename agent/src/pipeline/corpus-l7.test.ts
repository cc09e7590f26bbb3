/**
 * The whole pipeline (capture → flows → inference → parsers → store) against tshark's L7 view:
 * every capture of the shared corpus whose oracle has request/response counts is replayed into a
 * real embedded ClickHouse, and the request log read back must match the oracle's requests,
 * responses, errors, status codes and per-request response times (within 1 µs). Where our
 * definitions differ from tshark's, KNOWN_DIFFERENCES names the capture, the exact difference
 * and why; the test fails if a difference appears, changes or goes away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChdbStore } from '../store/chdb-store';
import { CORPUS_MISSING, corpusCaptures, corpusDir, CorpusCapture } from '../testing/corpus';
import { compareTls, compareWithOracle, ORACLE_PROTOCOLS, OracleL7, OracleTls, StoredRequest } from '../testing/l7-oracle';
import { replay } from './replay';

const TLS_KEYS = 'tshark decrypts this TLS capture with the key log stored beside it; from packets we see TLS only (plaintext comes from the OpenSSL uprobes of live capture).';
const MYSQL_AUTH_PACKET = 'tshark reads the client\'s authentication continuation packet of the login exchange as a command';

/**
 * capture → the differences we expect, each with the reason, checked by hand against the
 * packets (frame numbers are tshark's).
 */
const KNOWN_DIFFERENCES: Record<string, { diffs: string[]; why: string }> = {
  'dns/tcpdump_dns-badcookie.pcap': {
    diffs: ['dns codes {"0":1,"23":1} (oracle {"0":1,"7":1})'],
    why: "EDNS extended RCODE: the header's four bits (7) and the OPT record's upper bits (1) make BADCOOKIE (23), which we log; the oracle's status counts use the header bits (its edns_extended_rcode_counts has the 23).",
  },
  'http1/zeek_http-bro.org.pcap': {
    diffs: ['http responses 31 (oracle 30)', 'http codes {"200":31} (oracle {"200":30})', 'http timed 31 (oracle 30)'],
    why: 'Frame 179 follows a 7,240-byte hole inside the Content-Length body answering GET /js/jquery.cycle.all.min.js (frame 58). The body length tells where the message ends, so we complete it at frame 207 (153,831 µs); tshark cannot reassemble the PDU and drops it.',
  },
  'http1/zeek_http-methods.pcap': {
    diffs: ['http requests 26 (oracle 27)', 'http timed 26 (oracle 27)'],
    why: 'Frame 34 is "OPTIONS\\nHost: …" — a bare method with no target or version, which is no request line (RFC 9112 §3). We log the server\'s 400 (frame 36) as a response without request; tshark makes it a request with an empty URI. The other 22 responses tshark cannot pair (unknown methods) are response-only rows for us as well.',
  },
  'http2/wireshark_http2-data-reassembly.pcap': {
    diffs: ['http2 requests 0 (oracle 1)', 'http2 responses 0 (oracle 1)', 'http2 codes {} (oracle {"200":1})', 'http2 timed 0 (oracle 1)'],
    why: TLS_KEYS,
  },
  'kafka/deepflow_01-fetch-v12-ok.pcap': {
    diffs: ['kafka responses 1 (oracle 0)', 'kafka timed 1 (oracle 0)'],
    why: 'tshark 4.0 dissects only the Fetch v12 request (corpus README); the response frame carries the same correlation id, and we pair it (499,610 µs).',
  },
  'kafka/deepflow_mixed-with-unsupported.pcap': {
    diffs: ['kafka responses 3 (oracle 2)', 'kafka timed 3 (oracle 2)'],
    why: 'tshark does not dissect the Fetch response (long poll, 501,156 µs after its request); its correlation id matches the Fetch request and we pair it.',
  },
  'kafka/ndpi_kafka.pcapng': {
    diffs: ['kafka responses 11 (oracle 10)', 'kafka timed 11 (oracle 10)'],
    why: 'tshark leaves the last Produce response (2023-12-21, 19,229 µs) undissected; it carries the Produce request\'s correlation id. The three requests without an answer end the capture for both.',
  },
  'mysql/ndpi_mysql.pcapng': {
    diffs: ['tls handshakes 0 (oracle 1)'],
    why: 'MySQL switches to TLS inside its login (SSL request): the flow stays MySQL for us and its login is logged; tshark also counts the TLS handshake inside it.',
  },
  'mysql/zeek_mysql-tls-12-amazon-rds.pcap': {
    diffs: ['tls handshakes 0 (oracle 1)'],
    why: 'As ndpi_mysql: TLS started from the MySQL login.',
  },
  'mysql/zeek_mysql-caching_sha2_password.pcap': {
    diffs: ['mysql requests 8 (oracle 9)'],
    why: `Frame 22: ${MYSQL_AUTH_PACKET} ("Unknown (202)", the caching_sha2 fast-auth exchange); we read it as part of the login, whose 4,826 µs matches the oracle's login time.`,
  },
  'mysql/zeek_mysql8-navicat-login-failed.pcap': {
    diffs: ['mysql requests 0 (oracle 1)'],
    why: `Frame 14: ${MYSQL_AUTH_PACKET} ("Unknown (125)"); the login fails with 1045 at frame 16, which we log as the login's result.`,
  },
  'redis/tcpdump_resp_3_malicious.pcap': {
    diffs: ['redis requests 21 (oracle 22)', 'redis timed 21 (oracle 20)'],
    why: 'Frame 57 (*10000000000000000000000000000000000) is answered by "-ERR Protocol error" in frame 59: we pair them, tshark counts an unanswered request and a response without request. Frame 67 (*-20) is a null array, which Redis does not run as a command (no reply): we do not count it, tshark counts it unanswered.',
  },
  'redis/zeek_redis-pubsub.pcap': {
    diffs: ['redis responses 7 (oracle 10)'],
    why: 'Three server values are pub/sub pushes (message), not replies (SPEC §4); tshark counts every server value as a response.',
  },
  'tcp/arkime_no-syn-ack.pcap': {
    diffs: ['http responses 1 (oracle 0)', 'http codes {"200":1} (oracle {})', 'http timed 1 (oracle 0)'],
    why: 'The capture ends 1,460 bytes into the body of the 200 answering frame 8: we log the response from its head (frame 10, 9,735 µs); tshark counts no message it could not reassemble.',
  },
  'tcp/arkime_wireshark-retrans.pcap': {
    diffs: ['http responses 4 (oracle 6)', 'http codes {"200":4} (oracle {"200":6})'],
    why: 'Frames 42 and 86 retransmit responses already seen (frames 41 and 85); retransmitted bytes are parsed once for us, tshark dissects them again as responses without request.',
  },
  'tls/zeek_tls-1.2-stream-keylog.pcap': {
    diffs: ['http requests 0 (oracle 16)', 'http responses 0 (oracle 16)', 'http codes {} (oracle {"200":14,"304":2})', 'http timed 0 (oracle 16)'],
    why: TLS_KEYS,
  },
  'tls/zeek_tls12-decryption.pcap': {
    diffs: ['http requests 0 (oracle 1)', 'http responses 0 (oracle 1)', 'http codes {} (oracle {"301":1})', 'http timed 0 (oracle 1)'],
    why: TLS_KEYS,
  },
};

async function storedRequests(c: CorpusCapture): Promise<StoredRequest[]> {
  const dir = mkdtempSync(join(tmpdir(), 'metaflow-corpus-l7-'));
  const store = new ChdbStore(dir);
  try {
    const result = await replay({ input: c.path, store, host: 'test' });
    assert.equal(result.captureError, undefined, `${c.name} read without a format error`);
    return await store.query<StoredRequest>(
      `SELECT l7_protocol, request_type, request_domain, response_status, response_code, response_duration,
              attributes['counts_as_request'] AS counts_as_request, type != 'response' AS has_request,
              type != 'request' AS has_response, attributes['http.status_code'] AS http_status
       FROM flow_log.l7_flow_log`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const dir = corpusDir();
const captures = dir ? corpusCaptures(dir).filter((c) => c.oracle.l7 && Object.keys(c.oracle.l7).some((p) => p in ORACLE_PROTOCOLS || p === 'tls')) : [];

test('request logs of the corpus equal the tshark oracle', { skip: dir ? false : CORPUS_MISSING }, async (t) => {
  const report: string[] = [];
  for (const c of captures) {
    await t.test(c.name, async () => {
      const rows = await storedRequests(c);
      const diffs: string[] = [];
      for (const [protocol, oracle] of Object.entries(c.oracle.l7 ?? {})) {
        if (protocol in ORACLE_PROTOCOLS) diffs.push(...compareWithOracle(protocol, oracle as OracleL7, rows));
        if (protocol === 'tls') diffs.push(...compareTls(oracle as OracleTls, rows));
      }
      if (process.env.METAFLOW_L7_REPORT && diffs.length) report.push(`${c.name}: ${diffs.join('; ')}`);
      assert.deepEqual(diffs, KNOWN_DIFFERENCES[c.name]?.diffs ?? []);
    });
  }
  if (report.length) console.log(report.join('\n'));
});
