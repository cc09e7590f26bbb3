/** Test helpers: HTTP/2 frames and HPACK header blocks written by hand (RFC 9113 / RFC 7541). */
import { huffmanEncode } from './hpack';

export function frame(type: number, flags: number, streamId: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload.replace(/\s+/g, ''), 'hex') : payload;
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, p]);
}

function int(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out.push(v);
  return out;
}

function str(s: string, huffman: boolean): number[] {
  const b = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
  return [...int(b.length, 7, huffman ? 0x80 : 0), ...b];
}

/**
 * A header block: each field as a literal (with incremental indexing when `index`), or an
 * indexed reference when given as a number.
 */
export function block(fields: ([string, string] | number)[], opts: { index?: boolean; huffman?: boolean } = {}): Buffer {
  const out: number[] = [];
  for (const f of fields) {
    if (typeof f === 'number') {
      out.push(...int(f, 7, 0x80));
      continue;
    }
    out.push(opts.index ? 0x40 : 0x00, ...str(f[0], !!opts.huffman), ...str(f[1], !!opts.huffman));
  }
  return Buffer.from(out);
}

export const PREFACE_BYTES = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const SETTINGS_EMPTY = frame(4, 0, 0);
export const SETTINGS_ACK = frame(4, 1, 0);
