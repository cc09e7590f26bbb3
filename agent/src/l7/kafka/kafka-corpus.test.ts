import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir } from '../../testing/corpus';
import { parseCapture } from '../../testing/l7-corpus';
import { KafkaParser, kafkaModule } from './kafka-parser';

interface KafkaOracle {
  requests: number;
  responses: number;
  status_counts: Record<string, number>;
  api_counts: Record<string, number>;
  rt_rule: string;
  transactions: { endpoint: string; correlation_id: string; rt_s: number; error: boolean }[];
}

/**
 * Where we legitimately see more than tshark 4.0. Its Kafka dissector supports Fetch v0-11 and
 * Produce v0-8 only: a newer request is shown as "Malformed" and its response gets no
 * `kafka.response_key` (tshark needs the request to dissect a response), so the oracle counts the
 * request but neither the response nor the transaction. We parse those versions and pair them.
 * Responses whose request came before the capture started ("Request missing" in tshark) are
 * counted by us as orphans, and neither side counts them as responses.
 */
interface Expected {
  extraPairs: { api: string; correlationId: number; rtUs: number; topic: string }[];
  orphans: number;
}

const CAPTURES: Record<string, Expected> = {
  'arkime_kafka.pcap': { extraPairs: [], orphans: 0 },
  'deepflow_00-produce-v2.pcap': { extraPairs: [], orphans: 0 },
  'deepflow_00-produce-v7-sw8.pcap': { extraPairs: [], orphans: 0 },
  // "tshark sees only the request": Fetch v12 (flexible, tshark <= v11) frame 1, its 21-byte
  // response (correlation 15603, throttle 0, error 0, session 0x2f2671c5, no topics) in frame 2.
  'deepflow_01-fetch-v12-ok.pcap': {
    extraPairs: [{ api: 'Fetch', correlationId: 15603, rtUs: 499_610, topic: 'zqy-test' }],
    orphans: 0,
  },
  'deepflow_13-leave-group-v4.pcap': { extraPairs: [], orphans: 0 },
  'deepflow_18-api-versions-v3.pcap': { extraPairs: [], orphans: 0 },
  // Fetch v13 (topic ids, no names) frame 1 answered in frame 9.
  'deepflow_mixed-with-unsupported.pcap': {
    extraPairs: [{ api: 'Fetch', correlationId: 15551976, rtUs: 501_156, topic: 'Fetch' }],
    orphans: 0,
  },
  // Produce v9 frame 36 answered in frame 37; frames 5, 6, 7 answer requests sent before the
  // capture (correlation 131, 140, 141). Frames 10 and 18 repeat 9 and 17 (same sequence
  // numbers): the harness trims them as retransmissions, tshark does not count them either.
  'ndpi_kafka.pcapng': {
    extraPairs: [{ api: 'Produce', correlationId: 6, rtUs: 19_228.524, topic: 'sampleTopic' }],
    orphans: 3,
  },
};

