import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataRecord, LoaderStreamParser, PacketRecord, RecordType } from './loader-records';

function record(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body]);
}

/** A data record laid out as bpf/README.md says (mf_data, then the payload). */
function dataRecord(payload: string, o: { family?: number; tls?: boolean } = {}): Buffer {
  const b = Buffer.alloc(128 + payload.length);
  b.writeBigUInt64LE(5_000_000_000n, 0);
  b.writeBigUInt64LE(0xffff8881n, 8);
  b.writeBigUInt64LE(BigInt(payload.length + 100), 40);
  b.writeUInt32LE(4242, 48);
  b.writeUInt32LE(4243, 52);
  b.writeInt32LE(7, 56);
  b.writeUInt32LE(payload.length, 60);
  b[64] = 1; // ingress
  b[66] = o.family ?? 2;
  b[67] = 6;
  b[68] = 2;
  b[70] = o.tls ? 1 : 2;
  b.writeUInt16LE(8080, 72);
  b.writeUInt16LE(50000, 74);
  if ((o.family ?? 2) === 2) {
    Buffer.from([127, 0, 0, 1]).copy(b, 80);
    Buffer.from([10, 0, 0, 9]).copy(b, 96);
  } else {
    b[95] = 1; // ::1
    Buffer.from('00000000000000000000ffff0a000009', 'hex').copy(b, 96); // ::ffff:10.0.0.9
  }
  b.write('nginx', 112, 'latin1');
  b.write(payload, 128, 'latin1');
  return record(o.tls ? RecordType.sslData : RecordType.sockData, b);
}

test('records split at every byte arrive whole; unknown types are skipped by length', () => {
  const hello = Buffer.alloc(144);
  hello.writeUInt32LE(1, 0);
  hello.writeUInt32LE(1024, 4);
  hello.writeBigUInt64LE(1_700_000_000_000_000_000n, 8);
  hello.write('6.18.44', 80);
  const packetBody = Buffer.alloc(48 + 4);
  packetBody.writeBigUInt64LE(1_700_000_000_123_456_789n, 0);
  packetBody.writeUInt32LE(1, 8);
  packetBody.writeUInt32LE(4, 12);
  packetBody.writeUInt32LE(60, 16);
  packetBody.writeUInt16LE(1, 20);
  packetBody[26] = 4;
  packetBody.write('lo', 32);
  Buffer.from('abcd').copy(packetBody, 48);
  const stream = Buffer.concat([record(RecordType.hello, hello), record(99, Buffer.alloc(13)), dataRecord('GET / HTTP/1.1\r\n\r\n'), record(RecordType.packet, packetBody)]);
  const data: DataRecord[] = [];
  const packets: PacketRecord[] = [];
  let kernel = '';
  const parser = new LoaderStreamParser({ hello: (h) => (kernel = h.kernelRelease), data: (d) => data.push(d), packet: (p) => packets.push({ ...p, data: Buffer.from(p.data) }) });
  for (let i = 0; i < stream.length; i++) parser.feed(stream.subarray(i, i + 1));
  assert.equal(kernel, '6.18.44');
  assert.equal(parser.skipped, 1);
  assert.equal(data.length, 1);
  const d = data[0];
  assert.deepEqual(
    [d.pid, d.comm, d.direction, d.localIp, d.localPort, d.remoteIp, d.remotePort, d.role, d.bytes, d.payload.toString(), d.tls],
    [4242, 'nginx', 'ingress', '127.0.0.1', 8080, '10.0.0.9', 50000, 2, 118, 'GET / HTTP/1.1\r\n\r\n', false],
  );
  assert.deepEqual([packets[0].ifname, packets[0].outgoing, packets[0].origLen, packets[0].data.toString()], ['lo', true, 60, 'abcd']);
});

test('IPv6 addresses, v4-mapped shown as IPv4; TLS plaintext marked', () => {
  const got: DataRecord[] = [];
  new LoaderStreamParser({ data: (d) => got.push(d) }).feed(dataRecord('x', { family: 10, tls: true }));
  assert.deepEqual([got[0].localIp, got[0].remoteIp, got[0].tls], ['::1', '10.0.0.9', true]);
});

test('a length no record can have is a broken stream, said so', () => {
  const bad = Buffer.alloc(8);
  bad.writeUInt32LE(4, 0);
  bad.writeUInt32LE(1 << 30, 4);
  assert.throws(() => new LoaderStreamParser({}).feed(bad), /loader stream broken: a record of 1073741824 bytes/);
});
