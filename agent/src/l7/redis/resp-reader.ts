/**
 * Streaming RESP2/RESP3 reader for one direction of a Redis connection.
 *
 * Values are never buffered whole: only the current header line (up to LINE_KEEP bytes) and the
 * first bytes of a few chosen elements are kept, bulk bodies are counted through. A value may
 * therefore be arbitrarily large (a 500 KB GET reply) while the reader holds a few KB.
 *
 * The client side follows the server's own reading rule: a top-level value starting with `*` is
 * a multibulk command, anything else is an inline command line (`PING\r\n`, ended by LF or CRLF;
 * empty lines are ignored, as Redis does). The server side reads any RESP2/RESP3 value.
 */

const CR = 13;
const LF = 10;

/** Bytes of a line kept for inspection; longer lines are counted through. */
const LINE_KEEP = 4096;
/** Maximum nesting of aggregates. */
export const MAX_DEPTH = 64;
/** Largest aggregate element count accepted (Redis itself stops at INT_MAX). */
const MAX_COUNT = 0x7fffffff;
/** Largest bulk length accepted (Redis proto-max-bulk-len default: 512 MB). */
const MAX_BULK = 512 * 1024 * 1024;

export type RespRole = 'client' | 'server';

/** A complete top-level value (one command from the client, one reply or push from the server). */
export interface RespValue {
  /** Type byte of the value after any attribute prefix (`*`, `+`, `>`…); 0 for an inline command. */
  type: number;
  /** First elements of a top-level aggregate (or the words of an inline command), capped. */
  args: string[];
  /** Number of elements of the top-level aggregate (inline: number of words). */
  argCount: number;
  /** Text of a top-level simple string / error / integer / bulk (capped). */
  text: string;
  /** Bytes of the value on the wire. */
  bytes: number;
  /** A RESP3-only type appeared in the value. */
  resp3: boolean;
  /** Client only: the request could not be read (Redis answers such a request with an error). */
  protocolError?: string;
  /** Inline only: quoting errors (Redis answers `unbalanced quotes`). */
  inlineError?: boolean;
}

export interface RespReaderOptions {
  role: RespRole;
  /** Elements of a top-level aggregate to capture. */
  captureArgs: number;
  /** Bytes kept per captured element or text. */
  captureBytes: number;
  /** A line longer than this is garbage (the reader resyncs). */
  maxLineBytes: number;
  /** Client resync: is this upper-case word a command? */
  isCommand: (name: string) => boolean;
}

export interface RespReaderEvents {
  value(v: RespValue): void;
  /** Bytes dropped while resynchronising or after a protocol error. */
  skipped(bytes: number): void;
  /** A value that could not be read (protocol error). */
  error(): void;
}

interface Frame {
  remaining: number;
  index: number;
  attr: boolean;
}

const enum Mode {
  Line,
  Bulk,
  SkipLine,
}

export class RespReader {
  /** False after a gap or at a mid-stream start: the next value must be recognisable on its own. */
  synced = true;
  private mode = Mode.Line;
  /** The current line's first bytes; grows up to `lineLimit`. */
  private line: Buffer;
  private readonly lineLimit: number;
  private lineKept = 0;
  private lineTotal = 0;
  private lineAtFeedStart = false;
  private bulkBody = 0;
  private bulkCrlf = 0;
  private bulkCapture = false;
  /** The current bulk string's first bytes; grows up to `capLimit`. */
  private cap: Buffer;
  private readonly capLimit: number;
  private capLen = 0;
  /** Where the finished bulk goes: -1 top-level text, ≥0 an element index, -2 nowhere. */
  private bulkSlot = -2;
  private stack: Frame[] = [];
  private valueOpen = false;
  private valueBytes = 0;
  private topType = 0;
  private args: string[] = [];
  private argCount = 0;
  private text = '';
  private resp3 = false;
  private skipBytes = 0;

