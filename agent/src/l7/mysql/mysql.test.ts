import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mutate, Random } from '../../testing/fuzz';
import { Direction, L7Record } from '../l7-parser';
import { CAPS, columnDef, command, cstr, DEPRECATE_EOF, eof, err, greeting, handshakeResponse, lenStr, ok, pkt, query, resultSet, row, sslRequest, u16, u32 } from './fixtures';
import { MysqlParser, mysqlModule } from './mysql-parser';

type Step = [Direction, Buffer, number];

function run(steps: Step[], finish = true): { records: L7Record[]; parser: MysqlParser } {
  const parser = mysqlModule.create() as MysqlParser;
  const records: L7Record[] = [];
  for (const [d, b, ts] of steps) {
    parser.feed(d, b, ts);
    records.push(...parser.take());
  }
  if (finish) parser.close(1e12);
  records.push(...parser.take());
  return { records, parser };
}

function session(deprecateEof: boolean): Step[] {
  const caps = deprecateEof ? CAPS | DEPRECATE_EOF : CAPS;
  return [
    [1, greeting(), 1000],
    [0, handshakeResponse(caps), 1100],
    [1, ok(2), 1150],
    [0, query("SELECT id, name FROM users WHERE name = 'bob'"), 2000],
    [1, resultSet(deprecateEof), 2300],
    [0, command(0x02, Buffer.from('sales')), 3000],
    [1, ok(1), 3040],
    [0, query('SELECT * FROM nope'), 4000],
    [1, err(1, 1146, '42S02', "Table 'sales.nope' doesn't exist"), 4100],
    [0, command(0x0e), 5000],
    [1, ok(1), 5010],
    [0, command(0x01), 6000],
  ];
}

function checkSession(records: L7Record[]): void {
  assert.equal(records.length, 6);
  const [login, q, initDb, bad, ping, quit] = records;
  assert.equal(login.requestType, 'LOGIN');
  assert.equal(login.countsAsRequest, false);
  assert.equal(login.status, 'ok');
  assert.equal(login.requestDomain, 'shop');
  assert.equal(login.version, '10');
  assert.equal(login.attributes?.user, 'app');
  assert.equal(login.attributes?.server_version, '8.0.32');
  assert.equal(login.responseTimeUs! - login.requestTimeUs!, 50);

  assert.equal(q.requestType, 'COM_QUERY');
  assert.equal(q.requestDomain, 'shop');
  assert.equal(q.requestResource, 'SELECT id, name FROM users WHERE name = ?');
  assert.equal(q.endpoint, 'SELECT users');
  assert.equal(q.status, 'ok');
  assert.equal(q.countsAsRequest, true);
  assert.equal(q.responseTimeUs! - q.requestTimeUs!, 300);

  assert.equal(initDb.requestType, 'COM_INIT_DB');
  assert.equal(initDb.requestDomain, 'sales');
  assert.equal(initDb.status, 'ok');

  assert.equal(bad.requestDomain, 'sales');
  assert.equal(bad.status, 'server_error');
  assert.equal(bad.responseCode, 1146);
  assert.equal(bad.responseException, "Table 'sales.nope' doesn't exist");
  assert.equal(bad.endpoint, 'SELECT nope');

  assert.equal(ping.requestType, 'COM_PING');
  assert.equal(ping.responseTimeUs! - ping.requestTimeUs!, 10);
  assert.equal(quit.requestType, 'COM_QUIT');
  assert.equal(quit.countsAsRequest, false);
}

test('full session, classic EOF', () => {
  const { records, parser } = run(session(false));
  checkSession(records);
  assert.equal(parser.stats.parseErrors, 0);
  assert.equal(records[1].responseLength, resultSet(false).length);
});

test('full session, CLIENT_DEPRECATE_EOF', () => {
  const { records, parser } = run(session(true));
  checkSession(records);
  assert.equal(parser.stats.parseErrors, 0);
});

test('split at every byte boundary gives the same records', () => {
  const steps = session(false);
  const whole = run(steps).records;
  for (let i = 0; i < steps.length; i++) {
    const [d, b, ts] = steps[i];
    for (let cut = 1; cut < b.length; cut++) {
      const split: Step[] = [...steps.slice(0, i), [d, b.subarray(0, cut), ts], [d, b.subarray(cut), ts], ...steps.slice(i + 1)];
      assert.deepEqual(run(split).records, whole, `message ${i} cut at ${cut}`);
    }
  }
});

