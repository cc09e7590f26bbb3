import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir } from '../../testing/corpus';
import { parseCapture } from '../../testing/l7-corpus';
import { L7Record } from '../l7-parser';
import { mysqlModule } from './mysql-parser';

interface OracleTx {
  req_frame: number;
  status: string;
  error_code: string | null;
  rt_s: number;
}
interface OracleLogin {
  result: string | null;
  error_code: string | null;
  rt_s: number | null;
}
interface MysqlOracle {
  requests: number;
  responses: number;
  no_response_expected: number;
  status_counts: Record<string, number>;
  login: { requests: number; ok: number; err: number; no_result: number; list: OracleLogin[] };
  tshark_error_code_counts: Record<string, number>;
  transactions: OracleTx[];
}

/** DeepFlow captures run MySQL on these ports (the oracle decodes them with a decode-as rule). */
const SERVER_PORTS = [20130, 30130];

/**
 * Where we legitimately count differently from tshark:
 * - `extraOracleRequests`: with caching_sha2_password full authentication the client sends its
 *   RSA-encrypted password (or public-key request) in the login exchange; tshark reads it as an
 *   unknown command ("Request Unknown (202)" / "(125)") and counts an unanswered request. For us
 *   it is part of the login.
 * - `tls`: MySQL-in-TLS: we stop at the SSL request, so the login has no record (tshark: login
 *   without result).
 * - `greetingErrors`: the server refused the connection with an ERR instead of a greeting (1130);
 *   we log it as a LOGIN record (stage=greeting), tshark counts it as a server greeting only.
 */
const DIFFERENCES: Record<string, { extraOracleRequests?: number; tlsLogins?: number; greetingErrors?: number }> = {
  'zeek_mysql-caching_sha2_password.pcap': { extraOracleRequests: 1 },
  'zeek_mysql8-navicat-login-failed.pcap': { extraOracleRequests: 1 },
  'zeek_mysql-tls-12-amazon-rds.pcap': { tlsLogins: 1 },
  'ndpi_mysql.pcapng': { tlsLogins: 1 },
  'zeek_mysql-auth.pcap': { greetingErrors: 3 },
};