  constructor(
    private readonly opts: RespReaderOptions,
    private readonly events: RespReaderEvents,
  ) {
    // line + capture stay within the direction's buffer bound
    this.lineLimit = Math.max(64, Math.min(LINE_KEEP, opts.maxLineBytes - opts.captureBytes));
    this.capLimit = Math.max(1, opts.captureBytes);
    // Small to start, from Node's shared pool, and grown when a longer line or bulk string comes:
    // a reader made its 4 KB line buffer as a zeroed buffer of its own, which cost 8 µs and
    // garbage-collector time per Redis connection (1.9 s of a replay of 54,000 of them). Only
    // bytes below `lineKept` / `capLen` are ever read, so the pool's leftovers never show.
    this.line = Buffer.allocUnsafe(64);
    this.cap = Buffer.allocUnsafe(Math.min(32, this.capLimit));
  }

  /** Bytes held between feeds (bounded by the line and capture buffers). */
  get bufferedBytes(): number {
    return this.lineKept + this.capLen;
  }

  /** True while a value is partly read. */
  get midValue(): boolean {
    return this.valueOpen || this.lineTotal > 0;
  }

  /** Drops partial state; with `resync` the next value must be recognisable on its own. */
  reset(resync: boolean): void {
    this.mode = Mode.Line;
    this.lineKept = 0;
    this.lineTotal = 0;
    this.stack = [];
    this.closeValue();
    if (resync) this.synced = false;
  }

  feed(data: Buffer): void {
    let pos = 0;
    this.lineAtFeedStart = this.lineTotal === 0;
    while (pos < data.length) {
      if (this.mode === Mode.Bulk) {
        pos = this.readBulk(data, pos);
      } else {
        const nl = data.indexOf(LF, pos);
        const end = nl < 0 ? data.length : nl + 1;
        if (this.mode === Mode.SkipLine) {
          this.skipBytes += end - pos;
          pos = end;
          if (nl >= 0) {
            this.mode = Mode.Line;
            this.flushSkipped();
            this.lineAtFeedStart = false;
          }
          continue;
        }
        const n = Math.min(this.lineLimit - this.lineKept, end - pos);
        if (this.lineKept + n > this.line.length) this.line = grown(this.line, this.lineKept, this.lineKept + n, this.lineLimit);
        if (n > 0) copyBytes(data, pos, n, this.line, this.lineKept);
        this.lineKept += n;
        this.lineTotal += end - pos;
        pos = end;
        if (this.lineTotal > this.opts.maxLineBytes) {
          // garbage or an absurd line: drop it (and the value it belongs to)
          this.skipBytes += this.lineTotal + (this.valueOpen ? this.valueBytes : 0);
          this.lineKept = 0;
          this.lineTotal = 0;
          this.abandon(false);
          this.events.error();
          this.mode = nl >= 0 ? Mode.Line : Mode.SkipLine;
          if (nl >= 0) this.flushSkipped();
          continue;
        }
        if (nl < 0) break;
        const total = this.lineTotal;
        const atStart = this.lineAtFeedStart;
        this.lineTotal = 0;
        this.lineAtFeedStart = false;
        this.handleLine(total, atStart);
        this.lineKept = 0;
      }
    }
    this.flushSkipped();
  }

  private flushSkipped(): void {
    if (this.skipBytes > 0) {
      const n = this.skipBytes;
      this.skipBytes = 0;
      this.events.skipped(n);
    }
  }