test('every byte in its own feed', () => {
  const steps: Step[] = [];
  for (const [d, b, ts] of session(true)) for (let i = 0; i < b.length; i++) steps.push([d, b.subarray(i, i + 1), ts]);
  checkSession(run(steps).records);
});

test('pipelined commands in one feed pair in order', () => {
  const { records } = run([
    [0, Buffer.concat([query('SELECT 1'), query('UPDATE t SET a = 2'), command(0x0e), query('SELECT x FROM y')]), 100],
    [1, Buffer.concat([resultSet(false), err(1, 1064, '42000', 'syntax'), ok(1)]), 200],
    [1, resultSet(false), 300],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.endpoint, r.status, r.responseTimeUs! - r.requestTimeUs!]),
    [
      ['COM_QUERY', 'SELECT', 'ok', 100],
      ['COM_QUERY', 'UPDATE t', 'server_error', 100],
      ['COM_PING', 'COM_PING', 'ok', 100],
      ['COM_QUERY', 'SELECT y', 'ok', 200],
    ],
  );
});

test('mid-stream: prepared statement with unknown capabilities (EOFs present)', () => {
  const prepareOk = pkt(1, Buffer.concat([Buffer.from([0]), u32(9), u16(2), u16(1), Buffer.from([0]), u16(0)]));
  const prepResp = Buffer.concat([prepareOk, columnDef(2, 'p'), eof(3), columnDef(4, 'a'), columnDef(5, 'b'), eof(6)]);
  const exec = command(0x17, Buffer.concat([u32(9), Buffer.from([0]), u32(1)]));
  const { records, parser } = run([
    [0, pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from("SELECT a, b FROM items WHERE id = ? AND tag = 'x'")])), 10],
    [1, prepResp, 20],
    [0, exec, 30],
    [1, resultSet(false), 45],
    [0, command(0x19, u32(9)), 50],
  ]);
  assert.equal(parser.stats.parseErrors, 0);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.requestId, r.endpoint, r.requestResource, r.status, r.countsAsRequest]),
    [
      ['COM_STMT_PREPARE', 9, 'SELECT items', 'SELECT a, b FROM items WHERE id = ? AND tag = ?', 'ok', true],
      ['COM_STMT_EXECUTE', 9, 'SELECT items', 'SELECT a, b FROM items WHERE id = ? AND tag = ?', 'ok', true],
      ['COM_STMT_CLOSE', 9, 'SELECT items', 'SELECT a, b FROM items WHERE id = ? AND tag = ?', 'ok', false],
    ],
  );
  assert.equal(records[1].responseTimeUs! - records[1].requestTimeUs!, 15);
});

test('prepare response without EOFs (CLIENT_DEPRECATE_EOF) followed by the next response', () => {
  const prepareOk = pkt(1, Buffer.concat([Buffer.from([0]), u32(3), u16(1), u16(1), Buffer.from([0]), u16(0)]));
  const { records, parser } = run([
    [1, greeting(), 1],
    [0, handshakeResponse(CAPS | DEPRECATE_EOF), 2],
    [1, ok(2), 3],
    [0, Buffer.concat([pkt(0, Buffer.from('\x16SELECT a FROM t WHERE b = ?')), command(0x0e)]), 10],
    [1, Buffer.concat([prepareOk, columnDef(2, 'p'), columnDef(3, 'a'), ok(1)]), 20],
  ]);
  assert.equal(parser.stats.parseErrors, 0);
  assert.deepEqual(
    records.filter((r) => r.countsAsRequest).map((r) => [r.requestType, r.status]),
    [
      ['COM_STMT_PREPARE', 'ok'],
      ['COM_PING', 'ok'],
    ],
  );
});

