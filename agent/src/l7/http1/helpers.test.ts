import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Random } from '../../testing/fuzz';
import { detectHttp1 } from './detect';
import { contentLength, contentLengthOf, FieldNames, isTokenChar, parseHeaderBlock, parseRequestLine, parseRequestLineLenient, parseStatusLine } from './http-head';
import { endpointOfPath, looksLikeHash, normalizeSegment, pathOfTarget } from './path-normalizer';
import { extractTraceContext, parseSw8, parseTraceparent } from './trace-context';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * The reference the byte-level header parsing is checked against: the header fields of the lines after
 * the start line (each without CR LF) as strings in a Map, the way the parser read them before.
 * Malformed lines are ignored.
 */
function parseHeaderLines(lines: Buffer[]): Map<string, string> {
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of lines) {
    if (line.length === 0) continue;
    if ((line[0] === 0x20 || line[0] === 0x09) && last !== undefined) {
      const cont = line.toString('latin1').trim();
      if (cont.length > 0) headers.set(last, `${headers.get(last) ?? ''} ${cont}`.trim());
      continue;
    }
    const colon = line.indexOf(0x3a);
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    let ok = true;
    for (let i = 0; i < colon; i++) {
      if (!isTokenChar(line[i])) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      last = undefined;
      continue;
    }
    const name = line.toString('latin1', 0, colon).toLowerCase();
    const value = line.toString('latin1', colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
    last = name;
  }
  return headers;
}

/** Splits a head (start line to the empty line, exclusive) into lines without CR LF. */
function splitLines(head: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const lf = head.indexOf(0x0a, start);
    const end = lf < 0 ? head.length : lf;
    const lineEnd = end > start && head[end - 1] === 0x0d ? end - 1 : end;
    lines.push(head.subarray(start, lineEnd));
    if (lf < 0) break;
    start = lf + 1;
    if (start >= head.length) break;
  }
  return lines;
}

test('path normaliser: ids, uuids, hashes, cut to N segments', () => {
  assert.equal(normalizeSegment('12345'), '{id}');
  assert.equal(normalizeSegment('3f2504e0-4f89-11d3-9a0c-0305e82c3301'), '{uuid}');
  assert.equal(normalizeSegment('d41d8cd98f00b204e9800998ecf8427e'), '{hash}');
  assert.equal(normalizeSegment('dGhpcyBpcyBhIHRva2VuMTIz'), '{hash}');
  assert.equal(normalizeSegment('users'), 'users');
  assert.equal(normalizeSegment('v1'), 'v1');
  assert.equal(looksLikeHash('my-Blog-post-2023-about-things'), false);
  assert.equal(looksLikeHash('deadbeefdeadbeef'), false, 'hex without a digit is a word');
  assert.equal(endpointOfPath('/api/v1/users/42'), '/api/v1');
  assert.equal(endpointOfPath('/users/42/orders'), '/users/{id}');
  assert.equal(endpointOfPath('/users/42/orders', 3), '/users/{id}/orders');
  assert.equal(endpointOfPath('/'), '/');
  assert.equal(endpointOfPath('//a///b/c'), '/a/b');
  assert.equal(endpointOfPath('/x/3f2504e0-4f89-11d3-9a0c-0305e82c3301', 5), '/x/{uuid}');
  // Remembered endpoints: any digits match an all-digit segment, nothing else does.
  assert.equal(endpointOfPath('/users/43/orders'), '/users/{id}');
  assert.equal(endpointOfPath('/users/4a/orders'), '/users/4a');
  assert.equal(endpointOfPath('/users/4/orders', 1), '/users');
  assert.equal(endpointOfPath('/users/12/orders', 3), '/users/{id}/orders');
  assert.equal(endpointOfPath('/users/12/order', 3), '/users/{id}/order');
  assert.equal(endpointOfPath('/users//12', 0), '/');
  assert.equal(pathOfTarget('/a/b?x=1#f'), '/a/b');
  assert.equal(pathOfTarget('http://example.com/a?q'), '/a');
  assert.equal(pathOfTarget('http://example.com'), '/');
});