  private readBulk(data: Buffer, pos: number): number {
    if (this.bulkBody > 0) {
      const n = Math.min(this.bulkBody, data.length - pos);
      if (this.bulkCapture && this.capLen < this.capLimit) {
        const c = Math.min(n, this.capLimit - this.capLen);
        if (this.capLen + c > this.cap.length) this.cap = grown(this.cap, this.capLen, this.capLen + c, this.capLimit);
        copyBytes(data, pos, c, this.cap, this.capLen);
        this.capLen += c;
      }
      this.bulkBody -= n;
      this.valueBytes += n;
      return pos + n;
    }
    // the CRLF after the body
    const want = this.bulkCrlf === 2 ? CR : LF;
    if (data[pos] !== want) {
      this.protocolError('bulk string not ended by CRLF');
      return pos; // re-read this byte as the start of a line
    }
    this.valueBytes++;
    this.bulkCrlf--;
    if (this.bulkCrlf === 0) {
      this.mode = Mode.Line;
      const s = this.bulkCapture ? this.cap.toString('utf8', 0, this.capLen) : '';
      this.capLen = 0;
      this.bulkCapture = false;
      if (this.bulkSlot === -1) this.text = s;
      else if (this.bulkSlot >= 0) this.args[this.bulkSlot] = s;
      this.elementDone();
    }
    return pos + 1;
  }

  private handleLine(total: number, atFeedStart: boolean): void {
    let len = Math.min(this.lineKept, total);
    // strip the line ending (LF, CRLF) when it was kept
    if (len === total && len > 0 && this.line[len - 1] === LF) {
      len--;
      if (len > 0 && this.line[len - 1] === CR) len--;
    }
    const line = this.line.subarray(0, len);
    if (!this.synced) {
      if (!this.acceptsResync(line, atFeedStart)) {
        this.skipBytes += total;
        return;
      }
      this.synced = true;
    }
    if (!this.valueOpen) {
      this.valueOpen = true;
      this.valueBytes = 0;
      this.args = [];
      this.argCount = 0;
      this.text = '';
      this.resp3 = false;
      this.topType = 0;
    }
    this.valueBytes += total;
    if (this.opts.role === 'client' && this.stack.length === 0 && this.topType === 0) {
      this.clientTopLine(line);
      return;
    }
    this.respLine(line);
  }

  /** Resync rule: the client needs `*<n>` or an inline known command; the server a RESP header at a segment start. */
  private acceptsResync(line: Buffer, atFeedStart: boolean): boolean {
    if (line.length === 0) return false;
    if (this.opts.role === 'client') {
      if (line[0] === 0x2a) {
        const n = parseNumber(line, 1);
        return n !== undefined && n >= 1 && n <= MAX_COUNT;
      }
      const word = firstWord(line);
      return word !== undefined && this.opts.isCommand(word);
    }
    return atFeedStart && isRespHeader(line);
  }

  private clientTopLine(line: Buffer): void {
    if (line.length === 0) {
      // Redis ignores empty inline lines; they belong to no request
      this.closeValue();
      return;
    }
    if (line[0] !== 0x2a) {
      for (let i = 0; i < line.length; i++) {
        const b = line[i];
        if ((b < 0x20 && b !== 0x09) || b === 0x7f) {
          // binary bytes: not a command line a client would send
          this.skipBytes += this.valueBytes;
          this.closeValue();
          this.events.error();
          this.synced = false;
          return;
        }
      }
      const words = splitInline(line, this.opts.captureArgs, this.opts.captureBytes);
      if (words.args.length === 0) {
        this.closeValue();
        return;
      }
      this.topType = 0;
      this.args = words.args;
      this.argCount = words.count;
      this.emit(undefined, !words.ok);
      return;
    }
    const n = parseNumber(line, 1);
    if (n === undefined || n > MAX_COUNT) {
      this.protocolError('invalid multibulk length');
      return;
    }
    if (n <= 0) {
      // `*0`, `*-1`: Redis reads these as nothing and does not answer
      this.closeValue();
      return;
    }
    this.topType = 0x2a;
    this.argCount = n;
    this.stack.push({ remaining: n, index: 0, attr: false });
  }

