/**
 * TCP tracepoint records → network rows at c-p / s-p, with records crafted as the loader writes
 * them (bpf/README.md "tcp event"); the sequences are the ones a real run produces (see
 * live-tcp-events.test.ts): a refused connect is SYN_SENT, a reset from nobody (sock 0), the reset
 * received in SYN_SENT and CLOSE with ECONNREFUSED; a reset sent with SO_LINGER 0 comes after
 * the socket's CLOSE.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RowCollector } from '../store/row-collector';
import { LoaderStreamParser, RecordType, TcpEvent } from './loader-records';
import { closeType, TcpEventKind, TcpEventMetrics, TcpSocketOwners, TcpState } from './tcp-events';

const T0 = 1_700_000_000_000_000; // µs, at a second boundary

type Row = Record<string, string | number | Record<string, number> | undefined>;

function owners(listeners: Record<number, number> = {}): TcpSocketOwners {
  const names: Record<number, string> = { 100: 'curl', 200: 'nginx', 300: 'redis-cli', 400: 'sshd' };
  return {
    local: (pid, comm) => ({ pid, process: names[pid] ?? comm, container: '', service: names[pid] ?? comm }),
    listener: (port) => listeners[port],
  };
}

let nextId = 0x1000;
function ev(kind: number, sockId: string, o: Partial<TcpEvent> = {}): TcpEvent {
  return {
    tsNs: 0n,
    sockId,
    pid: 0,
    comm: '',
    kind,
    localIp: '127.0.0.1',
    localPort: 40000,
    remoteIp: '127.0.0.1',
    remotePort: 8080,
    oldState: -1,
    newState: -1,
    srttUs: 0,
    value: 0,
    segs: 0,
    ...o,
  };
}

const state = (sockId: string, from: number, to: number, o: Partial<TcpEvent> = {}): TcpEvent => ev(TcpEventKind.state, sockId, { oldState: from, newState: to, ...o });

function run(build: (m: TcpEventMetrics) => void, listeners: Record<number, number> = {}): { rows: Row[]; minute: Row[]; m: TcpEventMetrics } {
  const sink = new RowCollector();
  const m = new TcpEventMetrics(sink, 'h', owners(listeners), { ownPorts: [8123] });
  build(m);
  m.finish(T0 + 10_000_000);
  return { rows: sink.rows<Row>('network_map_1s'), minute: sink.rows<Row>('network_map_1m'), m };
}

/** The rows at one tap side and server port, metrics summed (tags from the first). */
function sum(rows: Row[], tapSide: string, port1: number): Row {
  const out: Row = {};
  for (const r of rows.filter((x) => x.tap_side === tapSide && x.port_1 === port1)) {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v === 'number' && !['time', 'port_1', 'pid_0', 'pid_1'].includes(k)) out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (out[k] === undefined) out[k] = v;
    }
  }
  return out;
}

test('connects refused N times: N server_establish_fail (server_direct_rst) at c-p for the connecting process', () => {
  const { rows, m } = run((m) => {
    for (let i = 0; i < 3; i++) {
      const id = (nextId++).toString(16);
      const t = T0 + i * 1000;
      // connect() in the process's context: the local port is not bound yet.
      m.event(state(id, TcpState.close, TcpState.synSent, { pid: 100, comm: 'curl', localPort: 0 }), t);
      m.event(ev(TcpEventKind.sendReset, '0', { localPort: 8080, remotePort: 40000 + i, value: 1 }), t + 10);
      m.event(ev(TcpEventKind.receiveReset, id, { localPort: 40000 + i, oldState: TcpState.synSent }), t + 20);
      m.event(state(id, TcpState.synSent, TcpState.close, { localPort: 40000 + i, value: 111 }), t + 30);
    }
  });
  const r = sum(rows, 'c-p', 8080);
  assert.deepEqual(
    [r.signal_source, r.protocol, r.ip_0, r.ip_1, r.pid_0, r.process_0, r.service_0, r.service_1, r.pid_1, r.process_1],
    ['ebpf', 'tcp', '127.0.0.1', '127.0.0.1', 100, 'curl', 'curl', '127.0.0.1:8080', 0, ''],
  );
  assert.deepEqual(
    [r.new_flow, r.closed_flow, r.rst_count, r.server_establish_fail, r.close_server_direct_rst, r.client_establish_fail, r.tcp_rst_fail, r.flow_load],
    [3, 3, 3, 3, 3, undefined, undefined, undefined],
  );
  assert.equal(m.stats.withoutSocket, 3, 'the RSTs the closed port sent belong to no socket');
  assert.equal(rows.filter((x) => x.tap_side === 's-p').length, 0);
});