test('multi-results (SERVER_MORE_RESULTS_EXISTS) stay with their command', () => {
  const { records } = run([
    [0, Buffer.concat([query('CALL p()'), command(0x0e)]), 1],
    [1, Buffer.concat([pkt(1, '01'), columnDef(2, 'a'), eof(3), row(4, 'x'), eof(5, 0x000a), ok(6)]), 2],
    [1, ok(1), 3],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.status, r.responseTimeUs]),
    [
      ['COM_QUERY', 'ok', 2],
      ['COM_PING', 'ok', 3],
    ],
  );
});

test('COM_FIELD_LIST and LOCAL INFILE responses are followed to their end', () => {
  const { records } = run([
    [0, command(0x04, Buffer.from('users\0')), 1],
    [1, Buffer.concat([columnDef(1, 'id'), columnDef(2, 'name'), eof(3)]), 2],
    [0, query("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t"), 3],
    [1, pkt(1, Buffer.from('\xfb/tmp/x', 'latin1')), 4],
    [0, Buffer.concat([pkt(2, Buffer.from('1,2\n')), pkt(3, Buffer.alloc(0))]), 5],
    [1, ok(4), 6],
    [0, command(0x0e), 7],
    [1, ok(1), 8],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.endpoint, r.status, r.responseTimeUs]),
    [
      ['COM_FIELD_LIST', 'COM_FIELD_LIST', 'ok', 2],
      ['COM_QUERY', 'LOAD t', 'ok', 4],
      ['COM_PING', 'COM_PING', 'ok', 8],
    ],
  );
});

test('COM_CHANGE_USER is timed to its final OK/ERR', () => {
  const { records } = run([
    [0, command(0x11, Buffer.concat([cstr('bob'), Buffer.from([0]), cstr('')])), 100],
    [1, pkt(1, Buffer.concat([Buffer.from([0xfe]), cstr('mysql_native_password'), Buffer.alloc(20, 1)])), 150],
    [0, pkt(2, Buffer.alloc(20, 2)), 160],
    [1, err(3, 1045, '28000', "Access denied for user 'bob'"), 400],
  ]);
  assert.equal(records.length, 1);
  assert.equal(records[0].requestType, 'COM_CHANGE_USER');
  assert.equal(records[0].status, 'server_error');
  assert.equal(records[0].responseCode, 1045);
  assert.equal(records[0].responseTimeUs! - records[0].requestTimeUs!, 300);
});

test('caching_sha2_password login: more data, full authentication, final ERR', () => {
  const { records } = run([
    [1, greeting(), 1],
    [0, handshakeResponse(), 10],
    [1, pkt(2, '0104'), 20],
    [0, pkt(3, '02'), 30],
    [1, pkt(4, Buffer.concat([Buffer.from([1]), Buffer.from('-----BEGIN PUBLIC KEY-----')])), 40],
    [0, pkt(5, Buffer.alloc(256, 9)), 50],
    [1, err(6, 1045, '28000', 'Access denied'), 90],
  ]);
  assert.equal(records.length, 1);
  assert.equal(records[0].requestType, 'LOGIN');
  assert.equal(records[0].status, 'server_error');
  assert.equal(records[0].countsAsRequest, false);
  assert.equal(records[0].responseTimeUs! - records[0].requestTimeUs!, 80);
});

test('client error codes (2000-2999) are client errors, others server errors', () => {
  const { records } = run([
    [0, query('SELECT 1'), 1],
    [1, err(1, 2013, 'HY000', 'Lost connection'), 2],
    [0, query('SELECT 2'), 3],
    [1, err(1, 1205, 'HY000', 'Lock wait timeout'), 4],
  ]);
  assert.deepEqual(
    records.map((r) => [r.status, r.responseCode]),
    [
      ['client_error', 2013],
      ['server_error', 1205],
    ],
  );
});

test('SSL request: parsing stops', () => {
  const { records, parser } = run([
    [1, greeting(), 1],
    [0, sslRequest(), 2],
    [0, Buffer.from('160301003d0100003903035c115a81', 'hex'), 3],
    [1, Buffer.from('160303009b02000097030354b780', 'hex'), 4],
    [0, query('SELECT 1'), 5],
  ]);
  assert.equal(records.length, 0);
  assert.equal(parser.stats.parseErrors, 0);
});

