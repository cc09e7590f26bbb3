import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { L7Parser, L7Record, ParserOptions } from '../l7-parser';
import { corpusDir } from '../../testing/corpus';
import { feedInTwo, mutate, Random } from '../../testing/fuzz';
import { parseCapture } from '../../testing/l7-corpus';
import { redisModule, RedisParserInstance } from './redis-parser';
import { splitInline } from './resp-reader';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** RESP multibulk command, as clients send it. */
function cmd(...args: string[]): Buffer {
  return b(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
}

function parser(options: ParserOptions = {}): L7Parser {
  return redisModule.create(options);
}

/** Feeds a conversation: [direction, bytes, time] steps; returns the records (after close when asked). */
function run(steps: Array<[0 | 1, Buffer, number]>, closeAt?: number, options: ParserOptions = {}): { records: L7Record[]; p: L7Parser } {
  const p = parser(options);
  const records: L7Record[] = [];
  for (const [d, data, ts] of steps) {
    p.feed(d, data, ts);
    records.push(...p.take());
  }
  if (closeAt !== undefined) {
    p.close(closeAt);
    records.push(...p.take());
  }
  return { records, p };
}

test('a GET and its bulk reply: fields, lengths, times', () => {
  const req = cmd('GET', 'user:1');
  const resp = b('$5\r\nhello\r\n');
  const { records } = run([
    [0, req, 1000],
    [1, resp, 1250],
  ]);
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.protocol, 'redis');
  assert.equal(r.version, '2');
  assert.equal(r.requestType, 'GET');
  assert.equal(r.requestResource, 'GET user:1');
  assert.equal(r.endpoint, 'GET');
  assert.equal(r.requestDomain, '');
  assert.equal(r.status, 'ok');
  assert.equal(r.requestTimeUs, 1000);
  assert.equal(r.responseTimeUs, 1250);
  assert.equal(r.requestLength, req.length);
  assert.equal(r.responseLength, resp.length);
  assert.equal(r.countsAsRequest, true);
  assert.equal(r.responseException, undefined);
});

test('values are dropped by default, kept with keepRedisValues; credentials never in the resource', () => {
  const conv: Array<[0 | 1, Buffer, number]> = [
    [0, cmd('set', 'k', 'secret-value', 'EX', '10'), 1],
    [1, b('+OK\r\n'), 2],
    [0, cmd('AUTH', 'user', 'pa55'), 3],
    [1, b('+OK\r\n'), 4],
    [0, cmd('CONFIG', 'get', 'maxmemory'), 5],
    [1, b('*0\r\n'), 6],
    [0, cmd('OBJECT', 'encoding', 'k'), 7],
    [1, b('+raw\r\n'), 8],
    [0, cmd('EVAL', 'return 1', '0'), 9],
    [1, b(':1\r\n'), 10],
  ];
  const plain = run(conv).records.map((r) => r.requestResource);
  assert.deepEqual(plain, ['SET k', 'AUTH', 'CONFIG GET', 'OBJECT ENCODING k', 'EVAL']);
  for (const r of run(conv).records) assert.ok(!JSON.stringify(r).includes('secret-value') && !JSON.stringify(r).includes('pa55'));
  const kept = run(conv, undefined, { keepRedisValues: true }).records.map((r) => r.requestResource);
  assert.equal(kept[0], 'SET k secret-value EX 10');
});

test('request and reply split at every byte boundary give the same record', () => {
  const req = cmd('LRANGE', 'list', '0', '-1');
  const resp = b('*3\r\n$1\r\na\r\n:42\r\n*2\r\n+x\r\n$-1\r\n');
  for (let i = 0; i <= req.length; i++) {
    for (const j of [0, 1, 5, resp.length - 1, resp.length]) {
      const p = parser();
      feedInTwo(p, 0, req, i, 10, 20);
      feedInTwo(p, 1, resp, j, 30, 40);
      const rs = p.take();
      assert.equal(rs.length, 1, `split ${i}/${j}`);
      assert.equal(rs[0].requestResource, 'LRANGE list');
      assert.equal(rs[0].requestTimeUs, i === req.length ? 10 : 20);
      // the reply is timed by the segment that completes it (the oracle's frame rule)
      assert.equal(rs[0].responseTimeUs, j === resp.length ? 30 : 40);
      assert.equal(rs[0].requestLength, req.length);
      assert.equal(rs[0].responseLength, resp.length);
    }
  }
  // one byte at a time, both directions
  const p = parser();
  for (const x of req) p.feed(0, Buffer.from([x]), 1);
  for (const x of resp) p.feed(1, Buffer.from([x]), 2);
  assert.equal(p.take().length, 1);
});