  private respLine(line: Buffer): void {
    if (line.length === 0) {
      this.protocolError('empty line');
      return;
    }
    const t = line[0];
    const depth = this.stack.length;
    const top = depth === 0 && this.topType === 0;
    if (top && t !== 0x7c) this.topType = t;
    const slot = this.slotFor(top);
    switch (t) {
      case 0x2b: // + simple string
      case 0x2d: // - error
        this.scalar(slot, line.toString('utf8', 1, Math.min(line.length, 1 + this.capLimit)));
        return;
      case 0x3a: // : integer
        if (parseNumber(line, 1) === undefined && !isBigNumber(line)) break;
        this.scalar(slot, line.toString('latin1', 1));
        return;
      case 0x28: // ( big number
        if (!isBigNumber(line)) break;
        this.resp3 = true;
        this.scalar(slot, line.toString('latin1', 1, Math.min(line.length, 1 + this.capLimit)));
        return;
      case 0x2c: // , double
        if (!isDouble(line)) break;
        this.resp3 = true;
        this.scalar(slot, line.toString('latin1', 1));
        return;
      case 0x23: // # boolean
        if (line.length !== 2 || (line[1] !== 0x74 && line[1] !== 0x66)) break;
        this.resp3 = true;
        this.scalar(slot, line[1] === 0x74 ? 't' : 'f');
        return;
      case 0x5f: // _ null
        if (line.length !== 1) break;
        this.resp3 = true;
        this.scalar(slot, '');
        return;
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: {
        // = verbatim string
        const n = parseNumber(line, 1);
        if (n === undefined || n > MAX_BULK || n < -1 || (n === -1 && t !== 0x24)) break;
        if (t !== 0x24) this.resp3 = true;
        if (n === -1) {
          this.scalar(slot, '');
          return;
        }
        this.mode = Mode.Bulk;
        this.bulkBody = n;
        this.bulkCrlf = 2;
        this.bulkSlot = slot;
        this.bulkCapture = slot !== -2;
        this.capLen = 0;
        return;
      }
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: // % map
      case 0x7c: {
        // | attribute
        const n = parseNumber(line, 1);
        if (n === undefined || n > MAX_COUNT || n < -1 || (n === -1 && t !== 0x2a)) break;
        if (t !== 0x2a) this.resp3 = true;
        if (top && t !== 0x7c) this.argCount = Math.max(0, n);
        const count = t === 0x25 || t === 0x7c ? 2 * n : n;
        if (count <= 0) {
          // null or empty aggregate; an empty attribute is no element at all
          if (t === 0x7c) return;
          if (slot >= 0) this.args[slot] = '';
          this.elementDone();
          return;
        }
        if (depth >= MAX_DEPTH) {
          this.protocolError('nesting too deep');
          return;
        }
        if (slot >= 0) this.args[slot] = '';
        this.stack.push({ remaining: count, index: 0, attr: t === 0x7c });
        return;
      }
      default:
        break;
    }
    this.protocolError(`unexpected line starting with byte ${t}`);
  }

  /** Where a value starting now is captured: -1 top-level text, ≥0 element index, -2 nowhere. */
  private slotFor(top: boolean): number {
    if (top) return -1;
    if (this.stack.length !== 1) return -2;
    const f = this.stack[0];
    if (f.attr || f.index >= this.opts.captureArgs) return -2;
    return f.index;
  }

  private scalar(slot: number, s: string): void {
    if (slot === -1) this.text = s;
    else if (slot >= 0) this.args[slot] = s;
    this.elementDone();
  }

  /** A value finished: count it in its parent, closing the aggregates it completes. */
  private elementDone(): void {
    while (true) {
      const f = this.stack[this.stack.length - 1];
      if (!f) {
        this.emit(undefined, false);
        return;
      }
      f.remaining--;
      f.index++;
      if (f.remaining > 0) return;
      this.stack.pop();
      // a finished attribute is no element of its parent: the annotated value follows
      if (f.attr) return;
    }
  }

  private emit(protocolError: string | undefined, inlineError: boolean): void {
    const v: RespValue = {
      type: this.topType,
      args: this.args,
      argCount: this.argCount,
      text: this.text,
      bytes: this.valueBytes,
      resp3: this.resp3,
    };
    if (protocolError !== undefined) v.protocolError = protocolError;
    if (inlineError) v.inlineError = true;
    this.closeValue();
    this.events.value(v);
  }