test('capture starting mid-message resyncs at the next packet boundary', () => {
  const rs = resultSet(false);
  const q = query('SELECT name FROM users');
  const { records, parser } = run([
    [0, q.subarray(7), 1], // tail of a command
    [1, rs.subarray(10), 2], // tail of a result set
    [0, query('SELECT 1'), 3],
    [1, resultSet(false), 4],
  ]);
  assert.equal(records.length, 1);
  assert.equal(records[0].status, 'ok');
  assert.equal(records[0].responseTimeUs, 4);
  assert.ok(parser.stats.bytesSkipped >= q.length - 7 + rs.length - 10);
});

test('a gap flushes what cannot be paired and resyncs', () => {
  const p = mysqlModule.create();
  p.feed(0, Buffer.concat([query('SELECT 1'), query('SELECT 2')]), 1);
  p.feed(1, resultSet(false).subarray(0, 12), 2);
  p.gap(1, 500);
  const flushed = p.take();
  assert.deepEqual(
    flushed.map((r) => r.status),
    ['ok', 'unknown'],
  );
  p.feed(1, resultSet(false).subarray(30), 3); // still lost: skipped
  p.feed(0, command(0x0e), 4);
  p.feed(1, ok(1), 5);
  const after = p.take();
  assert.deepEqual(
    after.map((r) => [r.requestType, r.status, r.responseTimeUs]),
    [['COM_PING', 'ok', 5]],
  );
});

test('expire() and close() turn waiting commands into timeouts', () => {
  const p = mysqlModule.create();
  p.feed(0, query('SELECT SLEEP(100)'), 1_000);
  p.feed(0, query('SELECT 1'), 5_000);
  p.expire(3_000, 1_000);
  assert.deepEqual(
    p.take().map((r) => [r.requestResource, r.status]),
    [['SELECT SLEEP(?)', 'timeout']],
  );
  p.close(10_000);
  assert.deepEqual(
    p.take().map((r) => [r.requestResource, r.status]),
    [['SELECT ?', 'timeout']],
  );
  const login = mysqlModule.create();
  login.feed(1, greeting(), 1);
  login.feed(0, handshakeResponse(), 2);
  login.close(3);
  const lr = login.take();
  assert.equal(lr.length, 1);
  assert.equal(lr[0].requestType, 'LOGIN');
  assert.equal(lr[0].status, 'timeout');
});

test('keepSqlLiterals keeps the statement as written', () => {
  const p = mysqlModule.create({ keepSqlLiterals: true });
  p.feed(0, query("SELECT * FROM t WHERE a = 'x'"), 1);
  p.close(2);
  assert.equal(p.take()[0].requestResource, "SELECT * FROM t WHERE a = 'x'");
});

test('USE db via COM_QUERY changes the database on OK', () => {
  const { records } = run([
    [0, query('USE billing'), 1],
    [1, ok(1), 2],
    [0, query('SELECT 1'), 3],
    [1, ok(1), 4],
  ]);
  assert.deepEqual(
    records.map((r) => r.requestDomain),
    ['billing', 'billing'],
  );
});

test('query attributes (CLIENT_QUERY_ATTRIBUTES) are skipped to find the statement', () => {
  const caps = CAPS | 0x08000000;
  const attrs = Buffer.concat([Buffer.from([0x03, 1, 1, 0, 1]), u16(0xfe), lenStr('tag'), lenStr('v1')]);
  const { records } = run([
    [1, greeting(caps), 1],
    [0, handshakeResponse(caps), 2],
    [1, ok(2), 3],
    [0, pkt(0, Buffer.concat([attrs, Buffer.from('SELECT 5 FROM q')])), 4],
    [0, pkt(0, Buffer.concat([Buffer.from([0x03, 0, 1]), Buffer.from('SELECT 6')])), 5],
  ]);
  assert.deepEqual(
    records.filter((r) => r.countsAsRequest).map((r) => r.requestResource),
    ['SELECT ? FROM q', 'SELECT ?'],
  );
});