test('pipeline: several commands in one segment, replies paired in order', () => {
  const reqs = Buffer.concat([cmd('SET', 'a', '1'), cmd('INCR', 'a'), cmd('GET', 'missing'), cmd('LPUSH', 'a', 'x')]);
  const { records } = run([
    [0, reqs, 100],
    [1, b('+OK\r\n:2\r\n'), 200],
    [1, b('$-1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'), 300],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.status, r.responseTimeUs, r.responseException]),
    [
      ['SET', 'ok', 200, undefined],
      ['INCR', 'ok', 200, undefined],
      ['GET', 'ok', 300, undefined],
      ['LPUSH', 'server_error', 300, 'WRONGTYPE'],
    ],
  );
  assert.equal(records[3].attributes?.['redis.error_message'], 'WRONGTYPE Operation against a key holding the wrong kind of value');
});

test('inline commands: CRLF and LF endings, quotes, empty lines ignored', () => {
  const { records } = run(
    [
      [0, b('PING\r\nset k "a b"\n\r\n\r\nget k\r\nSET bad "unclosed\r\nGET after\r\n'), 1],
      [1, b('+PONG\r\n+OK\r\n$3\r\na b\r\n-ERR Protocol error: unbalanced quotes in request\r\n'), 2],
    ],
    50,
  );
  assert.deepEqual(
    records.map((r) => [r.requestType, r.requestResource, r.status]),
    [
      ['PING', 'PING', 'ok'],
      ['SET', 'SET k', 'ok'],
      ['GET', 'GET k', 'ok'],
      ['SET', 'SET bad', 'server_error'],
      ['GET', 'GET after', 'timeout'],
    ],
  );
  assert.equal(records[3].attributes?.['redis.request_error'], 'unbalanced quotes');
  assert.equal(records[0].requestLength, 6);
  assert.deepEqual(splitInline(b(`a "x\\ty\\x41" 'it\\'s' z`), 10, 100).args, ['a', 'x\tyA', "it's", 'z']);
  assert.equal(splitInline(b('a "b"c'), 10, 100).ok, false);
});

test('error replies: prefixes and bulk errors are server errors', () => {
  const errs = ['-ERR unknown command', '-WRONGTYPE Operation', '-NOAUTH Authentication required.', '-WRONGPASS invalid username-password pair', '-MOVED 3999 127.0.0.1:6381'];
  for (const e of errs) {
    const { records } = run([
      [0, cmd('GET', 'k'), 1],
      [1, b(e + '\r\n'), 2],
    ]);
    assert.equal(records[0].status, 'server_error');
    assert.equal(records[0].responseException, e.slice(1).split(' ')[0]);
    assert.equal(records[0].attributes?.['redis.error_message'], e.slice(1));
  }
  const { records } = run([
    [0, cmd('EVAL', 'x', '0'), 1],
    [1, b('!21\r\nSYNTAX invalid syntax\r\n'), 2],
  ]);
  assert.equal(records[0].status, 'server_error');
  assert.equal(records[0].responseException, 'SYNTAX');
  assert.equal(records[0].version, '3');
  // an error inside an array (EXEC) is not a top-level error reply
  const exec = run([
    [0, cmd('EXEC'), 1],
    [1, b('*2\r\n+OK\r\n-ERR value is not an integer\r\n'), 2],
  ]);
  assert.equal(exec.records[0].status, 'ok');
});

