/** Dubbo 2 messages built from the protocol's header layout, with Hessian2 bodies written by hand: shared by the parser's tests and the copy test. */
export const H = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** A 16-byte header: magic, flag, status, 8-byte id, then the body length of `body`. */
export function msg(flag: number, status: number, id: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h[0] = 0xda;
  h[1] = 0xbb;
  h[2] = flag;
  h[3] = status;
  h.writeBigUInt64BE(BigInt(id), 4);
  h.writeUInt32BE(body.length, 12);
  return Buffer.concat([h, body]);
}

/**
 * Hessian2 request body, written by hand:
 *   "2.0.2" (short string 0x05), "com.demo.Svc" (0x0c), "1.0.0" (0x05), "hello" (0x05),
 *   parameter types "Ljava/lang/String;" (0x12), argument "w" (0x01),
 *   attachments: map 'H' { "path": "com.demo.Svc" } 'Z'.
 */
export const HESSIAN_BODY = H(`
  05 322e302e32
  0c 636f6d2e64656d6f2e537663
  05 312e302e30
  05 68656c6c6f
  12 4c6a6176612f6c616e672f537472696e673b
  01 77
  48 04 70617468 0c 636f6d2e64656d6f2e537663 5a`);
/** Hessian2 response body: int 1 (0x91, RESPONSE_VALUE) then the string "world". */
const HESSIAN_RESP_BODY = H('91 05 776f726c64');
/** Error response body: the Hessian2 string "boom". */
const HESSIAN_ERR_BODY = H('04 626f6f6d');

export const req = (id: number, body = HESSIAN_BODY) => msg(0xc2, 0, id, body); // request | two-way | hessian2
export const resp = (id: number, status = 20, body = status === 20 ? HESSIAN_RESP_BODY : HESSIAN_ERR_BODY) => msg(0x02, status, id, body);