test('0xffffff continuation packets: one message, bounded buffering', () => {
  const sql = Buffer.alloc(0xffffff + 100, 0x20);
  Buffer.from('SELECT * FROM big WHERE x IN (').copy(sql, 0);
  sql[0] = 0x03;
  Buffer.from('SELECT').copy(sql, 1);
  const first = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0]), sql.subarray(0, 0xffffff)]);
  const second = pkt(1, sql.subarray(0xffffff));
  const wire = Buffer.concat([first, second, command(0x0e)]);
  const p = mysqlModule.create({ maxBufferBytes: 4096 }) as MysqlParser;
  for (let i = 0; i < wire.length; i += 65536) {
    p.feed(0, wire.subarray(i, i + 65536), 1);
    assert.ok(p.held.bytes <= 4096 + 4 + 512);
  }
  p.feed(1, Buffer.concat([ok(2), ok(1)]), 2);
  const r = p.take();
  assert.equal(r.length, 2);
  assert.equal(r[0].requestType, 'COM_QUERY');
  assert.equal(r[0].requestLength, wire.length - command(0x0e).length);
  assert.equal(r[1].requestType, 'COM_PING');
  assert.equal(p.stats.parseErrors, 0);
});

test('detect: greeting yes, commands maybe, other protocols no', () => {
  assert.equal(mysqlModule.detect(1, greeting(), 3306), 'yes');
  assert.equal(mysqlModule.detect(1, greeting(), 20130), 'yes');
  assert.equal(mysqlModule.detect(0, query('SELECT 1'), 20130), 'maybe');
  assert.equal(mysqlModule.detect(0, command(0x0e), 20130), 'maybe');
  assert.equal(mysqlModule.detect(0, handshakeResponse(), 3306), 'maybe');
  assert.equal(mysqlModule.detect(1, err(1, 1045, '28000', 'Access denied'), 3306), 'maybe');
  const others: [Direction, Buffer][] = [
    [0, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')],
    [1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')],
    [0, Buffer.from('160301013d0100013903035c115a81486b48ca591d2b135c7871cb40895d24aea5face8722e795ceec090e20', 'hex')],
    [0, Buffer.from('PING\r\n')],
    [0, Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n')],
    [1, Buffer.from('+OK\r\n')],
    [0, Buffer.from('0000002a0012000300000001000c636f6e73756d65722d312d31000000000000000000000000000000000000', 'hex')],
    [0, Buffer.from('101000044d5154540402003c0004746573740000', 'hex')],
    [0, query('not sql at all')],
    [0, Buffer.alloc(3)],
  ];
  for (const [d, b] of others) assert.equal(mysqlModule.detect(d, b, 3306), 'no', b.toString('hex').slice(0, 20));
  const random = new Random(7);
  let yes = 0;
  for (let i = 0; i < 10000; i++) {
    const b = random.bytes(8 + random.int(64));
    if (mysqlModule.detect((i & 1) as Direction, b, 0) === 'yes') yes++;
  }
  assert.equal(yes, 0);
});

test('fuzz: 100,000 mutated messages never throw, never hang, stay bounded', () => {
  const base = session(false).concat(session(true));
  const corpus: [Direction, Buffer][] = base.map(([d, b]) => [d, b]);
  corpus.push([1, resultSet(false)], [0, pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('SELECT ?')]))], [1, pkt(1, Buffer.concat([Buffer.from([0]), u32(1), u16(1), u16(1), Buffer.from([0]), u16(0)]))]);
  const random = new Random(12345);
  let p = mysqlModule.create({ maxBufferBytes: 2048 }) as MysqlParser;
  const started = Date.now();
  for (let i = 0; i < 100_000; i++) {
    if (i % 200 === 0) {
      p.close(i);
      p.take();
      p = mysqlModule.create({ maxBufferBytes: 2048 }) as MysqlParser;
    }
    const [d, orig] = random.pick(corpus);
    // The 'length' mutation: a random 24-bit little-endian packet length.
    const b = mutate(orig, random, { kinds: ['flip', 'truncate', 'length', 'random', 'overwrite'], length: { bytes: 3, at: [0], littleEndian: true }, randomMax: 65 });
    p.feed(d, b, i);
    if (random.int(50) === 0) p.gap(d, random.int(100));
    if (random.int(100) === 0) p.expire(i, 10);
    p.take();
    assert.ok(p.held.bytes <= 2 * (2048 + 4 + 512));
    assert.ok(p.held.pending <= 1024);
  }
  assert.ok(Date.now() - started < 60_000);
});
