import assert from 'node:assert/strict';
import { test } from 'node:test';
import { L7Output } from '../l7/l7-output';
import { ALL_L7_MODULES } from '../l7/modules';
import { ProtocolInference } from '../l7/protocol-inference';
import { RowCollector } from '../store/row-collector';
import { dataRecord as encodeData, sockEventRecord } from '../testing/loader-stream';
import { LoaderStreamParser } from './loader-records';
import { ProcessTags, SocketDataEvent, SocketTracker } from './socket-tracker';

const tags: ProcessTags = {
  local: (pid, comm) => ({ pid, process: comm, container: pid === 42 ? 'c0ffee' : '', service: comm === 'nginx' ? 'web' : comm }),
  isListening: (_t, port) => port === 8080,
};

function setup(): { sink: RowCollector; out: L7Output; tracker: SocketTracker } {
  const sink = new RowCollector();
  const out = new L7Output(sink, 'host-a');
  const tracker = new SocketTracker(out, new ProtocolInference(ALL_L7_MODULES), tags);
  return { sink, out, tracker };
}

const CLIENT = { transport: 'tcp' as const, localIp: '127.0.0.1', localPort: 50000, remoteIp: '127.0.0.1', remotePort: 8080 };
const SERVER = { transport: 'tcp' as const, localIp: '127.0.0.1', localPort: 8080, remoteIp: '127.0.0.1', remotePort: 50000 };
const REQUEST = 'GET /api/items/7 HTTP/1.1\r\nHost: shop\r\nUser-Agent: curl/7.88.1\r\n\r\n';
const RESPONSE = 'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found';

function ev(base: typeof CLIENT, pid: number, comm: string, tsUs: number, direction: 'egress' | 'ingress', text: string, extra: Partial<SocketDataEvent> = {}): SocketDataEvent {
  const payload = Buffer.from(text);
  return { ...base, tsUs, pid, comm, socketId: `s${pid}`, direction, bytes: payload.length, payload, tls: false, ...extra };
}

test('a client and a server socket of one request give a c-p and an s-p row with process tags', () => {
  const { sink, out, tracker } = setup();
  tracker.role({ ...CLIENT, tsUs: 1, pid: 7, comm: 'curl', socketId: 's7', role: 'client' });
  tracker.data(ev(CLIENT, 7, 'curl', 100, 'egress', REQUEST));
  tracker.data(ev(SERVER, 42, 'nginx', 110, 'ingress', REQUEST));
  tracker.data(ev(SERVER, 42, 'nginx', 300, 'egress', RESPONSE));
  tracker.data(ev(CLIENT, 7, 'curl', 320, 'ingress', RESPONSE));
  out.flush();
  const rows = sink.rows('l7_flow_log');
  assert.deepEqual(
    rows.map((r) => [r.tap_side, r.signal_source, r.endpoint, r.response_code, r.response_duration, r.process_0 ?? '', r.process_1 ?? '', r.service_1]),
    [
      ['s-p', 'ebpf', '/api/items', 404, 190, '', 'nginx', 'web'],
      ['c-p', 'ebpf', '/api/items', 404, 220, 'curl', '', '127.0.0.1:8080'],
    ],
  );
  assert.equal(rows[0].container_1, 'c0ffee');
  assert.equal(rows[1].pid_0, 7);
  const red = sink.rows('application_map_1s');
  assert.deepEqual(red.map((r) => [r.tap_side, r.request, r.error, r.client_error]).sort(), [
    ['c-p', 1, 1, 1],
    ['s-p', 1, 1, 1],
  ]);
});

test('bytes beyond the captured prefix are a gap the parser steps over', () => {
  const { sink, out, tracker } = setup();
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n';
  tracker.data(ev(CLIENT, 7, 'curl', 100, 'egress', REQUEST));
  tracker.data(ev(CLIENT, 7, 'curl', 200, 'ingress', head + 'x'.repeat(100), { bytes: head.length + 5000 }));
  tracker.data(ev(CLIENT, 7, 'curl', 300, 'egress', REQUEST));
  tracker.data(ev(CLIENT, 7, 'curl', 400, 'ingress', RESPONSE));
  out.flush();
  assert.deepEqual(
    sink.rows('l7_flow_log').map((r) => [r.response_code, r.response_duration]),
    [
      [200, 100],
      [404, 100],
    ],
  );
  assert.equal(tracker.stats.bytesMissed, 4900);
});