test('RESP3 types, nested and with attributes', () => {
  const reply = b(
    '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n' +
      '%3\r\n+server\r\n$5\r\nredis\r\n+proto\r\n:3\r\n+modules\r\n*1\r\n~2\r\n#t\r\n_\r\n' +
      '(3492890328409238509324850943850943825024385\r\n=15\r\ntxt:Some string\r\n,inf\r\n,-1.5e3\r\n#f\r\n',
  );
  const { records, p } = run([
    [0, Buffer.concat([cmd('HELLO', '3'), cmd('GET', 'a'), cmd('GET', 'b'), cmd('INCR', 'c'), cmd('INCR', 'd'), cmd('EXISTS', 'e')]), 1],
    [1, reply, 2],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.status]),
    [
      ['HELLO', 'ok'],
      ['GET', 'ok'],
      ['GET', 'ok'],
      ['INCR', 'ok'],
      ['INCR', 'ok'],
      ['EXISTS', 'ok'],
    ],
  );
  assert.equal(records[0].version, '3');
  assert.equal(p.stats.parseErrors, 0);
  // deep nesting within the bound is fine, beyond it is a protocol error (resync)
  const deep = (n: number): Buffer => b('*1\r\n'.repeat(n) + ':1\r\n');
  const ok = run([
    [0, cmd('GET', 'x'), 1],
    [1, deep(60), 2],
  ]);
  assert.equal(ok.records.length, 1);
  const bad = run([
    [0, cmd('GET', 'x'), 1],
    [1, deep(100), 2],
  ]);
  assert.equal(bad.records.length, 0);
  assert.equal(bad.p.stats.parseErrors, 1);
});

test('RESP2 pub/sub: pushed messages and extra confirmations are not replies (no record)', () => {
  const { records, p } = run([
    [0, cmd('SUBSCRIBE', 'a', 'b'), 1],
    [1, b('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n'), 2],
    [1, b('*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n'), 3],
    [1, b('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n'), 4],
    [0, cmd('PING'), 5],
    [1, b('*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$2\r\nyo\r\n'), 6],
    [1, b('*2\r\n$4\r\npong\r\n$0\r\n\r\n'), 7],
    [0, cmd('UNSUBSCRIBE'), 8],
    [1, b('*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n'), 9],
    [0, cmd('LRANGE', 'l', '0', '-1'), 10],
    [1, b('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n'), 11],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.responseTimeUs]),
    [
      ['SUBSCRIBE', 2],
      ['PING', 7],
      ['UNSUBSCRIBE', 9],
      // out of subscribed mode a ["message", …] array is an ordinary reply
      ['LRANGE', 11],
    ],
  );
  assert.equal(p.stats.messages, 4 + 8);
});

test('RESP3 pushes are never replies; a RESP3 subscribe confirmation answers SUBSCRIBE', () => {
  const { records } = run([
    [0, cmd('SUBSCRIBE', 'ch'), 1],
    [1, b('>3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n'), 2],
    [0, cmd('GET', 'k'), 3],
    [1, b('>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n'), 4],
    [1, b('$1\r\nv\r\n'), 5],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.responseTimeUs]),
    [
      ['SUBSCRIBE', 2],
      ['GET', 5],
    ],
  );
});

test('huge bulk reply streams through with a small buffer', () => {
  const p = parser({ maxBufferBytes: 4096 }) as RedisParserInstance;
  p.feed(0, cmd('GET', 'big'), 1);
  p.feed(1, b('$1000000\r\n'), 2);
  const chunk = Buffer.alloc(65536, 0x61);
  let sent = 0;
  while (sent < 1000000) {
    const n = Math.min(chunk.length, 1000000 - sent);
    p.feed(1, chunk.subarray(0, n), 3);
    sent += n;
    assert.ok(p.bufferedBytes <= 8192);
  }
  assert.equal(p.take().length, 0);
  p.feed(1, b('\r\n'), 4);
  const rs = p.take();
  assert.equal(rs.length, 1);
  assert.equal(rs[0].responseLength, 1000000 + 12);
  assert.equal(rs[0].responseTimeUs, 4);
});

test('mid-stream start: the server speaking first and a client starting mid-value resync', () => {
  // server bytes first (tail of a reply), then a fresh exchange
  const { records, p } = run([
    [1, b('xx\r\n$3\r\nabc\r\n'), 1],
    [0, cmd('GET', 'k'), 2],
    [1, b('$1\r\nv\r\n'), 3],
  ]);
  assert.deepEqual(
    records.map((r) => [r.requestType, r.responseTimeUs]),
    [['GET', 3]],
  );
  assert.ok(p.stats.bytesSkipped > 0);
  // a client stream joined in the middle of a value: a gap puts it in resync mode
  const q = parser();
  q.feed(0, cmd('SET', 'k', 'v'), 1);
  q.feed(1, b('+OK\r\n'), 2);
  q.gap(0, 100);
  q.feed(0, b('alue-tail\r\n$5\r\nvalue\r\n'), 3);
  q.feed(0, cmd('GET', 'k'), 4);
  q.feed(1, b('+OK\r\n'), 5); // reply of the command lost in the gap
  q.feed(1, b('$1\r\nv\r\n'), 6);
  const rs = q.take();
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.responseTimeUs]),
    [
      ['SET', 2],
      ['GET', 6],
    ],
  );
});