function count<T>(items: T[], key: (t: T) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) {
    const k = key(i);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const dir = corpusDir();
const captures = dir && existsSync(join(dir, 'mysql')) ? readdirSync(join(dir, 'mysql')).filter((f) => /\.(pcap|pcapng)$/.test(f)) : [];

test('mysql corpus', async (t) => {
  if (!dir || captures.length === 0) {
    t.skip('corpus not found');
    return;
  }
  assert.equal(captures.length, 15);
  for (const file of captures) {
    await t.test(file, () => {
      const path = join(dir, 'mysql', file);
      const oracle = (JSON.parse(readFileSync(path + '.oracle.json', 'utf8')) as { l7: { mysql: MysqlOracle } }).l7.mysql;
      const diff = DIFFERENCES[file] ?? {};
      const flows = parseCapture(path, mysqlModule, {}, SERVER_PORTS);
      const records: L7Record[] = flows.flatMap((f) => f.records);
      for (const f of flows) assert.equal(f.parser.stats.parseErrors, 0, `${file} ${f.client}: parse errors`);

      const logins = records.filter((r) => r.requestType === 'LOGIN' && r.attributes?.stage !== 'greeting');
      const greetingErrors = records.filter((r) => r.attributes?.stage === 'greeting');
      const commands = records.filter((r) => r.requestType !== 'LOGIN');
      const counted = commands.filter((r) => r.countsAsRequest);
      const oneWay = commands.filter((r) => !r.countsAsRequest);
      const answered = counted.filter((r) => r.responseTimeUs !== undefined);

      // requests: the oracle counts one-way commands (COM_QUIT, COM_STMT_CLOSE) as requests too
      assert.equal(oneWay.length, oracle.no_response_expected, 'one-way commands');
      assert.equal(counted.length + oneWay.length, oracle.requests - (diff.extraOracleRequests ?? 0), 'requests');
      assert.equal(answered.length, oracle.responses, 'responses');
      // unanswered at the end of the capture become timeouts
      assert.equal(counted.length - answered.length, oracle.requests - oracle.no_response_expected - (diff.extraOracleRequests ?? 0) - oracle.responses);
      assert.ok(counted.every((r) => (r.responseTimeUs === undefined) === (r.status === 'timeout')));

      // status: ERR → error; OK, RESULTSET and OTHER (column lists, …) → ok
      const errs = oracle.status_counts.ERR ?? 0;
      const ours = count(answered, (r) => r.status);
      assert.equal((ours.client_error ?? 0) + (ours.server_error ?? 0), errs, 'errors');
      assert.equal(ours.ok ?? 0, oracle.responses - errs, 'ok');

      // logins
      assert.equal(greetingErrors.length, diff.greetingErrors ?? 0);
      assert.equal(logins.length, oracle.login.requests - (diff.tlsLogins ?? 0), 'logins');
      assert.equal(logins.filter((r) => r.status === 'ok').length, oracle.login.ok);
      assert.equal(logins.filter((r) => r.status === 'server_error' || r.status === 'client_error').length, oracle.login.err);
      assert.equal(logins.filter((r) => r.status === 'timeout').length, oracle.login.no_result - (diff.tlsLogins ?? 0));
      assert.ok(records.every((r) => r.requestType !== 'LOGIN' || !r.countsAsRequest));

      // error codes of every ERR we logged (logins and commands; the greeting refusals apart)
      const codes = count(
        records.filter((r) => r.responseCode !== undefined && r.attributes?.stage !== 'greeting'),
        (r) => String(r.responseCode),
      );
      assert.deepEqual(codes, oracle.tshark_error_code_counts, 'error codes');

      // response times: transactions in capture order against ours in request order
      const txs = [...oracle.transactions].sort((a, b) => a.req_frame - b.req_frame);
      const byTime = [...answered].sort((a, b) => (a.requestTimeUs ?? 0) - (b.requestTimeUs ?? 0));
      assert.equal(byTime.length, txs.length);
      txs.forEach((tx, i) => {
        const r = byTime[i];
        const rt = (r.responseTimeUs ?? 0) - (r.requestTimeUs ?? 0);
        assert.ok(Math.abs(rt - Math.round(tx.rt_s * 1e6)) <= 1, `${file} tx ${tx.req_frame}: ${rt} µs vs ${tx.rt_s} s`);
        assert.equal(r.status !== 'ok', tx.status === 'ERR');
        if (tx.error_code !== null) assert.equal(r.responseCode, Number(tx.error_code));
      });
      const loginTimes = [...logins].filter((r) => r.responseTimeUs !== undefined).sort((a, b) => (a.requestTimeUs ?? 0) - (b.requestTimeUs ?? 0));
      const oracleLogins = oracle.login.list.filter((l) => l.rt_s !== null);
      assert.equal(loginTimes.length, oracleLogins.length);
      oracleLogins.forEach((l, i) => {
        const r = loginTimes[i];
        assert.ok(Math.abs((r.responseTimeUs ?? 0) - (r.requestTimeUs ?? 0) - Math.round((l.rt_s ?? 0) * 1e6)) <= 1, `${file} login ${i}`);
        if (l.error_code !== null) assert.equal(r.responseCode, Number(l.error_code));
      });
    });
  }
});

test('mysql corpus: fields of a known capture', (t) => {
  if (!dir || !existsSync(join(dir, 'mysql', 'deepflow_mysql-error.pcap'))) {
    t.skip('corpus not found');
    return;
  }
  const records = parseCapture(join(dir, 'mysql', 'deepflow_mysql-error.pcap'), mysqlModule, {}, SERVER_PORTS).flatMap((f) => f.records);
  const err = records.find((r) => r.requestType === 'COM_INIT_DB');
  assert.ok(err);
  assert.equal(err.status, 'server_error');
  assert.equal(err.responseCode, 1049);
  assert.match(err.responseException ?? '', /Unknown database/);
  const queries = records.filter((r) => r.requestType === 'COM_QUERY');
  assert.ok(queries.length > 0);
  assert.ok(queries.every((r) => r.endpoint.startsWith('SELECT')));
});