  private closeValue(): void {
    this.valueOpen = false;
    this.valueBytes = 0;
    this.topType = 0;
    this.args = [];
    this.argCount = 0;
    this.text = '';
    this.capLen = 0;
    this.bulkCapture = false;
  }

  /** Gives up on the current value. */
  private abandon(resync: boolean): void {
    this.stack = [];
    this.mode = Mode.Line;
    this.closeValue();
    if (resync) this.synced = false;
  }

  private protocolError(message: string): void {
    this.events.error();
    if (this.opts.role === 'client' && this.synced) {
      // Redis answers an unreadable command with `-ERR Protocol error` (then closes)
      const bytes = this.valueBytes;
      const args = this.args;
      this.stack = [];
      this.mode = Mode.Line;
      this.valueBytes = bytes;
      this.args = args;
      this.topType = 0x2a;
      this.emit(message, false);
    } else {
      this.skipBytes += this.valueBytes;
      this.abandon(false);
    }
    this.synced = false;
    this.mode = Mode.Line;
  }
}

/** Decimal integer at `line[from..]` (optional sign), undefined when not a number or too long. */
export function parseNumber(line: Buffer, from: number): number | undefined {
  let i = from;
  let neg = false;
  if (i < line.length && (line[i] === 0x2d || line[i] === 0x2b)) {
    neg = line[i] === 0x2d;
    i++;
  }
  if (i >= line.length || line.length - i > 15) return undefined;
  let n = 0;
  for (; i < line.length; i++) {
    const d = line[i] - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

function isBigNumber(line: Buffer): boolean {
  let i = 1;
  if (i < line.length && (line[i] === 0x2d || line[i] === 0x2b)) i++;
  if (i >= line.length) return false;
  for (; i < line.length; i++) if (line[i] < 0x30 || line[i] > 0x39) return false;
  return true;
}

function isDouble(line: Buffer): boolean {
  if (line.length < 2 || line.length > 400) return false;
  const s = line.toString('latin1', 1);
  return /^[+-]?(inf|nan|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$/i.test(s);
}

/** A line that can start a RESP value on its own (for the server resync). */
export function isRespHeader(line: Buffer): boolean {
  if (line.length === 0) return false;
  switch (line[0]) {
    case 0x2b:
    case 0x2d:
      return line.length < 1024;
    case 0x3a:
    case 0x28:
      return isBigNumber(line);
    case 0x2c:
      return isDouble(line);
    case 0x23:
      return line.length === 2 && (line[1] === 0x74 || line[1] === 0x66);
    case 0x5f:
      return line.length === 1;
    default:
      return headerCount(line) !== undefined;
  }
}

/** Type bytes of bulk values (`$` blob string, `!` blob error, `=` verbatim string): a length, then that many bytes and CRLF. */
export const BULK_TYPES: ReadonlySet<number> = new Set([0x24, 0x21, 0x3d]);
/** Type bytes of aggregates (`*` array, `~` set, `>` push, `%` map, `|` attribute): an element count. */
export const AGGREGATE_TYPES: ReadonlySet<number> = new Set([0x2a, 0x7e, 0x3e, 0x25, 0x7c]);

/** The length or count in a bulk or aggregate header line (-1 for null, up to MAX_COUNT); undefined for any other line. */
export function headerCount(line: Buffer): number | undefined {
  if (line.length === 0 || !(BULK_TYPES.has(line[0]) || AGGREGATE_TYPES.has(line[0]))) return undefined;
  const n = parseNumber(line, 1);
  return n !== undefined && n >= -1 && n <= MAX_COUNT ? n : undefined;
}

/** Upper-case first word of a line (letters, digits, `_`, `-`, `|`, `.`), undefined otherwise. */
export function firstWord(line: Buffer): string | undefined {
  let end = 0;
  while (end < line.length && end <= 40) {
    const b = line[end];
    if (b === 0x20 || b === 0x09) break;
    const ok = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d || b === 0x2e || b === 0x7c;
    if (!ok) return undefined;
    end++;
  }
  if (end === 0 || end > 40) return undefined;
  return line.toString('latin1', 0, end).toUpperCase();
}

/**
 * Words of an inline command, as Redis splits them (sdssplitargs): blanks separate words,
 * "double quotes" take \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' take \'. A closing
 * quote must be followed by a blank; otherwise the line is a quoting error (`ok` false) and the
 * words read so far are returned.
 */
export function splitInline(line: Buffer, maxWords: number, maxWordBytes: number): { args: string[]; count: number; ok: boolean } {
  const args: string[] = [];
  let count = 0;
  let i = 0;
  const n = line.length;
  const word: number[] = [];
  while (true) {
    while (i < n && (line[i] === 0x20 || line[i] === 0x09 || line[i] === CR || line[i] === LF || line[i] === 0x0b || line[i] === 0x0c)) i++;
    if (i >= n) return { args, count, ok: true };
    word.length = 0;
    let inDq = false;
    let inSq = false;
    let done = false;
    while (!done) {
      const b = i < n ? line[i] : -1;
      if (inDq) {
        if (b === -1) return { args, count, ok: false };
        if (b === 0x5c && i + 3 < n && line[i + 1] === 0x78 && isHex(line[i + 2]) && isHex(line[i + 3])) {
          word.push(parseInt(line.toString('latin1', i + 2, i + 4), 16));
          i += 3;
        } else if (b === 0x5c && i + 1 < n) {
          i++;
          const e = line[i];
          word.push(e === 0x6e ? LF : e === 0x72 ? CR : e === 0x74 ? 0x09 : e === 0x62 ? 0x08 : e === 0x61 ? 0x07 : e);
        } else if (b === 0x22) {
          if (i + 1 < n && !isBlank(line[i + 1])) return { args, count, ok: false };
          done = true;
        } else {
          word.push(b);
        }
      } else if (inSq) {
        if (b === -1) return { args, count, ok: false };
        if (b === 0x5c && i + 1 < n && line[i + 1] === 0x27) {
          i++;
          word.push(0x27);
        } else if (b === 0x27) {
          if (i + 1 < n && !isBlank(line[i + 1])) return { args, count, ok: false };
          done = true;
        } else {
          word.push(b);
        }
      } else if (b === -1 || isBlank(b)) {
        done = true;
      } else if (b === 0x22) {
        inDq = true;
      } else if (b === 0x27) {
        inSq = true;
      } else {
        word.push(b);
      }
      if (word.length > maxWordBytes) word.length = maxWordBytes;
      if (i < n) i++;
    }
    count++;
    if (args.length < maxWords) args.push(Buffer.from(word).toString('utf8'));
  }
}

function isBlank(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === CR || b === LF || b === 0x0b || b === 0x0c;
}

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

/**
 * `n` bytes of `from` at `at` into `to` at `toAt`. Byte by byte when short: a Buffer.copy of a
 * range costs about 40 ns on Node 20 (it makes a view of the range), a loop about 1 ns a byte,
 * and most RESP lines (`*3`, `$5`, `+OK`) and keys are a few bytes.
 */
function copyBytes(from: Buffer, at: number, n: number, to: Buffer, toAt: number): void {
  if (n > 32) {
    from.copy(to, toAt, at, at + n);
    return;
  }
  for (let i = 0; i < n; i++) to[toAt + i] = from[at + i];
}

/** A bigger buffer (doubling, at most `limit`, at least `needed`) holding `b`'s first `kept` bytes. */
function grown(b: Buffer, kept: number, needed: number, limit: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.min(limit, Math.max(needed, 2 * b.length)));
  b.copy(bigger, 0, 0, kept);
  return bigger;
}