test('server-side gap: the reply in flight is lost, its command is logged as unknown', () => {
  const p = parser();
  p.feed(0, Buffer.concat([cmd('GET', 'a'), cmd('GET', 'b')]), 1);
  p.feed(1, b('$100\r\nabc'), 2);
  p.gap(1, 60);
  p.feed(1, b('$1\r\nb\r\n'), 3);
  const rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestResource, r.status, r.responseTimeUs]),
    [
      ['GET a', 'unknown', undefined],
      ['GET b', 'ok', 3],
    ],
  );
});

test('timeouts: expire() and close(); a late reply is absorbed by the expired command', () => {
  const p = parser();
  p.feed(0, cmd('BLPOP', 'q', '0'), 1000);
  p.feed(0, cmd('GET', 'x'), 5000);
  p.expire(3000, 1000);
  let rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.status]),
    [['BLPOP', 'timeout']],
  );
  p.feed(1, b('*2\r\n$1\r\nq\r\n$1\r\nv\r\n'), 9000);
  assert.equal(p.take().length, 0);
  p.feed(0, cmd('PING'), 9500);
  p.close(20000);
  rs = p.take();
  assert.deepEqual(
    rs.map((r) => [r.requestType, r.status]),
    [
      ['GET', 'timeout'],
      ['PING', 'timeout'],
    ],
  );
});

test('client protocol errors: invalid multibulk length is a request answered by an error; *0 and *-1 are nothing', () => {
  const { records } = run([
    [0, b('*-1\r\n*0\r\n'), 1],
    [0, b('*99999999999999999999\r\n'), 2],
    [1, b('-ERR Protocol error: invalid multibulk length\r\n'), 3],
  ]);
  assert.equal(records.length, 1);
  assert.equal(records[0].status, 'server_error');
  assert.equal(records[0].attributes?.['redis.request_error'], 'invalid multibulk length');
});

