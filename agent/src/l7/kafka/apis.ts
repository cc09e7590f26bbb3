/**
 * Per-API knowledge: names, version ranges, the first flexible version (which selects request
 * header v2 / response header v1 and compact encodings) and, for the APIs we dissect, walks of
 * the request and response bodies down to topic names, partition indexes and error codes only.
 * Every walk stops quietly when the reader fails (truncated or malformed body): what was found
 * before that point is kept.
 */
import { KafkaReader } from './primitives';

export interface RequestInfo {
  topic?: string;
  partition?: number;
  /** Produce `acks` (0 = no response expected). */
  acks?: number;
  group?: string;
}

export interface ResponseInfo {
  /** First non-zero error code met (top-level or per topic/partition/member), else 0. */
  errorCode: number;
  topic?: string;
  partition?: number;
}

type RequestWalk = (r: KafkaReader, v: number, f: boolean, out: RequestInfo) => void;
type ResponseWalk = (r: KafkaReader, v: number, f: boolean, out: ResponseInfo) => void;

interface ApiSpec {
  name: string;
  /** Highest version we accept as plausible. */
  maxVersion: number;
  /** First flexible version, -1 when the API has none. */
  flexibleFrom: number;
  request?: RequestWalk;
  response?: ResponseWalk;
}

function noteError(out: ResponseInfo, code: number): void {
  if (code !== 0 && out.errorCode === 0) out.errorCode = code;
}

function noteTopic(out: ResponseInfo, topic: string, partition?: number): void {
  if (out.topic === undefined && topic !== '') {
    out.topic = topic;
    out.partition = partition;
  }
}

function skipInt32Array(r: KafkaReader, f: boolean): void {
  r.skip(r.arrayLength(f, 4) * 4);
}

/** Reads the first topic's name (or skips its id) and its first partition index. */
function firstTopicPartition(r: KafkaReader, f: boolean, out: RequestInfo, topicId: boolean, partitionsAsInts = true): void {
  if (r.arrayLength(f, 2) === 0) return;
  if (topicId) r.skip(16);
  else out.topic = r.str(f);
  if (!r.ok || !partitionsAsInts) return;
  if (r.arrayLength(f, 4) > 0) {
    const p = r.int32();
    if (r.ok) out.partition = p;
  }
}

// ---- request walks ----

const produceRequest: RequestWalk = (r, v, f, out) => {
  if (v >= 3) r.str(f); // transactional_id
  const acks = r.int16();
  if (!r.ok) return;
  out.acks = acks;
  r.int32(); // timeout
  firstTopicPartition(r, f, out, v >= 13);
};

const fetchRequest: RequestWalk = (r, v, f, out) => {
  if (v < 15) r.int32(); // replica_id
  r.skip(8); // max_wait_ms, min_bytes
  if (v >= 3) r.int32(); // max_bytes
  if (v >= 4) r.int8(); // isolation_level
  if (v >= 7) r.skip(8); // session_id, session_epoch
  firstTopicPartition(r, f, out, v >= 13);
};

const listOffsetsRequest: RequestWalk = (r, v, f, out) => {
  r.int32(); // replica_id
  if (v >= 2) r.int8(); // isolation_level
  firstTopicPartition(r, f, out, false);
};

const metadataRequest: RequestWalk = (r, v, f, out) => {
  if (r.arrayLength(f, 2) === 0) return;
  if (v >= 10) r.skip(16); // topic_id
  const name = r.str(f);
  if (r.ok && name !== '') out.topic = name;
};

const offsetCommitRequest: RequestWalk = (r, v, f, out) => {
  out.group = r.str(f);
  if (v >= 1) {
    r.int32(); // generation_id
    r.str(f); // member_id
  }
  if (v >= 7) r.str(f); // group_instance_id
  if (v >= 2 && v <= 4) r.skip(8); // retention_time_ms
  firstTopicPartition(r, f, out, v >= 10);
};