test('a connect that times out: SYN retransmissions and server_syn_miss', () => {
  const id = (nextId++).toString(16);
  const { rows } = run((m) => {
    m.event(state(id, TcpState.close, TcpState.synSent, { pid: 300, comm: 'redis-cli', localPort: 0 }), T0);
    m.event(ev(TcpEventKind.retransmit, id, { oldState: TcpState.synSent, segs: 1 }), T0 + 1_000_000);
    m.event(ev(TcpEventKind.retransmit, id, { oldState: TcpState.synSent, segs: 1 }), T0 + 3_000_000);
    m.event(state(id, TcpState.synSent, TcpState.close, { value: 110 }), T0 + 7_000_000);
  });
  const r = sum(rows, 'c-p', 8080);
  assert.deepEqual([r.process_0, r.retrans_syn, r.retrans_tx, r.close_server_syn_miss, r.server_establish_fail, r.rst_count], ['redis-cli', 2, undefined, 1, 1, undefined]);
});

test('a server resets with SO_LINGER 0: its reset follows its CLOSE, both sides count it; the accepted socket waits for its accept', () => {
  const client = (nextId++).toString(16);
  const server = (nextId++).toString(16);
  const srv = { localPort: 8080, remotePort: 40000 };
  const { rows } = run((m) => {
    m.event(state(client, TcpState.close, TcpState.synSent, { pid: 100, comm: 'curl', localPort: 0 }), T0);
    m.event(state(client, TcpState.synSent, TcpState.established, { srttUs: 40 }), T0 + 100);
    // Born in softirq (pid unrelated), accepted later by pid 200.
    m.event(state(server, TcpState.synRecv, TcpState.established, { ...srv, srttUs: 30, pid: 100 }), T0 + 110);
    m.socketOwner(server, 200, 'nginx', 'server', { transport: 'tcp', localIp: '127.0.0.1', remoteIp: '127.0.0.1', ...srv }, T0 + 200);
    m.event(ev(TcpEventKind.rtt, client, { srttUs: 60 }), T0 + 300);
    // resetAndDestroy(): CLOSE first (sk_err not set yet), then the reset it sends.
    m.event(state(server, TcpState.established, TcpState.close, srv), T0 + 400);
    m.event(ev(TcpEventKind.sendReset, server, { ...srv, oldState: TcpState.close, value: 14 }), T0 + 410);
    m.event(ev(TcpEventKind.receiveReset, client, { oldState: TcpState.established }), T0 + 420);
    m.event(state(client, TcpState.established, TcpState.close, { value: 104 }), T0 + 430);
    m.tick(T0 + 500_000);
  });
  const c = sum(rows, 'c-p', 8080);
  const s = sum(rows, 's-p', 8080);
  assert.deepEqual(
    [c.pid_0, c.new_flow, c.closed_flow, c.rst_count, c.close_server_rst, c.tcp_rst_fail, c.rtt_sum, c.rtt_count, c.rtt_max, c.rtt_hist],
    [100, 1, 1, 1, 1, 1, 100, 2, 60, { '6': 2 }],
  );
  assert.deepEqual(
    [s.pid_1, s.process_1, s.service_1, s.pid_0, s.new_flow, s.closed_flow, s.rst_count, s.close_server_rst, s.tcp_rst_fail, s.rtt_sum, s.rtt_count],
    [200, 'nginx', 'nginx', 0, 1, 1, 1, 1, 1, 30, 1],
  );
  // Every close of both is settled within the second it happened in.
  assert.deepEqual(
    rows.map((r) => r.time),
    [T0 / 1e6, T0 / 1e6],
  );
});