test('detect(): Redis yes, other protocols never yes', () => {
  const d = redisModule.detect;
  assert.equal(d(0, cmd('GET', 'k'), 6379), 'yes');
  assert.equal(d(0, cmd('hset', 'h', 'f', 'v'), 1234), 'yes');
  assert.equal(d(0, cmd('GET', 'k').subarray(0, 9), 6379), 'maybe');
  assert.equal(d(0, cmd('FOOBAR', 'k'), 6379), 'maybe');
  assert.equal(d(0, b('PING\r\n'), 6379), 'yes');
  assert.equal(d(0, b('lrange l 0 -1\r\n'), 6379), 'yes');
  assert.equal(d(0, b('GET key\r\n'), 6379), 'maybe'); // GET also starts HTTP/0.9 and memcached
  assert.equal(d(1, b('+OK\r\n'), 6379), 'maybe');
  assert.equal(d(1, b('-ERR unknown\r\n'), 6379), 'maybe');
  assert.equal(d(1, b('$5\r\nhello\r\n'), 6379), 'yes');
  assert.equal(d(1, b('*2\r\n$1\r\na\r\n:1\r\n'), 6379), 'yes');
  assert.equal(d(1, b('%1\r\n+a\r\n#t\r\n'), 6379), 'yes');
  const notRedis: Array<[0 | 1, Buffer]> = [
    [0, b('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    [0, b('GET /index.html HTTP/1.0\r\n\r\n')],
    [0, b('POST /api HTTP/1.1\r\n\r\n')],
    [1, b('HTTP/1.1 200 OK\r\n\r\n')],
    [0, Buffer.from('16030100a5010000a10303' + '00'.repeat(40), 'hex')],
    [1, Buffer.from('4a0000000a382e302e3333000a000000' + '41'.repeat(30), 'hex')],
    [1, Buffer.from('2a0000000a352e372e3000', 'hex')], // MySQL greeting of length 42 ('*')
    [0, Buffer.from('0000002a0012000000000001000c636f6e73756d65722d31', 'hex')],
    [1, Buffer.from('000000100000000100000000', 'hex')],
    [0, b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    [0, b('set k 0 0 5\r\nhello\r\n')], // memcached
    [0, b('USER anonymous\r\n')],
    [1, b('+OK POP3 server ready\r\n')],
  ];
  for (const [dir, payload] of notRedis) assert.notEqual(d(dir, payload, 6379), 'yes', payload.toString('latin1'));
  const random = new Random(12345);
  for (let i = 0; i < 20000; i++) {
    const buf = random.bytes(1 + (i % 64));
    assert.notEqual(d(0, buf, 6379), 'yes');
    assert.notEqual(d(1, buf, 6379), 'yes');
  }
});

test('fuzz: 100,000 mutated conversations never throw, hang or buffer beyond the bound', () => {
  const seeds: Buffer[][] = [
    [cmd('SET', 'key', 'value'), b('+OK\r\n')],
    [Buffer.concat([cmd('GET', 'a'), cmd('MGET', 'a', 'b')]), b('$1\r\nx\r\n*2\r\n$-1\r\n:7\r\n')],
    [b('PING\r\nset a "b c"\r\n'), b('+PONG\r\n-ERR x\r\n')],
    [cmd('HELLO', '3'), b('|1\r\n+a\r\n+b\r\n%2\r\n+x\r\n~1\r\n,1.5\r\n+y\r\n>2\r\n$1\r\na\r\n(12\r\n!3\r\nERR\r\n=7\r\ntxt:abc\r\n_\r\n#t\r\n')],
    [cmd('SUBSCRIBE', 'c'), b('*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n')],
  ];
  const random = new Random(987654321);
  // The 'length' mutation: a RESP bulk length and an array count, huge or negative, inserted anywhere.
  const lengths = (m: Buffer, r: Random): Buffer => {
    const s = b(`$${r.int(2) ? r.int(1 << 30) : -r.int(100)}\r\n*${r.int(1 << 20)}\r\n`);
    const at = r.int(m.length);
    return Buffer.concat([m.subarray(0, at), s, m.subarray(at)]);
  };
  const maxBufferBytes = 1024;
  for (let i = 0; i < 100000; i++) {
    const seed = seeds[i % seeds.length];
    const p = parser({ maxBufferBytes }) as RedisParserInstance;
    for (let dir = 0; dir < 2; dir++) {
      const data = mutate(seed[dir], random, { kinds: ['flip', 'truncate', 'length', 'random', 'overwrite'], length: lengths, randomMax: 200 });
      let off = 0;
      while (off < data.length) {
        const n = 1 + random.int(data.length);
        p.feed(dir as 0 | 1, data.subarray(off, off + n), i);
        off += n;
        assert.ok(p.bufferedBytes <= 2 * maxBufferBytes); // both directions, each within maxBufferBytes
      }
      if (random.int(10) === 0) p.gap(dir as 0 | 1, 10);
    }
    p.expire(i + 10, 5);
    p.close(i + 20);
    for (const r of p.take()) assert.equal(typeof r.requestType, 'string');
  }
});

interface RedisOracle {
  requests: number;
  responses: number;
  errors: number;
  error_prefix_counts: Record<string, number>;
  unanswered_requests: number;
  transactions: Array<{ stream: number; endpoint: string; rt_s: number; error: boolean }>;
}

/**
 * Where we count differently from tshark (corpus README "Limits"), with the reason:
 * - tcpdump_resp_3_malicious: tshark reads `*-20\r\n` and `*-1\r\n` (own connections, never
 *   answered) as null arrays = 2 requests; Redis reads a multibulk count ≤ 0 as nothing and does
 *   not reply, so we log none. `*10000…\r\n` (an invalid count) tshark leaves unparsed and its
 *   `-ERR Protocol error` reply unpaired; Redis answers it, so we log it as a request (with
 *   attribute redis.request_error) paired with that error: ours 21 requests / 21 replies (9
 *   errors), tshark 22 / 21 (20 paired, one reply without request).
 * - zeek_redis-pubsub: the 3 pushed messages (1 `message`, 2 `pmessage`) are replies for tshark
 *   (10 responses, 3 without request); for us they answer no command: 7 responses.
 */
const EXPECTED: Record<string, { requests: number; responses: number; extraPairs?: number }> = {
  'tcpdump_resp_3_malicious.pcap': { requests: 21, responses: 21, extraPairs: 1 },
  'zeek_redis-pubsub.pcap': { requests: 7, responses: 7 },
};

test('corpus: every Redis capture against its tshark oracle', (t) => {
  const dir = corpusDir();
  if (!dir || !existsSync(join(dir, 'redis'))) {
    t.skip('corpus not found');
    return;
  }
  const files = [
    'deepflow_redis-debug.pcap',
    'deepflow_redis-error.pcap',
    'deepflow_redis.pcap',
    'ndpi_resp.pcap',
    'tcpdump_resp_1_benchmark.pcap',
    'tcpdump_resp_2_inline.pcap',
    'tcpdump_resp_3_malicious.pcap',
    'zeek_redis-auth.pcap',
    'zeek_redis-bulk-loading.pcap',
    'zeek_redis-pipeline-quotes.pcap',
    'zeek_redis-pubsub.pcap',
    'zeek_redis-set.pcap',
    'zeek_redis-stream.pcap',
  ];
  for (const f of files) {
    const path = join(dir, 'redis', f);
    const json = JSON.parse(readFileSync(path + '.oracle.json', 'utf8'));
    const oracle = json.l7.redis as RedisOracle;
    const list = json.flows.list as Array<{ client: string; server: string }>;
    const flows = parseCapture(path, redisModule);
    const rs = flows.flatMap((fl) => fl.records);
    const answered = rs.filter((r) => r.responseTimeUs !== undefined);
    const expected = EXPECTED[f] ?? { requests: oracle.requests, responses: oracle.responses };
    assert.equal(rs.filter((r) => r.countsAsRequest).length, expected.requests, `${f} requests`);
    assert.equal(answered.length, expected.responses, `${f} responses`);
    // unanswered commands are timeouts at the end of the capture
    assert.equal(
      rs.filter((r) => r.status === 'timeout').length,
      expected.requests - expected.responses,
      `${f} timeouts`,
    );
    const prefixes: Record<string, number> = {};
    for (const r of rs) if (r.status === 'server_error') prefixes[r.responseException ?? ''] = (prefixes[r.responseException ?? ''] ?? 0) + 1;
    assert.deepEqual(prefixes, oracle.error_prefix_counts, `${f} error prefixes`);
    assert.equal(
      rs.filter((r) => r.status === 'server_error').length,
      oracle.errors,
      `${f} errors`,
    );
    // response times: the oracle's pairs of each TCP stream, in order, against ours
    const byStream = new Map<number, RedisOracle['transactions']>();
    for (const x of oracle.transactions) byStream.set(x.stream, [...(byStream.get(x.stream) ?? []), x]);
    let compared = 0;
    for (const [stream, txs] of byStream) {
      const fl = flows.find((q) => q.client === list[stream].client && q.server === list[stream].server);
      assert.ok(fl, `${f} stream ${stream}`);
      const ours = fl.records.filter((r) => r.responseTimeUs !== undefined);
      assert.equal(ours.length, txs.length, `${f} stream ${stream} pairs`);
      for (let i = 0; i < txs.length; i++) {
        const rt = ours[i].responseTimeUs! - ours[i].requestTimeUs!;
        assert.ok(Math.abs(rt - Math.round(txs[i].rt_s * 1e6)) <= 1, `${f} stream ${stream} #${i}: ${rt} µs vs ${txs[i].rt_s} s`);
        assert.equal(ours[i].status === 'server_error', txs[i].error, `${f} stream ${stream} #${i} error`);
        // tshark names inline commands INLINE / UNKNOWN; we name them by their first word
        if (txs[i].endpoint !== 'INLINE' && txs[i].endpoint !== 'UNKNOWN') assert.equal(ours[i].endpoint, txs[i].endpoint);
        compared++;
      }
    }
    assert.equal(compared + (expected.extraPairs ?? 0), answered.length, `${f} all pairs compared`);
    for (const fl of flows) {
      if (f !== 'tcpdump_resp_3_malicious.pcap') assert.equal(fl.parser.stats.parseErrors, 0, `${f} parse errors`);
      assert.equal(fl.parser.stats.bytesSkipped, 0, `${f} bytes skipped`);
    }
  }
});
