/**
 * Kafka messages written out by hand from the protocol guide (kafka.apache.org/protocol), as hex
 * with the fields separated by spaces. `frame()` prepends the 4-byte size.
 */

export function frame(hexBody: string): Buffer {
  const body = Buffer.from(hexBody.replace(/\s+/g, ''), 'hex');
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** "client" as a STRING, "orders" as STRING / COMPACT_STRING. */
const CLIENT = '0006 636c69656e74';
const ORDERS = '0006 6f7264657273';
const ORDERS_C = '07 6f7264657273';

/** Produce v2 (request header v1), acks=1, topic orders partition 3, empty record set. */
export const produceV2Request = (corr = 7, acks = 1): Buffer =>
  frame(`0000 0002 ${hex32(corr)} ${CLIENT}  ${hex16(acks)} 00001388  00000001 ${ORDERS} 00000001 00000003 00000000`);

/** Produce v2 response (header v0): orders/3 with `error`, base offset 16, no append time, throttle 0. */
export const produceV2Response = (corr = 7, error = 0): Buffer =>
  frame(`${hex32(corr)}  00000001 ${ORDERS} 00000001 00000003 ${hex16(error)} 0000000000000010 ffffffffffffffff  00000000`);

/** Fetch v12 (flexible: request header v2, compact arrays/strings, tagged fields), orders/1. */
export const fetchV12Request = (corr = 9): Buffer =>
  frame(
    `0001 000c ${hex32(corr)} ${CLIENT} 00 ` + // header v2: client id stays a STRING, then tagged fields
      'ffffffff 000001f4 00000001 03200000 00 00000000 ffffffff ' + // replica, max wait, min/max bytes, isolation, session, epoch
      `02 ${ORDERS_C} 02 00000001 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00 00 ` + // topics[1]: partitions[1]
      '01 01 00', // forgotten topics [], rack id "", tagged fields
  );

/** Fetch v12 response (header v1): partition orders/1 with `error`, empty records. */
export const fetchV12Response = (corr = 9, error = 0): Buffer =>
  frame(
    `${hex32(corr)} 00  00000000 0000 00000000 ` + // header tagged fields; throttle, top-level error, session
      `02 ${ORDERS_C} 02 00000001 ${hex16(error)} 0000000000000000 0000000000000000 0000000000000000 00 ffffffff 01 00 00 00`,
  );

/** ApiVersions v3 request (header v2) with client software name/version. */
export const apiVersionsV3Request = (corr = 11): Buffer => frame(`0012 0003 ${hex32(corr)} ${CLIENT} 00  05 74657374 04 312e30 00`);

/** ApiVersions v3 response: always response header v0 (no tagged fields after the correlation id). */
export const apiVersionsV3Response = (corr = 11, error = 0): Buffer => frame(`${hex32(corr)}  ${hex16(error)} 01 00000000 00`);

/** Heartbeat v4 (flexible) for group "g1", member "m1". */
export const heartbeatV4Request = (corr = 12): Buffer => frame(`000c 0004 ${hex32(corr)} ${CLIENT} 00  03 6731 00000001 03 6d31 00 00`);

/** Heartbeat v4 response (header v1). */
export const heartbeatV4Response = (corr = 12, error = 0): Buffer => frame(`${hex32(corr)} 00  00000000 ${hex16(error)} 00`);

/** Metadata v1 request for all topics (null array). */
export const metadataV1AllRequest = (corr = 13): Buffer => frame(`0003 0001 ${hex32(corr)} ${CLIENT}  ffffffff`);

/** Metadata v1 response: broker 1, controller 1, topic orders with `topicError`, one partition with `partError`. */
export const metadataV1Response = (corr = 13, topicError = 0, partError = 0): Buffer =>
  frame(
    `${hex32(corr)}  00000001 00000001 0009 6c6f63616c686f7374 00002384 ffff  00000001 ` +
      `00000001 ${hex16(topicError)} ${ORDERS} 00 00000001 ${hex16(partError)} 00000000 00000001 00000001 00000001 00000001 00000001`,
  );

/** ListOffsets v0 request for orders/0, latest offset (-1), max 1 offset. */
export const listOffsetsV0Request = (corr = 14): Buffer =>
  frame(`0002 0000 ${hex32(corr)} ${CLIENT}  ffffffff 00000001 ${ORDERS} 00000001 00000000 ffffffffffffffff 00000001`);

export function hex16(v: number): string {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b.toString('hex');
}

export function hex32(v: number): string {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b.toString('hex');
}