test('TLS plaintext is its own flow, marked; close flushes a pending request as a timeout', () => {
  const { sink, out, tracker } = setup();
  tracker.data(ev(CLIENT, 7, 'curl', 100, 'egress', REQUEST, { tls: true }));
  tracker.data(ev(CLIENT, 7, 'curl', 200, 'ingress', RESPONSE, { tls: true }));
  tracker.data(ev(CLIENT, 7, 'curl', 300, 'egress', REQUEST, { tls: true }));
  tracker.close(7, 's7', 1000);
  out.flush();
  const rows = sink.rows<{ response_status: string; attributes: Record<string, string> }>('l7_flow_log');
  assert.deepEqual(
    rows.map((r) => [r.response_status, r.attributes.tls]),
    [
      ['client_error', 'true'],
      ['timeout', 'true'],
    ],
  );
  assert.equal(tracker.openSockets, 0);
});

test('a socket without connect/accept seen is a server when its port listens', () => {
  const { sink, out, tracker } = setup();
  tracker.data(ev(SERVER, 42, 'nginx', 10, 'ingress', REQUEST));
  tracker.data(ev(SERVER, 42, 'nginx', 20, 'egress', RESPONSE));
  out.flush();
  assert.equal(sink.rows('l7_flow_log')[0].tap_side, 's-p');
});

test('plaintext of a TLS server is parsed as its protocol even after the server is known as TLS', () => {
  const { sink, out, tracker } = setup();
  const hello = Buffer.from('16030100310100002d0303' + '00'.repeat(32) + '000004c02f00ff0100', 'hex');
  tracker.data({ ...ev(SERVER, 42, 'nginx', 1, 'ingress', ''), payload: hello, bytes: hello.length });
  tracker.data(ev(SERVER, 42, 'nginx', 10, 'ingress', REQUEST, { tls: true }));
  tracker.data(ev(SERVER, 42, 'nginx', 20, 'egress', RESPONSE, { tls: true }));
  out.flush();
  const http = sink.rows('l7_flow_log').filter((r) => r.l7_protocol === 'http1');
  assert.equal(http.length, 1);
  assert.equal(http[0].response_code, 404);
});

test('loader records: a socket is its sock pointer and pid, colliding keys stay apart, close forgets the role', () => {
  const { sink, out, tracker } = setup();
  const parser = new LoaderStreamParser({ data: (d) => tracker.loaderData(d, d.tsUs), sockEvent: (e) => tracker.loaderEvent(e, e.tsUs) });
  // The same low 32 bits: one Map key, three sockets (a client, a server, the server's socket in a forked worker).
  const client = 0xffff888100000040n;
  const server = 0xffff888200000040n;
  const c = { sockId: client, pid: 7, comm: 'curl', localPort: 50000, remotePort: 8080 };
  const s = { sockId: server, pid: 42, comm: 'nginx', localPort: 8080, remotePort: 50000 };
  const w = { ...s, pid: 43, comm: 'nginx-worker' };
  const data = (side: typeof c, us: number, direction: 0 | 1, text: string): Buffer => encodeData({ ...side, tsNs: BigInt(us) * 1000n, direction, payload: Buffer.from(text) });
  parser.feed(
    Buffer.concat([
      sockEventRecord({ ...c, tsNs: 50_000n, kind: 1 }),
      data(c, 100, 0, REQUEST),
      data(s, 110, 1, REQUEST),
      data(s, 300, 0, RESPONSE),
      data(w, 305, 1, REQUEST),
      data(c, 320, 1, RESPONSE),
      data(w, 400, 0, RESPONSE),
    ]),
  );
  assert.equal(tracker.openSockets, 3);
  parser.feed(sockEventRecord({ ...c, tsNs: 500_000n, kind: 3 }));
  assert.equal(tracker.openSockets, 2);
  // The address reused by a socket that connected to a port that listens here: a client.
  parser.feed(Buffer.concat([sockEventRecord({ ...c, tsNs: 600_000n, kind: 1, localPort: 8080 }), data({ ...c, localPort: 8080 }, 700, 0, REQUEST), data({ ...c, localPort: 8080 }, 800, 1, RESPONSE)]));
  out.flush();
  assert.deepEqual(
    sink.rows('l7_flow_log').map((r) => [r.tap_side, r.response_duration, r.process_0 ?? '', r.process_1 ?? '']),
    [
      ['s-p', 190, '', 'nginx'],
      ['c-p', 220, 'curl', ''],
      ['s-p', 95, '', 'nginx-worker'],
      ['c-p', 100, 'curl', ''],
    ],
  );
  assert.equal(tracker.stats.sockets, 4);
});