test('a client that resets counts client_rst; a FIN close counts fin; data retransmissions by direction; failed ones not at all', () => {
  const a = (nextId++).toString(16);
  const b = (nextId++).toString(16);
  const srv = { localPort: 8080, remotePort: 40001 };
  const { rows, m } = run((m) => {
    m.event(state(a, TcpState.close, TcpState.synSent, { pid: 100, comm: 'curl', localPort: 0 }), T0);
    m.event(state(a, TcpState.synSent, TcpState.established), T0 + 10);
    m.event(ev(TcpEventKind.retransmit, a, { oldState: TcpState.established, segs: 3 }), T0 + 20);
    m.event(ev(TcpEventKind.retransmit, a, { oldState: TcpState.established, segs: 1, value: (-16 >>> 0) }), T0 + 30);
    m.event(state(a, TcpState.established, TcpState.close), T0 + 40);
    m.event(ev(TcpEventKind.sendReset, a, { oldState: TcpState.close }), T0 + 41);
    m.event(state(b, TcpState.synRecv, TcpState.established, srv), T0 + 50);
    m.socketOwner(b, 200, 'nginx', 'server', { transport: 'tcp', localIp: '127.0.0.1', remoteIp: '127.0.0.1', ...srv }, T0 + 60);
    m.event(ev(TcpEventKind.retransmit, b, { ...srv, oldState: TcpState.established, segs: 2 }), T0 + 70);
    m.event(state(b, TcpState.established, TcpState.closeWait, srv), T0 + 80);
    m.event(state(b, TcpState.lastAck, TcpState.close, srv), T0 + 90);
  });
  const c = sum(rows, 'c-p', 8080);
  const s = sum(rows, 's-p', 8080);
  assert.deepEqual([c.retrans_tx, c.retrans_rx, c.close_client_rst, c.tcp_rst_fail, c.rst_count], [3, undefined, 1, 1, 1]);
  assert.deepEqual([s.retrans_tx, s.retrans_rx, s.close_fin, s.closed_flow, s.tcp_rst_fail], [undefined, 2, 1, 1, undefined]);
  assert.equal(m.stats.failedRetransmits, 1);
});

test('sockets older than the agent: the listener of the local port (s-p), else no process at c-p; own ports are not counted', () => {
  const old = (nextId++).toString(16);
  const out = (nextId++).toString(16);
  const own = (nextId++).toString(16);
  const { rows, m } = run(
    (m) => {
      m.event(ev(TcpEventKind.rtt, old, { localPort: 22, remotePort: 51000, remoteIp: '10.0.0.7', localIp: '10.0.0.1', srttUs: 2500 }), T0);
      m.event(ev(TcpEventKind.rtt, out, { localPort: 52000, remotePort: 443, remoteIp: '10.0.0.9', localIp: '10.0.0.1', srttUs: 9000 }), T0);
      m.event(ev(TcpEventKind.rtt, own, { localPort: 52001, remotePort: 8123, srttUs: 10 }), T0);
      // Waiting for an owner that never comes: after the wait, the guess.
      m.tick(T0 + 2_500_000);
    },
    { 22: 400 },
  );
  const s = sum(rows, 's-p', 22);
  assert.deepEqual([s.ip_0, s.ip_1, s.pid_1, s.process_1, s.rtt_sum, s.time], ['10.0.0.7', '10.0.0.1', 400, 'sshd', 2500, T0 / 1e6]);
  const c = sum(rows, 'c-p', 443);
  assert.deepEqual([c.ip_0, c.ip_1, c.pid_0, c.process_0, c.service_0, c.rtt_sum], ['10.0.0.1', '10.0.0.9', 0, '', '10.0.0.1', 9000]);
  assert.equal(rows.filter((r) => r.port_1 === 8123).length, 0);
  assert.equal(m.stats.ownerGuessed, 2);
  assert.equal(m.openSockets, 2, 'open sockets are still followed');
});

test('rows per second fold into the minute row; time never goes back', () => {
  const id = (nextId++).toString(16);
  const { rows, minute } = run((m) => {
    m.event(state(id, TcpState.close, TcpState.synSent, { pid: 100, comm: 'curl', localPort: 0 }), T0);
    m.event(state(id, TcpState.synSent, TcpState.established, { srttUs: 50 }), T0 + 1000);
    m.event(ev(TcpEventKind.rtt, id, { srttUs: 70 }), T0 + 1_500_000);
    // Late by half a second: counted in the second already open.
    m.event(ev(TcpEventKind.rtt, id, { srttUs: 90 }), T0 + 1_000_000);
  });
  assert.deepEqual(
    rows.filter((r) => r.tap_side === 'c-p').map((r) => [r.time, r.rtt_count, r.rtt_sum]),
    [
      [T0 / 1e6, 1, 50],
      [T0 / 1e6 + 1, 2, 160],
    ],
  );
  const mrow = minute.filter((r) => r.tap_side === 'c-p');
  assert.equal(mrow.length, 1);
  assert.deepEqual([mrow[0].time, mrow[0].rtt_count, mrow[0].rtt_sum, mrow[0].rtt_max, mrow[0].new_flow], [T0 / 1e6 - ((T0 / 1e6) % 60), 3, 210, 90, 1]);
});

