import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Direction, L7ProtocolModule, L7Record } from './l7-parser';
import { ALL_L7_MODULES } from './modules';
import { apiVersionsV3Request, apiVersionsV3Response, fetchV12Request, fetchV12Response, produceV2Request, produceV2Response } from './kafka/fixtures';
import { err, greeting, handshakeResponse, ok, query, resultSet } from './mysql/fixtures';
import { block, frame, PREFACE_BYTES, SETTINGS_EMPTY } from './http2/test-frames';
import { req as dubboRequest, resp as dubboResponse } from './dubbo/fixtures';
import { alert, APP_DATA, CLIENT_FINISH_12, CLIENT_HELLO, SERVER_FINISH_12, SERVER_FLIGHT_12 } from './tls/fixtures';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** A DNS message with its TCP length prefix. */
function dnsTcp(message: string): Buffer {
  const m = hex(message);
  return Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
}

type Exchange = [Direction, string | Buffer][];

/** An HTTP/2 header block split over HEADERS (padded, with a priority) and two CONTINUATION frames. */
function http2SplitHeaders(): Buffer {
  const blk = block([[':method', 'PUT'], [':scheme', 'http'], [':path', '/c/1'], [':authority', 'x'], ['x-request-id', 'rid-1']], { huffman: true });
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from('8000000310', 'hex'), blk.subarray(0, 5), Buffer.alloc(3)]);
  return Buffer.concat([frame(1, 0x08 | 0x20 | 0x1, 1, padded), frame(9, 0, 1, blk.subarray(5, 9)), frame(9, 0x4, 1, blk.subarray(9))]);
}