test('corpus: kafka captures against the tshark oracle', (t) => {
  const dir = corpusDir();
  if (!dir) {
    t.skip('corpus not found');
    return;
  }
  for (const [file, expected] of Object.entries(CAPTURES)) {
    const path = join(dir, 'kafka', file);
    if (!existsSync(path)) {
      t.diagnostic(`missing ${file}`);
      continue;
    }
    const oracle = (JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as { l7: { kafka: KafkaOracle } }).l7.kafka;
    assert.match(oracle.rt_rule, /request_frame/);
    const flows = parseCapture(path, kafkaModule, {}, [36333]);
    const records = flows.flatMap((f) => f.records);
    const orphans = flows.reduce((n, f) => n + (f.parser as KafkaParser).orphanResponses, 0);
    const requests = records.filter((r) => r.countsAsRequest);
    const answered = records.filter((r) => r.responseTimeUs !== undefined);
    const extra = expected.extraPairs.length;

    // Requests and the API names tshark gives them.
    assert.equal(requests.length, oracle.requests, `${file}: requests`);
    const apiCounts: Record<string, number> = {};
    for (const r of requests) apiCounts[r.requestType] = (apiCounts[r.requestType] ?? 0) + 1;
    assert.deepEqual(apiCounts, oracle.api_counts, `${file}: api counts`);

    // Responses: tshark's plus the ones it could not dissect; orphans are counted apart.
    assert.equal(answered.length, oracle.responses + extra, `${file}: responses`);
    assert.equal(orphans, expected.orphans, `${file}: responses without request`);
    assert.equal(records.filter((r) => r.status === 'timeout').length, oracle.requests - oracle.responses - extra, `${file}: unanswered`);

    // Status counts (no Kafka error codes in the corpus).
    const status: Record<string, number> = {};
    for (const r of answered) status[r.status] = (status[r.status] ?? 0) + 1;
    const expectedStatus = { ...oracle.status_counts };
    if (extra > 0) expectedStatus.ok = (expectedStatus.ok ?? 0) + extra;
    assert.deepEqual(status, expectedStatus, `${file}: status counts`);

    // Response times: response frame − request frame matched by correlation id, within 1 µs.
    for (const tx of oracle.transactions) {
      const r = answered.find((x) => x.requestId === Number(tx.correlation_id) && x.requestType === tx.endpoint);
      assert.ok(r, `${file}: transaction ${tx.endpoint} ${tx.correlation_id}`);
      const rt = (r.responseTimeUs ?? 0) - (r.requestTimeUs ?? 0);
      assert.ok(Math.abs(rt - tx.rt_s * 1e6) <= 1, `${file}: ${tx.endpoint} ${tx.correlation_id} rt ${rt} vs ${tx.rt_s}`);
      assert.equal(r.status === 'server_error', tx.error);
    }
    for (const x of expected.extraPairs) {
      const r = answered.find((y) => y.requestId === x.correlationId && y.requestType === x.api);
      assert.ok(r, `${file}: extra pair ${x.api} ${x.correlationId}`);
      assert.ok(Math.abs((r.responseTimeUs ?? 0) - (r.requestTimeUs ?? 0) - x.rtUs) <= 1, `${file}: extra pair rt`);
      assert.equal(r.endpoint, x.topic);
      assert.equal(r.status, 'ok');
    }
    for (const f of flows) {
      assert.equal(f.parser.stats.bytesSkipped, 0, `${file}: bytes skipped`);
      assert.equal(f.parser.stats.parseErrors, 0, `${file}: parse errors`);
    }
  }
});

test('corpus: topics, partitions and versions from the bodies', (t) => {
  const dir = corpusDir();
  if (!dir) {
    t.skip('corpus not found');
    return;
  }
  const pick = (file: string): string[] =>
    parseCapture(join(dir, 'kafka', file), kafkaModule, {}, [36333])
      .flatMap((f) => f.records)
      .map((r) => `${r.requestType} v${r.version} ${r.endpoint} ${r.requestResource} ${r.status}`);
  assert.deepEqual(pick('arkime_kafka.pcap'), [
    'ListOffsets v0 integration.test.topic1475007069352 integration.test.topic1475007069352-0 timeout',
  ]);
  assert.deepEqual(pick('deepflow_00-produce-v7-sw8.pcap'), ['Produce v7 quickstart-events quickstart-events-0 ok']);
  assert.deepEqual(pick('deepflow_01-fetch-v12-ok.pcap'), ['Fetch v12 zqy-test zqy-test-0 ok']);
  assert.deepEqual(pick('deepflow_13-leave-group-v4.pcap'), ['LeaveGroup v4 LeaveGroup  ok']);
  assert.deepEqual(pick('deepflow_mixed-with-unsupported.pcap'), ['Fetch v13 Fetch  ok', 'OffsetCommit v8 orders orders-0 ok', 'Heartbeat v4 Heartbeat  ok']);
});
