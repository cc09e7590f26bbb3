/**
 * Compares the request log we stored for a capture with the L7 part of its tshark oracle
 * (corpus README, "What counts as what"). The result is a list of readable differences, so a
 * test can require an empty list or exactly the differences it documents.
 */

/** One `l7_flow_log` row, the columns the comparison needs. */
export interface StoredRequest {
  l7_protocol: string;
  response_status: string;
  response_code: number;
  request_type: string;
  request_domain: string;
  response_duration: number | string;
  counts_as_request: number | string;
  has_request: number | string;
  has_response: number | string;
  http_status: string;
}

export interface OracleTransaction {
  rt_s: number | null;
  status?: number | string;
  error_code?: string | null;
  error?: boolean;
}

/** MySQL logins, which the oracle lists apart from the commands. */
export interface OracleLogin {
  list: { result: string | null; error_code: string | null; rt_s: number | null }[];
}

/** The fields shared by the request/response protocols of the oracle. */
export interface OracleL7 {
  requests: number;
  responses: number;
  errors: number;
  status_counts: Record<string, number>;
  transactions: OracleTransaction[];
  interim_1xx_responses?: number;
  /** MySQL: commands that expect no reply (COM_QUIT…), which SPEC §4 does not count as requests. */
  no_response_expected?: number;
  login?: OracleLogin;
  tshark_error_code_counts?: Record<string, number>;
  error_code_counts?: Record<string, number>;
  grpc_status_counts?: Record<string, number>;
  /** HTTP/1: requests carrying `Upgrade: h2c`. */
  h2c_upgrade_requests?: number;
}

/** What the oracle knows of TLS: handshake message and SNI counts. */
export interface OracleTls {
  handshake_types: Record<string, number>;
  server_names: Record<string, number>;
}

/** TLS: one record per handshake (ClientHello), named by its SNI. */
export function compareTls(oracle: OracleTls, stored: StoredRequest[]): string[] {
  const ours = stored.filter((r) => r.l7_protocol === 'tls' && Number(r.counts_as_request) === 1 && Number(r.has_request) === 1);
  const diffs: string[] = [];
  const hellos = oracle.handshake_types.client_hello ?? 0;
  if (ours.length !== hellos) diffs.push(`tls handshakes ${ours.length} (oracle ${hellos})`);
  const names = countBy(ours.filter((r) => r.request_domain !== ''), (r) => r.request_domain);
  if (!sameCounts(names, oracle.server_names)) diffs.push(`tls server names ${show(names)} (oracle ${show(oracle.server_names)})`);
  return diffs;
}

/** Oracle protocol name → our `l7_protocol` values. TLS has no request/response counts. */
export const ORACLE_PROTOCOLS: Record<string, readonly string[]> = {
  http: ['http1'],
  http2: ['http2', 'grpc'],
  dns: ['dns'],
  mysql: ['mysql'],
  redis: ['redis'],
  kafka: ['kafka'],
  mqtt: ['mqtt'],
};

/** Response times may differ by the rounding of ns timestamps to our µs columns. */
const RT_TOLERANCE_US = 1;

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

function show(counts: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))));
}

/** The status detail each protocol's oracle carries, as code → count, and ours in the same terms. */
function statusDetail(protocol: string, oracle: OracleL7, answered: StoredRequest[]): [Record<string, number>, Record<string, number>] | undefined {
  const errors = answered.filter((r) => r.response_status === 'client_error' || r.response_status === 'server_error');
  switch (protocol) {
    case 'http':
    case 'http2': {
      // gRPC rows carry the grpc-status as their code; the HTTP :status the oracle counts is kept apart.
      const ours = countBy(answered, (r) => (r.l7_protocol === 'grpc' ? r.http_status : String(r.response_code)));
      return [oracle.status_counts, ours];
    }
    case 'dns': {
      // Oracle keys read "3 NXDomain": the RCODE number first.
      const theirs: Record<string, number> = {};
      for (const [k, n] of Object.entries(oracle.status_counts)) theirs[k.split(' ')[0]] = (theirs[k.split(' ')[0]] ?? 0) + n;
      return [theirs, countBy(answered, (r) => String(r.response_code))];
    }
    case 'mysql':
      // Error codes of commands; login errors are compared with the oracle's login list.
      return [countBy(oracle.transactions.filter((t) => t.error), (t) => String(t.error_code)), countBy(errors, (r) => String(r.response_code))];
    case 'kafka':
      return [oracle.error_code_counts ?? {}, countBy(errors, (r) => String(r.response_code))];
    default:
      return undefined;
  }
}

/**
 * An h2c Upgrade answered by 101 is one request: tshark counts it as HTTP/1 (the 101) and pairs
 * HTTP/2 stream 1 with it as well; our log has it once, as stream 1 of the HTTP/2 connection.
 */