/** Requests and responses each parser that says it copies its input is checked with. */
const EXCHANGES: Partial<Record<L7ProtocolModule['name'], Exchange>> = {
  http1: [
    [0, 'GET /a/1?x=2 HTTP/1.1\r\nHost: example\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n'],
    [1, 'HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!'],
    [0, 'POST /b HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    [1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  ],
  kafka: [
    [0, apiVersionsV3Request()],
    [1, apiVersionsV3Response()],
    [0, Buffer.concat([produceV2Request(), fetchV12Request()])],
    [1, produceV2Response(7, 3)],
    [1, fetchV12Response()],
  ],
  // MQTT 3.1.1: CONNECT / CONNACK, PUBLISH QoS 1 and 2 with their acknowledgements, SUBSCRIBE, PING.
  mqtt: [
    [0, hex('10 0e 0004 4d515454 04 02 003c 0002 6331')],
    [1, hex('20 02 00 00')],
    [0, hex('32 09 0003 612f62 000a 6869')],
    [1, hex('40 02 000a')],
    [0, hex('34 07 0003 612f62 000b')],
    [1, hex('50 02 000b')],
    [0, hex('62 02 000b')],
    [1, hex('70 02 000b')],
    [0, hex('82 08 0001 0003 612f23 01')],
    [1, hex('90 03 0001 80')],
    [0, hex('c0 00')],
    [1, hex('d0 00')],
  ],
  mysql: [
    [1, greeting()],
    [0, handshakeResponse()],
    [1, ok(2)],
    [0, query('SELECT id, name FROM users WHERE id = 1')],
    [1, resultSet(false)],
    [0, query('SELECT nope')],
    [1, err(1, 1054, '42S22', "Unknown column 'nope' in 'field list'")],
  ],
  // DNS over TCP (RFC 7766: a two-byte length before each message): an A query answered, an
  // AAAA query answered NXDOMAIN with an SOA, the two queries of a pipelined segment.
  dns: [
    [0, dnsTcp('1234 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001')],
    [1, dnsTcp('1234 8180 0001 0001 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001 c00c 0001 0001 0000012c 0004 5db8d822')],
    [0, Buffer.concat([dnsTcp('1235 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 001c 0001'), dnsTcp('1236 0100 0001 0000 0000 0000 03 777777 00 000f 0001')])],
    [1, dnsTcp('1235 8183 0001 0000 0001 0000 07 6578616d706c65 03 636f6d 00 001c 0001 c00c 0006 0001 00000e10 0016 02 6e73 c00c 02 686d c00c 00000001 00000002 00000003 00000004 00000005')],
    [1, dnsTcp('1236 8182 0001 0000 0000 0000 03 777777 00 000f 0001')],
  ],
  // HTTP/2 with prior knowledge: a header block in three frames, an interim and a final
  // response, then a gRPC call whose status comes in trailers.
  http2: [
    [0, Buffer.concat([PREFACE_BYTES, SETTINGS_EMPTY, http2SplitHeaders()])],
    [1, Buffer.concat([SETTINGS_EMPTY, frame(1, 0x4, 1, block([[':status', '100']])), frame(1, 0x4, 1, block([[':status', '200']])), frame(0, 0x1, 1, 'ok')])],
    [0, Buffer.concat([frame(1, 0x4, 3, block([[':method', 'POST'], [':scheme', 'http'], [':path', '/pkg.Svc/Call'], [':authority', 'g'], ['content-type', 'application/grpc']])), frame(0, 0x1, 3, Buffer.alloc(5))])],
    [1, Buffer.concat([frame(1, 0x4, 3, block([[':status', '200'], ['content-type', 'application/grpc']])), frame(0, 0, 3, Buffer.alloc(5)), frame(1, 0x5, 3, block([['grpc-status', '5'], ['grpc-message', 'not found']]))])],
  ],
  // TLS 1.2: ClientHello, the server's flight (ServerHello, a certificate, done), both Finished.
  tls: [
    [0, CLIENT_HELLO],
    [1, SERVER_FLIGHT_12],
    [0, CLIENT_FINISH_12],
    [1, Buffer.concat([SERVER_FINISH_12, APP_DATA])],
  ],
  // Dubbo 2: two calls pipelined in one segment, answered OK and with an error status.
  dubbo: [
    [0, Buffer.concat([dubboRequest(1), dubboRequest(2)])],
    [1, dubboResponse(1)],
    [1, dubboResponse(2, 70)],
  ],
  redis: [
    [0, '*3\r\n$3\r\nSET\r\n$8\r\nuser:123\r\n$5\r\nvalue\r\n'],
    [1, '+OK\r\n'],
    [0, '*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n'],
    [1, '$-1\r\n'],
    [0, 'HGET h f\r\n'],
    [1, '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'],
  ],
};

/** Further connections a parser is checked with: what it keeps only on some paths. */
const MORE_CONNECTIONS: Partial<Record<L7ProtocolModule['name'], Exchange[]>> = {
  // A handshake the server refuses with a fatal alert.
  tls: [
    [
      [0, CLIENT_HELLO],
      [1, alert(2, 40)],
    ],
  ],
  // A refused h2c upgrade: the bytes seen so far are replayed to HTTP/1.1.
  http2: [
    [
      [0, 'GET /up HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'],
      [0, 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n'],
      [1, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ],
  ],
};

/**
 * Records of a module's exchanges, one connection each, fed `step` bytes at a time, each piece
 * from one buffer the caller overwrites right after the feed (as the capture path reuses its
 * buffers) or from fresh copies.
 */
function records(module: L7ProtocolModule, step: number, reuse: boolean): L7Record[] {
  const out: L7Record[] = [];
  for (const exchange of [EXCHANGES[module.name] ?? [], ...(MORE_CONNECTIONS[module.name] ?? [])]) out.push(...connectionRecords(module, exchange, step, reuse));
  return out;
}

function connectionRecords(module: L7ProtocolModule, exchange: Exchange, step: number, reuse: boolean): L7Record[] {
  const parser = module.create();
  const scratch = Buffer.alloc(1 << 16);
  const out: L7Record[] = [];
  let ts = 1_000;
  for (const [direction, text] of exchange) {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    for (let at = 0; at < bytes.length; at += step) {
      const n = Math.min(step, bytes.length - at);
      const piece = reuse ? scratch.subarray(0, n) : Buffer.from(bytes.subarray(at, at + n));
      bytes.copy(piece, 0, at, at + n);
      parser.feed(direction, piece, (ts += 10));
      if (reuse) scratch.fill(0xaa);
      out.push(...parser.take());
    }
  }
  parser.close(ts + 10);
  out.push(...parser.take());
  return out;
}

test('parsers that copy their input keep nothing of the buffers they are fed', () => {
  const copying = ALL_L7_MODULES.filter((m) => m.create().copiesInput === true);
  assert.deepEqual(copying.map((m) => m.name).sort(), Object.keys(EXCHANGES).sort(), 'every parser that copies its input has an exchange here');
  for (const module of copying) {
    for (const step of [1, 2, 3, 7, 64, 1 << 16]) {
      const fresh = records(module, step, false);
      assert.ok(fresh.length >= 2, `${module.name}: ${fresh.length} records`);
      assert.deepEqual(records(module, step, true), fresh, `${module.name}, ${step} bytes at a time`);
    }
  }
});
