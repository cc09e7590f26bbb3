/**
 * HTTP/2 framing (RFC 9113 §4, §6): the 9-octet frame header, frame types and flags, the client
 * connection preface, and the plausibility rules used to find frame boundaries mid-stream.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** Default SETTINGS_MAX_FRAME_SIZE; peers may raise it up to 2^24-1. */
export const DEFAULT_MAX_FRAME = 16384;

export const enum FrameType {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}

export const enum Flag {
  END_STREAM = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** SETTINGS and PING acknowledgement flag (same bit as END_STREAM). */
export const ACK_FLAG = 0x1;

export const enum Setting {
  HEADER_TABLE_SIZE = 1,
  MAX_FRAME_SIZE = 5,
}

/** Error codes of RFC 9113 §7 by value. */
export const ERROR_NAMES: readonly string[] = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

/** Reads the frame header at `pos` (the caller checks that 9 bytes are there). */
export function readFrameHeader(buf: Buffer, pos: number): FrameHeader {
  return {
    length: (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2],
    type: buf[pos + 3],
    flags: buf[pos + 4],
    streamId: buf.readUInt32BE(pos + 5) & 0x7fffffff,
  };
}

/** Flags defined per frame type (RFC 9113 §6), by type 0..9. */
const DEFINED_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

/**
 * Whether a frame header is consistent with RFC 9113: known type, length within `maxLength` and
 * the fixed sizes of the control frames, stream id zero or not as the type demands. `strict` also
 * demands a clear reserved bit and no undefined flags (used when hunting for a boundary).
 */
export function plausibleHeader(buf: Buffer, pos: number, maxLength: number, strict: boolean): boolean {
  if (pos + FRAME_HEADER_BYTES > buf.length) return false;
  const h = readFrameHeader(buf, pos);
  if (h.type > FrameType.CONTINUATION || h.length > maxLength) return false;
  if (strict && ((buf[pos + 5] & 0x80) !== 0 || (h.flags & ~DEFINED_FLAGS[h.type]) !== 0)) return false;
  switch (h.type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
      return h.streamId !== 0;
    case FrameType.PUSH_PROMISE:
      return h.streamId !== 0 && h.length >= 4;
    case FrameType.PRIORITY:
      return h.streamId !== 0 && h.length === 5;
    case FrameType.RST_STREAM:
      return h.streamId !== 0 && h.length === 4;
    case FrameType.SETTINGS:
      return h.streamId === 0 && h.length % 6 === 0 && (!(h.flags & ACK_FLAG) || h.length === 0);
    case FrameType.PING:
      return h.streamId === 0 && h.length === 8;
    case FrameType.GOAWAY:
      return h.streamId === 0 && h.length >= 8;
    case FrameType.WINDOW_UPDATE:
      return h.length === 4;
    default:
      return false;
  }
}

/**
 * Payload of a HEADERS / PUSH_PROMISE / DATA frame without padding and priority fields: the
 * offsets [start, end) of the header block fragment or data, or undefined when malformed.
 */
export function framePayload(buf: Buffer, pos: number, h: FrameHeader): { start: number; end: number; promisedId: number } | undefined {
  let start = pos + FRAME_HEADER_BYTES;
  let end = start + h.length;
  let promisedId = 0;
  if (h.type === FrameType.CONTINUATION) return { start, end, promisedId };
  if (h.flags & Flag.PADDED) {
    if (start >= end) return undefined;
    const pad = buf[start];
    start += 1;
    if (pad > end - start) return undefined;
    end -= pad;
  }
  if (h.type === FrameType.HEADERS && h.flags & Flag.PRIORITY) {
    if (end - start < 5) return undefined;
    start += 5;
  }
  if (h.type === FrameType.PUSH_PROMISE) {
    if (end - start < 4) return undefined;
    promisedId = buf.readUInt32BE(start) & 0x7fffffff;
    start += 4;
  }
  return { start, end, promisedId };
}