const offsetFetchRequest: RequestWalk = (r, v, f, out) => {
  if (v < 8) {
    out.group = r.str(f);
    firstTopicPartition(r, f, out, false);
    return;
  }
  if (r.arrayLength(f, 2) === 0) return; // groups
  out.group = r.str(f);
  if (v >= 9) {
    r.str(f); // member_id
    r.int32(); // member_epoch
  }
  firstTopicPartition(r, f, out, v >= 10);
};

const findCoordinatorRequest: RequestWalk = (r, v, f, out) => {
  if (v < 4) {
    out.group = r.str(f);
    return;
  }
  r.int8(); // key_type
  if (r.arrayLength(f, 1) > 0) out.group = r.str(f);
};

const groupRequest: RequestWalk = (r, _v, f, out) => {
  out.group = r.str(f);
};

// ---- response walks ----

/** Reads an int16 error code and notes it; false when the reader failed (the walk should stop). */
function readError(r: KafkaReader, out: ResponseInfo): boolean {
  const code = r.int16();
  if (r.ok) noteError(out, code);
  return r.ok;
}

/**
 * One API's topics → partitions array: each topic is a name (or, from `topicIdFrom`, a 16-byte
 * id) then its partitions, each with its fields up to its error code (`head`), then the rest of
 * its fields (`tail`) and tagged fields; the topic ends with tagged fields too.
 */
interface TopicsSpec {
  /** First version whose topics carry an id instead of a name, -1 for none. */
  topicIdFrom: number;
  /** Least bytes of a partition entry. */
  minPartition: number;
  /** Reads a partition's fields up to its error code; gives [partition_index, error_code]. By default the two in that order. */
  head?: (r: KafkaReader, v: number, f: boolean) => [number, number];
  /** Skips the partition's fields after its error code, before its tagged fields. */
  tail?: (r: KafkaReader, v: number, f: boolean) => void;
}

function indexAndCode(r: KafkaReader): [number, number] {
  const index = r.int32();
  return [index, r.int16()];
}

/** Walks a topics array per `spec`, noting the first named topic with a partition and the first error. */
function walkTopics(r: KafkaReader, v: number, f: boolean, out: ResponseInfo, spec: TopicsSpec): void {
  const topics = r.arrayLength(f, 2);
  for (let t = 0; t < topics && r.ok; t++) {
    let name = '';
    if (spec.topicIdFrom >= 0 && v >= spec.topicIdFrom) r.skip(16);
    else name = r.str(f);
    const parts = r.arrayLength(f, spec.minPartition);
    for (let p = 0; p < parts && r.ok; p++) {
      const [index, code] = (spec.head ?? indexAndCode)(r, v, f);
      if (!r.ok) return;
      noteTopic(out, name, index);
      noteError(out, code);
      spec.tail?.(r, v, f);
      r.taggedFields(f);
    }
    r.taggedFields(f);
  }
}

/** A response of fields read by `before` (throttle time, top-level error…), then a topics array per `spec`. */
function topicsResponse(spec: TopicsSpec, before?: ResponseWalk): ResponseWalk {
  return (r, v, f, out) => {
    before?.(r, v, f, out);
    walkTopics(r, v, f, out, spec);
  };
}

/** Skips one int64 field for each of `fromVersions` that `v` has reached. */
function skipInt64s(r: KafkaReader, v: number, fromVersions: readonly number[]): void {
  for (const from of fromVersions) if (v >= from) r.skip(8);
}

/** Skips an array whose elements (at least `minElement` bytes) are read by `element`, each followed by tagged fields. */
function skipArray(r: KafkaReader, f: boolean, minElement: number, element: () => void): void {
  const n = r.arrayLength(f, minElement);
  for (let i = 0; i < n && r.ok; i++) {
    element();
    r.taggedFields(f);
  }
}

