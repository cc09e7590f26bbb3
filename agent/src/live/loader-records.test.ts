import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataRecord as encodeData, helloRecord, packetRecord, sockEventRecord } from '../testing/loader-stream';
import { DataRecord, LoaderStreamParser, nsHalvesToUs, PacketRecord, RecordType } from './loader-records';

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

test('64-bit fields without BigInt: microseconds and sock id halves are exact', () => {
  for (const ns of [0n, 999n, 1000n, 18_422_887_180_714n, 2n ** 53n + 1999n, 1_795_743_903_813_390_582n, 0xfedcba9876543210n, 2n ** 64n - 1n]) {
    assert.equal(nsHalvesToUs(Number(ns >> 32n), Number(ns & 0xffffffffn)), Number(ns / 1000n), String(ns));
  }
  const got: DataRecord[] = [];
  const sockId = 0xffff8882ce165340n;
  const tsNs = 0x0123456789abcdefn;
  new LoaderStreamParser({ data: (d) => got.push(d) }).feed(encodeData({ tsNs, sockId, pid: 9, bytes: 2 ** 40, direction: 0, localPort: 1, remotePort: 2, comm: 'x', payload: Buffer.from('GET') }));
  const d = got[0];
  assert.deepEqual([d.sockHi, d.sockLo, d.sockId, d.tsUs, d.tsNs, d.bytes], [0xffff8882, 0xce165340, sockId.toString(16), Number(tsNs / 1000n), tsNs, 2 ** 40]);
});

test('a stream cut anywhere decodes to the same records', () => {
  const payload = (i: number): Buffer => Buffer.from(`GET /${i} HTTP/1.1\r\n\r\n`);
  const stream = Buffer.concat([
    helloRecord(1_700_000_000_000_000_000n),
    ...[0, 1, 2].map((i) => encodeData({ tsNs: 10_000n + BigInt(i), sockId: 0xffff888100000040n + BigInt(i), pid: 7, direction: 0, localPort: 50000 + i, remotePort: 80, comm: 'curl', payload: payload(i), ssl: i === 2 })),
    sockEventRecord({ tsNs: 20_000n, sockId: 0xffff888100000040n, pid: 7, kind: 3, localPort: 50000, remotePort: 80, comm: 'curl' }),
    packetRecord(1_700_000_000_123_456_789n, 1, 'lo', Buffer.from('abcd'), true),
    packetRecord(1_700_000_000_123_457_789n, 2, 'eth0', Buffer.from('efgh')),
    packetRecord(1_700_000_000_123_458_789n, 1, 'lo', Buffer.from('ijkl')),
  ]);
  const decode = (pieces: Buffer[]): string[] => {
    const out: string[] = [];
    const parser = new LoaderStreamParser({
      data: (d) => out.push(JSON.stringify([d.tsUs, d.sockId, d.pid, d.localIp, d.localPort, d.comm, d.direction, d.tls, d.payload.toString()])),
      sockEvent: (e) => out.push(JSON.stringify([e.kind, e.tsUs, e.sockHi, e.sockLo, e.sockId])),
      packet: (p) => out.push(JSON.stringify([p.tsUs, p.ifindex, p.ifname, p.outgoing, p.data.toString()])),
    });
    for (const piece of pieces) parser.feed(piece);
    assert.equal(parser.skipped, 0);
    return out;
  };
  const whole = decode([stream]);
  assert.equal(whole.length, 7);
  assert.deepEqual(JSON.parse(whole[3]), ['close', 20, 0xffff8881, 0x40, 'ffff888100000040']);
  assert.deepEqual(JSON.parse(whole[4]), [1_700_000_000_123_456, 1, 'lo', true, 'abcd']);
  assert.deepEqual([JSON.parse(whole[5])[2], JSON.parse(whole[6])[2]], ['eth0', 'lo']);
  assert.deepEqual(JSON.parse(whole[2]).slice(6), ['egress', true, 'GET /2 HTTP/1.1\r\n\r\n']);
  for (let cut = 1; cut < stream.length; cut++) {
    assert.deepEqual(decode([stream.subarray(0, cut), stream.subarray(cut)]), whole, `cut at ${cut}`);
  }
  for (let cut = 1; cut + 150 < stream.length; cut += 7) {
    assert.deepEqual(decode([stream.subarray(0, cut), stream.subarray(cut, cut + 3), stream.subarray(cut + 3, cut + 150), stream.subarray(cut + 150)]), whole, `cuts at ${cut}`);
  }
});
