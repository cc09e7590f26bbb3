/**
 * MySQL messages for tests, byte for byte from the protocol documentation: packets, the server
 * greeting, the login, OK / EOF / ERR, commands and a result set.
 */
export function pkt(seq: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload.replace(/\s+/g, ''), 'hex') : payload;
  const h = Buffer.alloc(4);
  h.writeUIntLE(body.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, body]);
}
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
export const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

export const CAPS = 0x00000200 | 0x00008000 | 0x00000008 | 0x00080000; // PROTOCOL_41, SECURE_CONNECTION, CONNECT_WITH_DB, PLUGIN_AUTH
export const DEPRECATE_EOF = 0x01000000;

export function greeting(caps = CAPS | DEPRECATE_EOF): Buffer {
  return pkt(
    0,
    Buffer.concat([
      Buffer.from([0x0a]),
      cstr('8.0.32'),
      u32(7),
      Buffer.from('abcdefgh'),
      Buffer.from([0]),
      u16(caps & 0xffff),
      Buffer.from([0xff]),
      u16(2),
      u16(caps >>> 16),
      Buffer.from([21]),
      Buffer.alloc(10),
      Buffer.from('ijklmnopqrst\0'),
      cstr('caching_sha2_password'),
    ]),
  );
}

export function handshakeResponse(caps = CAPS, db = 'shop'): Buffer {
  return pkt(1, Buffer.concat([u32(caps), u32(0x1000000), Buffer.from([0xff]), Buffer.alloc(23), cstr('app'), Buffer.from([20]), Buffer.alloc(20, 7), cstr(db), cstr('mysql_native_password')]));
}

export function sslRequest(): Buffer {
  return pkt(1, Buffer.concat([u32(CAPS | 0x800), u32(0x1000000), Buffer.from([0xff]), Buffer.alloc(23)]));
}

export const ok = (seq: number, status = 0x0002): Buffer => pkt(seq, Buffer.concat([Buffer.from([0, 0, 0]), u16(status), u16(0)]));
export const okEof = (seq: number, status = 0x0002): Buffer => pkt(seq, Buffer.concat([Buffer.from([0xfe, 0, 0]), u16(status), u16(0)]));
export const eof = (seq: number, status = 0x0002): Buffer => pkt(seq, Buffer.concat([Buffer.from([0xfe]), u16(0), u16(status)]));
export const err = (seq: number, code: number, state: string, msg: string): Buffer => pkt(seq, Buffer.concat([Buffer.from([0xff]), u16(code), Buffer.from('#' + state + msg)]));
export const query = (sql: string, seq = 0): Buffer => pkt(seq, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
export const command = (code: number, rest: Buffer = Buffer.alloc(0)): Buffer => pkt(0, Buffer.concat([Buffer.from([code]), rest]));
export function lenStr(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
}
export function columnDef(seq: number, name: string): Buffer {
  return pkt(seq, Buffer.concat([lenStr('def'), lenStr('shop'), lenStr('users'), lenStr('users'), lenStr(name), lenStr(name), Buffer.from([0x0c]), u16(33), u32(80), Buffer.from([0xfd]), u16(0), Buffer.from([0, 0, 0])]));
}
export const row = (seq: number, ...vals: string[]): Buffer => pkt(seq, Buffer.concat(vals.map(lenStr)));

/** A result set of 2 columns and 2 rows starting at sequence 1; classic EOFs or CLIENT_DEPRECATE_EOF. */
export function resultSet(deprecateEof: boolean): Buffer {
  const parts = [pkt(1, '02'), columnDef(2, 'id'), columnDef(3, 'name')];
  let seq = 4;
  if (!deprecateEof) parts.push(eof(seq++));
  parts.push(row(seq++, '1', 'ann'), row(seq++, '2', 'bob'));
  parts.push(deprecateEof ? okEof(seq) : eof(seq));
  return Buffer.concat(parts);
}