test('close types from this side of the socket (SPEC §5)', () => {
  const c = (o: Partial<Parameters<typeof closeType>[0]>): string => closeType({ role: 'client', reset: 0, closedFrom: TcpState.established, closeErr: 0, ...o });
  assert.equal(c({ closedFrom: TcpState.synSent, reset: 2 }), 'server_direct_rst');
  assert.equal(c({ closedFrom: TcpState.synSent, closeErr: 111 }), 'server_direct_rst');
  assert.equal(c({ closedFrom: TcpState.synSent, closeErr: 110 }), 'server_syn_miss');
  assert.equal(c({ closedFrom: TcpState.synSent }), 'server_syn_miss');
  assert.equal(c({ role: 'server', closedFrom: TcpState.synRecv }), 'client_ack_miss');
  assert.equal(c({ role: 'server', closedFrom: TcpState.synRecv, reset: 1 }), 'server_other_rst');
  assert.equal(c({ reset: 1 }), 'client_rst');
  assert.equal(c({ reset: 2 }), 'server_rst');
  assert.equal(c({ role: 'server', reset: 2 }), 'client_rst');
  assert.equal(c({ closeErr: 104 }), 'server_rst');
  assert.equal(c({ closeErr: 110 }), 'timeout');
  assert.equal(c({ closedFrom: TcpState.lastAck }), 'fin');
});

test('tcp event records decode with their pid, comm, error and segments; 88-byte bodies of earlier loaders too', () => {
  const body = (len: number): Buffer => {
    const b = Buffer.alloc(len);
    b.writeBigUInt64LE(7_000_000_000n, 0);
    b.writeBigUInt64LE(0xffff888012345678n, 8);
    b.writeUInt32LE(4242, 16);
    b.writeUInt32LE(TcpEventKind.retransmit, 20);
    b[24] = 2;
    b.writeUInt16LE(40000, 26);
    b.writeUInt16LE(8080, 28);
    Buffer.from([127, 0, 0, 1]).copy(b, 32);
    Buffer.from([127, 0, 0, 2]).copy(b, 48);
    b.writeInt32LE(1, 64);
    b.writeInt32LE(-1, 68);
    b.writeUInt32LE(35, 72);
    b.writeUInt32LE(0, 80);
    b.writeUInt32LE(3, 84);
    if (len >= 104) b.write('node', 88, 'latin1');
    const h = Buffer.alloc(8);
    h.writeUInt32LE(RecordType.tcpEvent, 0);
    h.writeUInt32LE(len, 4);
    return Buffer.concat([h, b]);
  };
  const got: TcpEvent[] = [];
  new LoaderStreamParser({ tcpEvent: (e) => got.push(e) }).feed(Buffer.concat([body(104), body(88)]));
  assert.equal(got.length, 2);
  const e = got[0];
  assert.deepEqual(
    [e.sockId, e.pid, e.comm, e.kind, e.localIp, e.localPort, e.remoteIp, e.remotePort, e.oldState, e.newState, e.srttUs, e.value, e.segs],
    ['ffff888012345678', 4242, 'node', 1, '127.0.0.1', 40000, '127.0.0.2', 8080, 1, -1, 35, 0, 3],
  );
  assert.equal(got[1].comm, '');
});

test('a socket address reused without the old socket\'s end seen: the 5-tuple tells the new socket apart', () => {
  const id = (nextId++).toString(16);
  const { rows } = run(
    (m) => {
      m.event(state(id, TcpState.close, TcpState.synSent, { pid: 100, comm: 'curl', localPort: 0 }), T0);
      m.event(state(id, TcpState.synSent, TcpState.established, { srttUs: 50 }), T0 + 10);
      // Its CLOSE was lost; the address now holds an accepted socket of another connection whose
      // SYN_RECV → ESTABLISHED was lost too: a retransmission of it must not count for curl.
      m.event(ev(TcpEventKind.retransmit, id, { localPort: 9090, remotePort: 50000, oldState: TcpState.established, segs: 1 }), T0 + 20);
      m.tick(T0 + 3_000_000);
    },
    { 9090: 200 },
  );
  assert.deepEqual(sum(rows, 'c-p', 8080).retrans_tx, undefined);
  const s = sum(rows, 's-p', 9090);
  assert.deepEqual([s.pid_1, s.retrans_rx], [200, 1]);
});