function withoutH2cUpgrades(o: OracleL7): OracleL7 {
  const switched = Math.min(o.h2c_upgrade_requests ?? 0, o.status_counts['101'] ?? 0);
  if (switched === 0) return o;
  const status: Record<string, number> = { ...o.status_counts, '101': o.status_counts['101'] - switched };
  if (status['101'] === 0) delete status['101'];
  let left = switched;
  const transactions = o.transactions.filter((t) => !(t.status === 101 && left-- > 0));
  return { ...o, requests: o.requests - switched, responses: o.responses - switched, status_counts: status, transactions };
}

/** Differences between our rows of one oracle protocol and the oracle, [] when they agree. */
export function compareWithOracle(protocol: string, given: OracleL7, stored: StoredRequest[]): string[] {
  const oracle = protocol === 'http' ? withoutH2cUpgrades(given) : given;
  const ours = stored.filter((r) => ORACLE_PROTOCOLS[protocol].includes(r.l7_protocol) && Number(r.counts_as_request) === 1);
  const answered = ours.filter((r) => Number(r.has_response) === 1);
  const requests = ours.filter((r) => Number(r.has_request) === 1).length;
  const errors = answered.filter((r) => r.response_status === 'client_error' || r.response_status === 'server_error').length;
  const diffs: string[] = [];
  // SPEC §4: a request is a message that expects a response.
  const oracleRequests = oracle.requests - (oracle.no_response_expected ?? 0);
  if (requests !== oracleRequests) diffs.push(`${protocol} requests ${requests} (oracle ${oracleRequests})`);
  // The oracle counts interim 1xx responses as responses of their own; we log the final response.
  const oracleResponses = oracle.responses - (oracle.interim_1xx_responses ?? 0);
  if (answered.length !== oracleResponses) diffs.push(`${protocol} responses ${answered.length} (oracle ${oracleResponses})`);
  if (errors !== oracle.errors) diffs.push(`${protocol} errors ${errors} (oracle ${oracle.errors})`);
  const detail = statusDetail(protocol, oracle, answered);
  if (detail) {
    const [theirs, mine] = detail;
    if (protocol === 'http') for (const k of Object.keys(theirs)) if (Number(k) >= 100 && Number(k) < 200 && k !== '101') delete theirs[k];
    if (!sameCounts(theirs, mine)) diffs.push(`${protocol} codes ${show(mine)} (oracle ${show(theirs)})`);
  }
  const theirTimes = oracle.transactions.filter((t) => t.rt_s !== null).map((t) => Math.round((t.rt_s as number) * 1e6)).sort((a, b) => a - b);
  const myTimes = ours
    .filter((r) => Number(r.has_request) === 1 && Number(r.has_response) === 1)
    .map((r) => Number(r.response_duration))
    .sort((a, b) => a - b);
  if (theirTimes.length !== myTimes.length) diffs.push(`${protocol} timed ${myTimes.length} (oracle ${theirTimes.length})`);
  else {
    const off = myTimes.filter((t, i) => Math.abs(t - theirTimes[i]) > RT_TOLERANCE_US).length;
    if (off > 0) diffs.push(`${protocol} response times: ${off} of ${myTimes.length} differ by more than ${RT_TOLERANCE_US} µs`);
  }
  if (oracle.login) diffs.push(...compareLogins(oracle.login, stored));
  return diffs;
}

/** MySQL logins: results, error codes and times (logged, not counted as requests). */
function compareLogins(login: OracleLogin, stored: StoredRequest[]): string[] {
  const ours = stored.filter((r) => r.l7_protocol === 'mysql' && r.request_type === 'LOGIN' && Number(r.has_response) === 1);
  const theirs = login.list.filter((l) => l.result !== null);
  const mine = countBy(ours, (r) => (r.response_status === 'ok' ? 'OK' : `ERR ${r.response_code}`));
  const expected = countBy(theirs, (l) => (l.result === 'ERR' ? `ERR ${l.error_code}` : 'OK'));
  const diffs: string[] = [];
  if (!sameCounts(mine, expected)) diffs.push(`mysql logins ${show(mine)} (oracle ${show(expected)})`);
  const a = ours.map((r) => Number(r.response_duration)).sort((x, y) => x - y);
  const b = theirs.filter((l) => l.rt_s !== null).map((l) => Math.round((l.rt_s as number) * 1e6)).sort((x, y) => x - y);
  if (a.length === b.length && a.some((t, i) => Math.abs(t - b[i]) > RT_TOLERANCE_US)) diffs.push('mysql login times differ by more than 1 µs');
  return diffs;
}