const produceResponse = topicsResponse({
  topicIdFrom: 13,
  minPartition: 6,
  tail: (r, v, f) => {
    skipInt64s(r, v, [0, 2, 5]); // base_offset, log_append_time_ms, log_start_offset
    if (v < 8) return;
    // record_errors: batch_index, batch_index_error_message
    skipArray(r, f, 4, () => {
      r.int32();
      r.str(f);
    });
    r.str(f); // error_message
  },
});

const fetchResponse = topicsResponse(
  {
    topicIdFrom: 13,
    minPartition: 6,
    tail: (r, v, f) => {
      skipInt64s(r, v, [0, 4, 5]); // high_watermark, last_stable_offset, log_start_offset
      if (v >= 4) skipArray(r, f, 16, () => r.skip(16)); // aborted_transactions: producer_id, first_offset
      if (v >= 11) r.int32(); // preferred_read_replica
      r.skipBytes(f); // records
    },
  },
  (r, v, _f, out) => {
    if (v >= 1) r.int32(); // throttle_time_ms
    if (v >= 7) {
      noteError(out, r.int16());
      r.int32(); // session_id
    }
  },
);

const listOffsetsResponse = topicsResponse(
  {
    topicIdFrom: -1,
    minPartition: 6,
    tail: (r, v, f) => {
      if (v === 0) r.skip(r.arrayLength(f, 8) * 8); // old_style_offsets
      else r.skip(16); // timestamp, offset
      if (v >= 4) r.int32(); // leader_epoch
    },
  },
  (r, v) => {
    if (v >= 2) r.int32();
  },
);

const metadataResponse: ResponseWalk = (r, v, f, out) => {
  if (v >= 3) r.int32();
  const brokers = r.arrayLength(f, 8);
  for (let b = 0; b < brokers && r.ok; b++) {
    r.int32();
    r.str(f);
    r.int32();
    if (v >= 1) r.str(f); // rack
    r.taggedFields(f);
  }
  if (v >= 2) r.str(f); // cluster_id
  if (v >= 1) r.int32(); // controller_id
  const topics = r.arrayLength(f, 4);
  for (let t = 0; t < topics && r.ok; t++) {
    const code = r.int16();
    const name = r.str(f);
    if (!r.ok) return;
    noteError(out, code);
    noteTopic(out, name);
    if (v >= 10) r.skip(16);
    if (v >= 1) r.int8(); // is_internal
    const parts = r.arrayLength(f, 10);
    for (let p = 0; p < parts && r.ok; p++) {
      noteError(out, r.int16());
      r.skip(8); // partition_index, leader_id
      if (v >= 7) r.int32(); // leader_epoch
      skipInt32Array(r, f); // replica_nodes
      skipInt32Array(r, f); // isr_nodes
      if (v >= 5) skipInt32Array(r, f); // offline_replicas
      r.taggedFields(f);
    }
    if (v >= 8) r.int32(); // topic_authorized_operations
    r.taggedFields(f);
  }
  if (v >= 8 && v <= 10) r.int32(); // cluster_authorized_operations
  if (v >= 13) readError(r, out);
};

const offsetCommitResponse = topicsResponse({ topicIdFrom: 10, minPartition: 6 }, (r, v) => {
  if (v >= 3) r.int32();
});

const OFFSET_FETCH_TOPICS: TopicsSpec = {
  topicIdFrom: 10,
  minPartition: 14,
  head: (r, v, f) => {
    const index = r.int32();
    r.skip(8); // committed_offset
    if (v >= 5) r.int32(); // committed_leader_epoch
    r.str(f); // metadata
    return [index, r.int16()];
  },
};

const offsetFetchResponse: ResponseWalk = (r, v, f, out) => {
  if (v >= 3) r.int32();
  if (v < 8) {
    walkTopics(r, v, f, out, OFFSET_FETCH_TOPICS);
    if (v >= 2) readError(r, out);
    return;
  }
  const groups = r.arrayLength(f, 4);
  for (let g = 0; g < groups && r.ok; g++) {
    r.str(f); // group_id
    walkTopics(r, v, f, out, OFFSET_FETCH_TOPICS);
    if (!readError(r, out)) return;
    r.taggedFields(f);
  }
};

