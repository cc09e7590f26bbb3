import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowL7 } from './flow-l7';
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserStats } from './l7-parser';
import { ProtocolInference } from './protocol-inference';

/** A line protocol for the test: client lines `Q <n>`, server lines `A <n>`, paired in order. */
class LineParser implements L7Parser {
  readonly protocol = 'redis' as const;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private text = ['', ''];
  private pending: { n: string; ts: number }[] = [];
  private out: L7Record[] = [];
  gaps: number[] = [];

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    this.text[direction] += data.toString();
    let nl: number;
    while ((nl = this.text[direction].indexOf('\n')) >= 0) {
      const line = this.text[direction].slice(0, nl);
      this.text[direction] = this.text[direction].slice(nl + 1);
      this.stats.messages++;
      if (direction === 0) this.pending.push({ n: line.slice(2), ts: tsUs });
      else {
        const q = this.pending.shift();
        if (q) this.out.push(record(q.n, 'ok', q.ts, tsUs));
      }
    }
  }
  gap(direction: Direction, bytes: number): void {
    this.gaps.push(bytes);
    this.text[direction] = '';
  }
  expire(): void {}
  close(): void {
    for (const q of this.pending.splice(0)) this.out.push(record(q.n, 'timeout', q.ts, undefined));
  }
  take(): L7Record[] {
    return this.out.splice(0);
  }
}

function record(n: string, status: L7Record['status'], req: number, resp: number | undefined): L7Record {
  return {
    protocol: 'redis',
    version: '',
    requestType: 'Q',
    requestDomain: '',
    requestResource: n,
    endpoint: 'Q',
    status,
    requestTimeUs: req,
    responseTimeUs: resp,
    requestLength: -1,
    responseLength: -1,
    countsAsRequest: true,
  };
}

let lastParser: LineParser | undefined;
const lineModule: L7ProtocolModule = {
  name: 'redis',
  defaultPorts: [7],
  detect: (direction, payload) => (payload.toString().startsWith(direction === 0 ? 'Q ' : 'A ') ? 'yes' : 'no'),
  create: () => (lastParser = new LineParser()),
};

test('reassembled TCP payload reaches the parser in order; records and the server cache follow', () => {
  const inference = new ProtocolInference([lineModule]);
  const f = new FlowL7(inference, '10.0.0.1:7', 7, true);
  f.syn(0, 99);
  f.syn(1, 499);
  f.tcpSegment(0, 106, Buffer.from('2\n'), 2); // early
  f.tcpSegment(0, 100, Buffer.from('Q 1\nQ '), 1);
  f.tcpSegment(1, 500, Buffer.from('A 1\nA 2\n'), 3);
  f.tcpSegment(1, 500, Buffer.from('A 1\n'), 4); // retransmission: not a second answer
  const records = f.take();
  assert.deepEqual(
    records.map((r) => [r.requestResource, r.requestTimeUs, r.responseTimeUs]),
    [
      ['1', 1, 3],
      ['2', 2, 3],
    ],
  );
  assert.equal(inference.known('10.0.0.1:7'), lineModule);
});

test('a lost segment becomes a gap when the other side answers; pending requests time out at close', () => {
  const f = new FlowL7(new ProtocolInference([lineModule]), 's', 7, true);
  f.tcpSegment(0, 1, Buffer.from('Q 1\n'), 1);
  f.tcpSegment(0, 10, Buffer.from('Q 3\n'), 2); // bytes 5..9 lost
  f.tcpSegment(1, 1, Buffer.from('A 1\n'), 3);
  assert.deepEqual(lastParser?.gaps, [5]);
  f.close(10);
  assert.deepEqual(
    f.take().map((r) => [r.requestResource, r.status]),
    [
      ['1', 'ok'],
      ['3', 'timeout'],
    ],
  );
});

test('a flow nothing recognises is given up after a few payloads', () => {
  const f = new FlowL7(new ProtocolInference([lineModule], { maxAttempts: 3 }), 's', 9, false);
  for (let i = 0; i < 3; i++) f.message(0, Buffer.from('zzz'), i);
  assert.equal(f.active, false);
  f.message(0, Buffer.from('Q 1\n'), 5);
  assert.equal(f.protocol, undefined);
});

test('undecided flows parse on speculation: the module that pairs a request and its response wins', () => {
  const unsure: L7ProtocolModule = { ...lineModule, detect: () => 'maybe' };
  const silent: L7ProtocolModule = {
    name: 'kafka',
    defaultPorts: [],
    detect: () => 'maybe',
    create: () => ({ ...new LineParser(), protocol: 'redis', feed: () => undefined, take: () => [] }) as unknown as L7Parser,
  };
  const inference = new ProtocolInference([silent, unsure]);
  const f = new FlowL7(inference, 'srv', 9999, false);
  f.message(0, Buffer.from('Q 1\n'), 1);
  assert.equal(f.protocol, undefined);
  f.message(1, Buffer.from('A 1\n'), 2);
  assert.equal(f.protocol, unsure);
  assert.deepEqual(
    f.take().map((r) => [r.requestResource, r.requestTimeUs, r.responseTimeUs]),
    [['1', 1, 2]],
  );
  assert.equal(inference.known('srv'), unsure);
});

test('a module recognising the flow from a later message still parses the payloads before it', () => {
  // The client's request does not tell the protocol; the server's answer does.
  const answerTells: L7ProtocolModule = { ...lineModule, detect: (direction) => (direction === 1 ? 'yes' : 'no') };
  const f = new FlowL7(new ProtocolInference([answerTells]), 'srv', 9999, false);
  f.message(0, Buffer.from('Q 1\n'), 1);
  assert.equal(f.protocol, undefined);
  f.message(1, Buffer.from('A 1\n'), 2);
  assert.equal(f.protocol, answerTells);
  assert.deepEqual(
    f.take().map((r) => [r.requestResource, r.requestTimeUs, r.responseTimeUs]),
    [['1', 1, 2]],
  );
});

test('a flow that ends while undecided keeps what a candidate reports at close', () => {
  // Like an HTTP/2 stream whose end the capture missed: records only come out at close().
  class ReportsAtClose extends LineParser {
    private closed = false;
    override close(): void {
      super.close();
      this.closed = true;
    }
    override take(): L7Record[] {
      return this.closed ? super.take() : [];
    }
  }
  const unsure: L7ProtocolModule = { ...lineModule, detect: () => 'maybe', create: () => new ReportsAtClose() };
  const f = new FlowL7(new ProtocolInference([unsure]), 'srv', 9999, false);
  f.message(0, Buffer.from('Q 1\n'), 1);
  f.message(1, Buffer.from('A 1\n'), 2);
  assert.equal(f.protocol, undefined);
  f.close(9);
  assert.equal(f.protocol, unsure);
  assert.deepEqual(
    f.take().map((r) => [r.requestResource, r.status, r.responseTimeUs]),
    [['1', 'ok', 2]],
  );
});
