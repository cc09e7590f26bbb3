/**
 * Per-direction message framing for the length-framed protocol parsers (Dubbo, MQTT).
 *
 * One framer holds one direction of a connection: it buffers at most `maxBuffer` bytes, hands
 * each complete message to the format's `emit`, and reads a message larger than the buffer from
 * its first bytes, passing over the rest of it without buffering (the message is emitted once its
 * last byte has passed). The protocol itself stays in the `MessageFormat`: where a message starts
 * and how long it is (`frame`), and what it says (`decode`).
 */
import type { ParserStats } from '../l7-parser';

/** Pass over `bytes` (counted in `bytesSkipped`) and look again after them. */
export interface Skip {
  readonly kind: 'skip';
  readonly bytes: number;
}

/** What the bytes at a position of the buffer are. */
export type Framing<H> =
  /** Too few bytes to tell. */
  | { readonly kind: 'more' }
  /** Not a message boundary. */
  | Skip
  /** A message of `length` bytes, `headerLength` of them its header. */
  | { readonly kind: 'message'; readonly header: H; readonly headerLength: number; readonly length: number };

/** What a framed message's body (or its first bytes) says. */
export type Decoding<M> =
  | { readonly kind: 'message'; readonly message: M }
  /** The framing was wrong after all. */
  | Skip
  /** The framing holds but the message is unreadable: pass over the whole message, emit nothing. */
  | { readonly kind: 'drop' };

export const NEED_MORE: Framing<never> = { kind: 'more' };
export const SKIP_ONE: Skip = { kind: 'skip', bytes: 1 };
export const DROP: Decoding<never> = { kind: 'drop' };

export interface MessageFormat<H, M> {
  /** The longest header a message can have: a large message keeps `maxBuffer - headerRoom` bytes of body. */
  readonly headerRoom: number;
  /** Looks at the buffered bytes from `at` (to `buf.length`). */
  frame(buf: Buffer, at: number): Framing<H>;
  /** Decodes a body: all of it when `complete`, else its first bytes. */
  decode(header: H, body: Buffer, complete: boolean): Decoding<M>;
  /** A message, with the capture times of its first and last bytes. */
  emit(message: M, startTs: number, endTs: number): void;
  /** Buffered bytes were thrown away unframed (buffer overflow, a gap that breaks the framing). */
  desync?(): void;
}

const EMPTY = Buffer.alloc(0);

export class MessageFramer<H, M> {
  private buf: Buffer = EMPTY;
  /** Bytes of a large message still to pass over. */
  private skip = 0;
  /** A large message read from its first bytes, emitted once its last byte has passed. */
  private partial: M | null = null;
  /** Capture time of the current message's first byte. */
  private startTs = 0;

  constructor(
    private readonly format: MessageFormat<H, M>,
    private readonly maxBuffer: number,
    private readonly stats: ParserStats,
  ) {}

  /** Bytes buffered (for tests of the bound). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  feed(data: Buffer, tsUs: number): void {
    let off = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      off = n;
      if (this.skip > 0) return;
      if (this.partial) {
        this.format.emit(this.partial, this.startTs, tsUs);
        this.partial = null;
      }
    }
    if (off >= data.length) return;
    if (this.buf.length === 0) this.startTs = tsUs;
    const buf = this.buf.length === 0 ? data.subarray(off) : Buffer.concat([this.buf, data.subarray(off)]);
    const bodyCap = this.maxBuffer - this.format.headerRoom;
    let pos = 0;
    while (pos < buf.length) {
      const f = this.format.frame(buf, pos);
      if (f.kind === 'more') break;
      if (f.kind === 'skip') {
        this.stats.bytesSkipped += f.bytes;
        pos += f.bytes;
        continue;
      }
      const avail = buf.length - pos;
      const complete = avail >= f.length;
      const bodyEnd = pos + f.headerLength + Math.min(f.length - f.headerLength, bodyCap);
      if (!complete && buf.length < bodyEnd) break;
      const d = this.format.decode(f.header, buf.subarray(pos + f.headerLength, complete ? pos + f.length : bodyEnd), complete);
      if (d.kind === 'skip') {
        this.stats.bytesSkipped += d.bytes;
        pos += d.bytes;
        continue;
      }
      if (d.kind === 'drop') {
        pos += f.length;
        continue;
      }
      if (complete) {
        this.format.emit(d.message, pos === 0 ? this.startTs : tsUs, tsUs);
        pos += f.length;
        continue;
      }
      // A message larger than the buffer: keep what was read, pass over the rest.
      this.partial = d.message;
      this.startTs = pos === 0 ? this.startTs : tsUs;
      this.skip = f.length - avail;
      this.buf = EMPTY;
      return;
    }
    const rest = buf.subarray(pos);
    if (rest.length > 0 && pos > 0) this.startTs = tsUs;
    this.buf = rest.length > 0 ? Buffer.from(rest) : EMPTY;
    if (this.buf.length > this.maxBuffer) {
      this.stats.bytesSkipped += this.buf.length;
      this.buf = EMPTY;
      this.format.desync?.();
    }
  }

  /** `bytes` of the stream were lost. */
  gap(bytes: number): void {
    this.stats.bytesSkipped += this.buf.length;
    if (this.skip > 0 && bytes <= this.skip) {
      // The lost bytes fell inside a message being passed over: framing survives, but the message
      // is emitted only when its last byte is seen.
      this.skip -= bytes;
      if (this.skip === 0) this.partial = null;
      return;
    }
    this.buf = EMPTY;
    this.skip = 0;
    this.partial = null;
    this.format.desync?.();
  }
}