const findCoordinatorResponse: ResponseWalk = (r, v, f, out) => {
  if (v >= 1) r.int32();
  if (v < 4) {
    readError(r, out);
    return;
  }
  const n = r.arrayLength(f, 12);
  for (let i = 0; i < n && r.ok; i++) {
    r.str(f); // key
    r.int32();
    r.str(f); // host
    r.int32();
    if (!readError(r, out)) return;
    r.str(f); // error_message
    r.taggedFields(f);
  }
};

/** Responses whose error code follows an optional throttle_time_ms (from version `throttleFrom`). */
function topLevelError(throttleFrom: number): ResponseWalk {
  return (r, v, _f, out) => {
    if (throttleFrom >= 0 && v >= throttleFrom) r.int32();
    readError(r, out);
  };
}

const leaveGroupResponse: ResponseWalk = (r, v, f, out) => {
  if (v >= 1) r.int32();
  if (!readError(r, out) || v < 3) return;
  const members = r.arrayLength(f, 4);
  for (let m = 0; m < members && r.ok; m++) {
    r.str(f); // member_id
    r.str(f); // group_instance_id
    if (!readError(r, out)) return;
    r.taggedFields(f);
  }
};

const API_NAMES = [
  'Produce', 'Fetch', 'ListOffsets', 'Metadata', 'LeaderAndIsr', 'StopReplica', 'UpdateMetadata', 'ControlledShutdown',
  'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup', 'Heartbeat', 'LeaveGroup', 'SyncGroup', 'DescribeGroups',
  'ListGroups', 'SaslHandshake', 'ApiVersions', 'CreateTopics', 'DeleteTopics', 'DeleteRecords', 'InitProducerId',
  'OffsetForLeaderEpoch', 'AddPartitionsToTxn', 'AddOffsetsToTxn', 'EndTxn', 'WriteTxnMarkers', 'TxnOffsetCommit',
  'DescribeAcls', 'CreateAcls', 'DeleteAcls', 'DescribeConfigs', 'AlterConfigs', 'AlterReplicaLogDirs', 'DescribeLogDirs',
  'SaslAuthenticate', 'CreatePartitions', 'CreateDelegationToken', 'RenewDelegationToken', 'ExpireDelegationToken',
  'DescribeDelegationToken', 'DeleteGroups', 'ElectLeaders', 'IncrementalAlterConfigs', 'AlterPartitionReassignments',
  'ListPartitionReassignments', 'OffsetDelete', 'DescribeClientQuotas', 'AlterClientQuotas', 'DescribeUserScramCredentials',
  'AlterUserScramCredentials', 'Vote', 'BeginQuorumEpoch', 'EndQuorumEpoch', 'DescribeQuorum', 'AlterPartition',
  'UpdateFeatures', 'Envelope', 'FetchSnapshot', 'DescribeCluster', 'DescribeProducers', 'BrokerRegistration',
  'BrokerHeartbeat', 'UnregisterBroker', 'DescribeTransactions', 'ListTransactions', 'AllocateProducerIds',
  'ConsumerGroupHeartbeat', 'ConsumerGroupDescribe', 'ControllerRegistration', 'GetTelemetrySubscriptions', 'PushTelemetry',
  'AssignReplicasToDirs', 'ListClientMetricsResources', 'DescribeTopicPartitions',
];

/**
 * First flexible version per API key (index), -1 for none. From the Kafka message definitions
 * ("flexibleVersions"); keys past the end are treated as flexible from version 0.
 */