test('trace context: traceparent, b3, X-B3, uber-trace-id, sw8', () => {
  const get = (h: Record<string, string>) => (n: string) => h[n];
  assert.deepEqual(extractTraceContext(get({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
  });
  assert.deepEqual(extractTraceContext(get({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90' })), {
    traceId: '80f198ee56343ba864fe8b2a57d3eff7',
    spanId: 'e457b5a2e4d86bd1',
    parentSpanId: '05e3ac9a4f6e3b90',
  });
  assert.deepEqual(extractTraceContext(get({ b3: '0' })), {});
  assert.deepEqual(extractTraceContext(get({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-parentspanid': '0020000000000001' })), {
    traceId: '463ac35c9f6413ad',
    spanId: 'a2fb4a1d1a96d312',
    parentSpanId: '0020000000000001',
  });
  assert.deepEqual(extractTraceContext(get({ 'uber-trace-id': '5b8aa5a2d2c872e8321cf37308d69df2%3A51b8ad0cd4a8c7b4%3A0%3A1' })), {
    traceId: '5b8aa5a2d2c872e8321cf37308d69df2',
    spanId: '51b8ad0cd4a8c7b4',
  });
  const t = Buffer.from('trace-abc.1').toString('base64');
  const seg = Buffer.from('seg-xyz.2').toString('base64');
  const svc = Buffer.from('svc').toString('base64');
  assert.deepEqual(parseSw8(`1-${t}-${seg}-3-${svc}-${svc}-${svc}-${svc}`), { traceId: 'trace-abc.1', spanId: 'seg-xyz.2-3' });
  assert.equal(parseSw8('1-!!!-x-3'), undefined);
  assert.deepEqual(extractTraceContext(get({ traceparent: 'garbage' })), {});
});

test('traceparent: what the W3C form accepts and rejects', () => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736';
  const span = '00f067aa0ba902b7';
  const ok = { traceId: id, spanId: span };
  assert.deepEqual(parseTraceparent(`00-${id}-${span}-01`), ok);
  assert.deepEqual(parseTraceparent(`00-${id}-${span}`), ok, 'flags are optional');
  assert.deepEqual(parseTraceparent(`  01-${id}-${span}-01-future  `), ok, 'a later version may add fields; white space is trimmed');
  assert.deepEqual(parseTraceparent(`00-${id.toUpperCase()}-${span.toUpperCase()}-01`), ok, 'ids are lower-cased');
  assert.equal(parseTraceparent(`ff-${id}-${span}-01`), undefined, 'version ff is invalid');
  assert.equal(parseTraceparent(`FF-${id}-${span}-01`), undefined);
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-${span}-01`), undefined, 'an all-zero trace id is invalid');
  assert.equal(parseTraceparent(`00-${id}-${'0'.repeat(16)}-01`), undefined, 'an all-zero span id is invalid');
  assert.equal(parseTraceparent(`00-${id.slice(1)}-${span}-01`), undefined, 'a short trace id');
  assert.equal(parseTraceparent(`00-${id}-${span.slice(1)}`), undefined, 'a short span id');
  assert.equal(parseTraceparent(`00-${id.slice(0, 31)}g-${span}-01`), undefined, 'not hex');
  assert.equal(parseTraceparent(`00-${id.slice(0, 31)}\x16-${span}-01`), undefined, 'a control character is no digit');
  assert.equal(parseTraceparent(`00_${id}-${span}-01`), undefined);
});

test('start lines and headers', () => {
  assert.deepEqual(parseRequestLine(b('PURGE /x HTTP/1.0')), { method: 'PURGE', target: '/x', version: '1.0' });
  assert.equal(parseRequestLine(b('GET key')), undefined);
  assert.equal(parseRequestLine(b('GET / HTTP/2.0')), undefined);
  assert.deepEqual(parseStatusLine(b('HTTP/1.1 404 Not Found')), { version: '1.1', code: 404 });
  assert.deepEqual(parseStatusLine(b('HTTP/1.0 200')), { version: '1.0', code: 200 });
  assert.equal(parseStatusLine(b('HTTP/1.1 20x OK')), undefined);
  assert.deepEqual(parseRequestLineLenient(b('GET / HTTP/1.')), { method: 'GET', target: '/', version: '' });
  assert.deepEqual(parseRequestLineLenient(b('GET /HTTP/1.1')), { method: 'GET', target: '/HTTP/1.1', version: '' });
  assert.deepEqual(parseRequestLineLenient(b('OPTIONS HTTP/1.1')), { method: 'OPTIONS', target: '', version: '1.1' });
  assert.equal(parseRequestLineLenient(b('OPTIONS')), undefined);
  assert.equal(parseRequestLineLenient(b('the quick brown fox')), undefined);
  assert.equal(parseRequestLineLenient(b('GET key')), undefined);
  const h = parseHeaderLines(splitLines(b('Host: a\r\nX-Long: one\r\n  two\r\nACCEPT: x\r\naccept: y\r\nbad line\r\n')));
  assert.equal(h.get('host'), 'a');
  assert.equal(h.get('x-long'), 'one two');
  assert.equal(h.get('accept'), 'x, y');
  assert.equal(h.size, 3);
});

test('detect: HTTP yes, other protocols no', () => {
  assert.equal(detectHttp1(0, b('GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n'), 80), 'yes');
  assert.equal(detectHttp1(0, b('MKCALENDAR /cal HTTP/1.1\r\n'), 8080), 'yes');
  assert.equal(detectHttp1(1, b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 80), 'yes');
  assert.equal(detectHttp1(1, b('HTTP/1.0 404\r\n'), 80), 'yes');
  assert.equal(detectHttp1(0, b('GET /very/long/path'), 80), 'maybe', 'incomplete first line');
  assert.equal(detectHttp1(1, b('GET / HTTP/1.1\r\n'), 80), 'maybe', 'wrong direction');
  // Redis inline command: no HTTP version.
  assert.equal(detectHttp1(0, b('GET key\r\n'), 6379), 'no');
  assert.equal(detectHttp1(0, b('PING\r\n'), 6379), 'no');
  // Redis RESP array.
  assert.equal(detectHttp1(0, b('*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n'), 6379), 'no');
  // TLS ClientHello.
  assert.equal(detectHttp1(0, Buffer.from('16030100c4010000c00303' + '00'.repeat(40), 'hex'), 443), 'no');
  // MySQL server greeting (protocol 10, "8.0.32").
  assert.equal(detectHttp1(1, Buffer.from('4a0000000a382e302e333200', 'hex'), 3306), 'no');
  // Kafka request header (size, api key, version, correlation id).
  assert.equal(detectHttp1(0, Buffer.from('0000001f00120003000000010006636c69656e74', 'hex'), 9092), 'no');
  // HTTP/2 preface.
  assert.equal(detectHttp1(0, b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 80), 'no');
  const random = new Random(7);
  for (let i = 0; i < 2000; i++) {
    const r = random.bytes(64);
    r[0] |= 0x80; // not ASCII: never a start line
    assert.equal(detectHttp1(0, r, 80), 'no');
  }
});

test('parseHeaderBlock gives what parseHeaderLines gives for the names it is given, on random heads', () => {
  const random = new Random(11);
  const pieces = ['Host', 'HOST', 'content-Length', 'X-Trace', 'x-b3-TraceId', 'a', '', ':', ': ', ' ', '\t', '\r', '\n', '\r\n', '\xa0', 'v', '1', '007', ',', 'bad line', 'Ä', '"', '(x)'];
  const list = ['host', 'Content-Length', 'x-b3-traceid', 'X-TRACE', 'a', 'v_x', 'host'];
  const withText = new FieldNames(list);
  const lengthOnly = new FieldNames(list, false);
  const lengthSlot = withText.slotOf('content-length');
  assert.equal(withText.names.length, 6);
  assert.equal(lengthOnly.lengthOnlySlot, lengthSlot);
  for (let i = 0; i < 3000; i++) {
    let text = '';
    const n = random.int(12);
    for (let j = 0; j < n; j++) text += random.pick(pieces);
    const buf = Buffer.from(`GET / HTTP/1.1\r\n${text}`, 'latin1');
    const lf = buf.indexOf(0x0a);
    const expected = parseHeaderLines(splitLines(buf).slice(1));
    const all = parseHeaderBlock(buf, lf + 1, buf.length, withText);
    const digits = parseHeaderBlock(buf, lf + 1, buf.length, lengthOnly);
    assert.equal(all.length, -1);
    withText.names.forEach((name, slot) => {
      assert.equal(all.values[slot], expected.get(name), JSON.stringify(text));
      if (slot !== lengthSlot) assert.equal(digits.values[slot], expected.get(name), JSON.stringify(text));
    });
    const wanted = contentLengthOf(expected.get('content-length'));
    assert.equal(contentLength(all, lengthSlot), wanted, JSON.stringify(text));
    assert.equal(contentLength(digits, lengthSlot), wanted, JSON.stringify(text));
  }
});

test('parseHeaderBlock leaves out the fields it is not given, folded lines included', () => {
  const buf = b('GET / HTTP/1.1\r\nHost: a\r\nDate: x\r\n  y\r\nAccept: z\r\nX-Long: one\r\n  two\r\nx_u: 1\r\nContent-Length: 0012\r\n\r\n');
  const names = new FieldNames(['host', 'x-long', 'x_u', 'content-length'], false);
  const h = parseHeaderBlock(buf, buf.indexOf(0x0a) + 1, buf.length - 2, names);
  // Values not found are holes of the list, read as undefined.
  assert.deepEqual({ values: [...h.values], length: h.length }, { values: ['a', 'one two', '1', undefined], length: 12 });
});