const FLEXIBLE_FROM = [
  9, 12, 6, 9, 4, 2, 6, 3, 8, 6, 3, 6, 4, 4, 4, 5, 3, -1, 3, 5, 4, 2, 2, 4, 3, 3, 3, 1, 3, 2, 2, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2,
  2, 2, 2, 1, 0, 0, -1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/** Highest version per API we take as plausible for the dissected ones; others allow up to 15. */
const SPECS = new Map<number, ApiSpec>();
for (let key = 0; key < API_NAMES.length; key++) {
  SPECS.set(key, { name: API_NAMES[key], maxVersion: 15, flexibleFrom: FLEXIBLE_FROM[key] ?? 0 });
}

function define(key: number, maxVersion: number, request?: RequestWalk, response?: ResponseWalk): void {
  const spec = SPECS.get(key);
  if (!spec) return;
  spec.maxVersion = maxVersion;
  spec.request = request;
  spec.response = response;
}

define(0, 13, produceRequest, produceResponse);
define(1, 18, fetchRequest, fetchResponse);
define(2, 10, listOffsetsRequest, listOffsetsResponse);
define(3, 13, metadataRequest, metadataResponse);
define(8, 10, offsetCommitRequest, offsetCommitResponse);
define(9, 10, offsetFetchRequest, offsetFetchResponse);
define(10, 6, findCoordinatorRequest, findCoordinatorResponse);
define(11, 9, groupRequest, topLevelError(2));
define(12, 4, groupRequest, topLevelError(1));
define(13, 5, groupRequest, leaveGroupResponse);
define(14, 5, groupRequest, topLevelError(1));
define(18, 4, undefined, topLevelError(-1));
define(22, 5, undefined, topLevelError(0));

export function apiName(key: number): string {
  return SPECS.get(key)?.name ?? `Unknown(${key})`;
}

export function isKnownApi(key: number): boolean {
  return SPECS.has(key);
}

/** A version this parser considers plausible for a known API. */
export function versionInRange(key: number, version: number): boolean {
  const spec = SPECS.get(key);
  return spec !== undefined && version >= 0 && version <= spec.maxVersion;
}

/** Flexible (compact encodings, tagged fields) request/response body for this API version. */
export function isFlexible(key: number, version: number): boolean {
  const from = SPECS.get(key)?.flexibleFrom ?? -1;
  return from >= 0 && version >= from;
}

/** Request header version: 0 (no client id) only for ControlledShutdown v0; 2 when flexible; else 1. */
export function requestHeaderVersion(key: number, version: number): 0 | 1 | 2 {
  if (key === 7 && version === 0) return 0;
  return isFlexible(key, version) ? 2 : 1;
}

/** Response header version: 1 (tagged fields) when flexible, except ApiVersions which always uses 0. */
export function responseHeaderVersion(key: number, version: number): 0 | 1 {
  if (key === 18) return 0;
  return isFlexible(key, version) ? 1 : 0;
}

export function parseRequestBody(key: number, version: number, r: KafkaReader): { info: RequestInfo; ok: boolean } {
  const info: RequestInfo = {};
  const walk = SPECS.get(key)?.request;
  if (walk) walk(r, version, isFlexible(key, version), info);
  if (info.topic === '') delete info.topic;
  if (info.group === '') delete info.group;
  return { info, ok: r.ok };
}

export function parseResponseBody(key: number, version: number, r: KafkaReader): { info: ResponseInfo; ok: boolean } {
  const info: ResponseInfo = { errorCode: 0 };
  const walk = SPECS.get(key)?.response;
  if (walk) walk(r, version, isFlexible(key, version), info);
  return { info, ok: r.ok };
}

const ERROR_NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  1: 'OFFSET_OUT_OF_RANGE',
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  17: 'INVALID_TOPIC_EXCEPTION',
  19: 'NOT_ENOUGH_REPLICAS',
  22: 'ILLEGAL_GENERATION',
  25: 'UNKNOWN_MEMBER_ID',
  27: 'REBALANCE_IN_PROGRESS',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  36: 'TOPIC_ALREADY_EXISTS',
  58: 'SASL_AUTHENTICATION_FAILED',
  79: 'MEMBER_ID_REQUIRED',
};

export function errorName(code: number): string | undefined {
  return ERROR_NAMES[code];
}
