/**
 * Redis (RESP2 / RESP3) parser: one record per command, replies paired in order through a FIFO
 * of outstanding commands (pipelines). Pub/sub messages pushed by the server (`message`,
 * `pmessage`, `smessage` arrays in subscribed mode, RESP3 `>` pushes) answer no command: they
 * are read and counted in `stats.messages` but produce no record. Extra subscribe / unsubscribe
 * confirmations (one per channel after the first) are treated the same way.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, Verdict } from '../l7-parser';
import { AMBIGUOUS_INLINE, buildResource, MAX_COMMAND_LENGTH, REDIS_COMMANDS } from './redis-commands';
import { BULK_TYPES, firstWord, headerCount, parseNumber, RespReader, RespValue } from './resp-reader';

const DEFAULT_MAX_BUFFER = 64 * 1024;
/** Outstanding commands kept per connection; older ones are given up (status unknown). */
const MAX_PENDING = 10000;
const MAX_ERROR_TEXT = 512;

const SUBSCRIBE_KINDS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);
const PUBSUB_COMMANDS = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE']);

interface Pending {
  command: string;
  resource: string;
  timeUs: number;
  bytes: number;
  /** Record already written (timed out): the late reply is absorbed. */
  done: boolean;
  /** Stands for commands lost in a client-side gap: absorbs one reply. */
  barrier: boolean;
  protocolError?: string;
}

class RedisParser implements L7Parser {
  readonly protocol = 'redis' as const;
  /** The readers copy a line or bulk string's first bytes into their own buffers, or make text of them. */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly client: RespReader;
  private readonly server: RespReader;
  private readonly keepValues: boolean;
  private fifo: Pending[] = [];
  private head = 0;
  private out: L7Record[] = [];
  private seen: [boolean, boolean] = [false, false];
  private nowUs = 0;
  private subscribed = false;
  private resp3 = false;

  constructor(options: ParserOptions) {
    const max = Math.max(256, options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
    this.keepValues = options.keepRedisValues === true;
    const isCommand = (w: string): boolean => REDIS_COMMANDS.has(w);
    this.client = new RespReader(
      { role: 'client', captureArgs: this.keepValues ? 32 : 3, captureBytes: Math.min(256, max >> 2), maxLineBytes: max, isCommand },
      {
        value: (v) => this.onRequest(v),
        skipped: (n) => (this.stats.bytesSkipped += n),
        error: () => this.stats.parseErrors++,
      },
    );
    this.server = new RespReader(
      { role: 'server', captureArgs: 3, captureBytes: Math.min(MAX_ERROR_TEXT, max >> 2), maxLineBytes: max, isCommand },
      {
        value: (v) => this.onReply(v),
        skipped: (n) => (this.stats.bytesSkipped += n),
        error: () => this.stats.parseErrors++,
      },
    );
  }

  /** Bytes held between feeds, per direction (for tests of the buffering bound). */
  get bufferedBytes(): number {
    return this.client.bufferedBytes + this.server.bufferedBytes;
  }

  get pendingCount(): number {
    return this.fifo.length - this.head;
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    if (!this.seen[direction]) {
      // Redis clients speak first: a server speaking first means the capture started mid-stream
      if (direction === 0) this.client.synced = !this.seen[1];
      else this.server.synced = this.seen[0];
      this.seen[direction] = true;
    }
    this.nowUs = tsUs;
    (direction === 0 ? this.client : this.server).feed(data);
  }

  gap(direction: Direction, bytes: number): void {
    this.stats.bytesSkipped += Math.max(0, bytes);
    if (direction === 0) {
      // the commands lost in the gap (at least the one being read) are answered before the next ones
      this.client.reset(true);
      this.push({ command: '', resource: '', timeUs: this.nowUs, bytes: 0, done: true, barrier: true });
    } else {
      // the reply being read, or the next one, is lost with the gap
      this.server.reset(true);
      const p = this.shift();
      if (p && !p.done) this.record(p, undefined, 'unknown');
    }
  }

  expire(nowUs: number, timeoutUs: number): void {
    for (let i = this.head; i < this.fifo.length; i++) {
      const p = this.fifo[i];
      if (p.done) continue;
      if (nowUs - p.timeUs <= timeoutUs) break;
      p.done = true;
      this.record(p, undefined, 'timeout');
    }
  }

  close(nowUs: number): void {
    this.nowUs = nowUs;
    for (let i = this.head; i < this.fifo.length; i++) {
      const p = this.fifo[i];
      if (!p.done) this.record(p, undefined, 'timeout');
    }
    this.fifo = [];
    this.head = 0;
    this.client.reset(false);
    this.server.reset(false);
  }

  take(): L7Record[] {
    const r = this.out;
    this.out = [];
    return r;
  }

  private push(p: Pending): void {
    this.fifo.push(p);
    if (this.fifo.length - this.head > MAX_PENDING) {
      const old = this.shift();
      if (old && !old.done) this.record(old, undefined, 'unknown');
    }
  }

  private shift(): Pending | undefined {
    if (this.head >= this.fifo.length) return undefined;
    const p = this.fifo[this.head++];
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  private peek(): Pending | undefined {
    return this.head < this.fifo.length ? this.fifo[this.head] : undefined;
  }

  private onRequest(v: RespValue): void {
    this.stats.messages++;
    let command = sanitize(v.args[0] ?? '', MAX_COMMAND_LENGTH * 2).toUpperCase();
    let resource: string;
    if (v.protocolError !== undefined && v.args.length === 0) {
      command = '';
      resource = '';
    } else {
      const args = v.args.map((a, i) => (i === 0 ? command : sanitize(a, 256)));
      resource = buildResource(command, args, v.argCount, this.keepValues);
    }
    const p: Pending = { command, resource, timeUs: this.nowUs, bytes: v.bytes, done: false, barrier: false };
    if (v.protocolError !== undefined) p.protocolError = v.protocolError;
    else if (v.inlineError) p.protocolError = 'unbalanced quotes';
    this.push(p);
  }

  private onReply(v: RespValue): void {
    this.stats.messages++;
    if (v.resp3) this.resp3 = true;
    const aggregate = v.type === 0x2a || v.type === 0x3e;
    const kind = aggregate && v.args.length > 0 ? v.args[0].toLowerCase() : '';
    const head = this.peek();
    if (v.type === 0x3e || (v.type === 0x2a && (this.subscribed || (head !== undefined && PUBSUB_COMMANDS.has(head.command))))) {
      if (MESSAGE_KINDS.has(kind)) return; // a published message: no command's reply
      if (SUBSCRIBE_KINDS.has(kind)) {
        const count = parseNumber(Buffer.from(v.args[2] ?? ''), 0);
        if (kind.endsWith('unsubscribe')) {
          if (count === 0) this.subscribed = false;
        } else {
          this.subscribed = true;
        }
        // the first confirmation answers the command; the others (one per channel) answer nothing
        if (head === undefined || head.command !== kind.toUpperCase()) return;
      } else if (v.type === 0x3e) {
        return; // other RESP3 pushes (invalidate, tracking…)
      }
    }
    if (v.type === 0x2b && v.text === 'RESET') this.subscribed = false;
    const p = this.shift();
    if (!p || p.done) return; // no command waiting, or its record was already written (timeout, gap)
    const error = v.type === 0x2d || v.type === 0x21;
    this.record(p, v, error ? 'server_error' : 'ok');
  }

  private record(p: Pending, reply: RespValue | undefined, status: L7Record['status']): void {
    const r: L7Record = {
      protocol: 'redis',
      version: this.resp3 ? '3' : '2',
      requestType: p.command,
      requestDomain: '',
      requestResource: p.resource,
      endpoint: p.command,
      status,
      requestTimeUs: p.timeUs,
      requestLength: p.bytes,
      responseLength: reply ? reply.bytes : 0,
      countsAsRequest: true,
    };
    const attributes: Record<string, string> = {};
    if (reply) {
      r.responseTimeUs = this.nowUs;
      if (status === 'server_error') {
        const text = sanitize(reply.text, MAX_ERROR_TEXT);
        const space = text.indexOf(' ');
        r.responseException = space < 0 ? text : text.slice(0, space);
        attributes['redis.error_message'] = text;
      }
    }
    if (p.protocolError !== undefined) attributes['redis.request_error'] = p.protocolError;
    if (Object.keys(attributes).length > 0) r.attributes = attributes;
    this.out.push(r);
  }
}

/** Printable text: control bytes become `?`, capped. */
function sanitize(s: string, max: number): string {
  const t = s.length > max ? s.slice(0, max) : s;
  // eslint-disable-next-line no-control-regex
  return t.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** Client side: `*<n>\r\n$<len>\r\n<command>` or an inline command line. */
function detectClient(b: Buffer): Verdict {
  if (b.length === 0) return 'no';
  if (b[0] === 0x2a) {
    let i = 1;
    const n = readNumberLine(b, i);
    if (n === null) return 'maybe';
    if (n === undefined || n.value < 1 || n.value > 1 << 20) return 'no';
    i = n.next;
    if (i >= b.length) return 'maybe';
    if (b[i] !== 0x24) return 'no';
    const len = readNumberLine(b, i + 1);
    if (len === null) return 'maybe';
    if (len === undefined || len.value < 1 || len.value > MAX_COMMAND_LENGTH) return 'no';
    i = len.next;
    const end = i + len.value;
    if (end + 2 > b.length) return b.length - i > 0 && isWord(b, i, b.length) ? 'maybe' : b.length === i ? 'maybe' : 'no';
    if (b[end] !== 13 || b[end + 1] !== 10 || !isWord(b, i, end)) return 'no';
    return REDIS_COMMANDS.has(b.toString('latin1', i, end).toUpperCase()) ? 'yes' : 'maybe';
  }
  // inline: a known command word, then blanks / arguments, ended by a line feed
  const limit = Math.min(b.length, 512);
  let nl = -1;
  for (let i = 0; i < limit; i++) {
    const c = b[i];
    if (c === 10) {
      nl = i;
      break;
    }
    if ((c < 0x20 && c !== 9 && c !== 13) || c >= 0x7f) return 'no';
  }
  const lineEnd = nl < 0 ? limit : nl;
  const line = b.subarray(0, lineEnd > 0 && b[lineEnd - 1] === 13 ? lineEnd - 1 : lineEnd);
  const word = firstWord(line);
  if (word === undefined || !REDIS_COMMANDS.has(word)) return 'no';
  const text = line.toString('latin1');
  if (/ HTTP\/\d/i.test(text) || /\bRTSP\/|\bSIP\//i.test(text)) return 'no';
  if (nl < 0) return 'maybe';
  // words other protocols share (HTTP GET, memcached set/get, FTP TYPE, POP3 QUIT…) are not proof
  if (AMBIGUOUS_INLINE.has(word)) return 'maybe';
  return 'yes';
}

/**
 * Server side: a well-formed RESP reply. A lone simple string or error (`+OK`, `-ERR` are also
 * POP3) or an integer is only 'maybe'; a bulk string with its exact length or a non-empty
 * aggregate is 'yes'.
 */
function detectServer(b: Buffer): Verdict {
  let pos = 0;
  let pending = 1;
  let strong = false;
  let budget = 256;
  while (pending > 0) {
    if (budget-- <= 0) return strong ? 'yes' : 'maybe';
    if (pos >= b.length) return 'maybe';
    const t = b[pos];
    const nl = b.indexOf(10, pos);
    if (nl < 0) return nl - pos > 512 ? 'no' : prefixOk(t) ? 'maybe' : 'no';
    if (nl - pos > 512 || nl === pos || b[nl - 1] !== 13) return 'no';
    const line = b.subarray(pos, nl - 1);
    pos = nl + 1;
    pending--;
    switch (t) {
      case 0x2b:
      case 0x2d:
        for (let i = 1; i < line.length; i++) if (line[i] < 0x20 && line[i] !== 9) return 'no';
        break;
      case 0x3a:
      case 0x28:
      case 0x2c:
      case 0x23:
      case 0x5f: {
        const s = line.toString('latin1', 1);
        const ok =
          t === 0x5f ? s === '' : t === 0x23 ? s === 't' || s === 'f' : t === 0x2c ? /^[-+]?(inf|nan|\d+(\.\d*)?([eE][-+]?\d+)?)$/.test(s) : /^[-+]?\d{1,40}$/.test(s);
        if (!ok) return 'no';
        break;
      }
      default: {
        // a bulk or aggregate header; any other type byte is not RESP
        const n = headerCount(line);
        if (n === undefined) return 'no';
        if (BULK_TYPES.has(t)) {
          if (n > 512 * 1024 * 1024) return 'no';
          if (n >= 0) {
            if (pos + n + 2 > b.length) return 'maybe';
            if (b[pos + n] !== 13 || b[pos + n + 1] !== 10) return 'no';
            pos += n + 2;
            if (n > 0) strong = true;
          }
        } else if (n > 0) {
          pending += t === 0x25 ? 2 * n : t === 0x7c ? 2 * n + 1 : n;
          strong = true;
        }
        break;
      }
    }
  }
  if (pos < b.length && !prefixOk(b[pos])) return 'no';
  return strong ? 'yes' : 'maybe';
}

function prefixOk(t: number): boolean {
  return '+-:$*_#,(!=%~>|'.includes(String.fromCharCode(t));
}

/** `<digits>\r\n` at `from`: null when cut short, undefined when malformed. */
function readNumberLine(b: Buffer, from: number): { value: number; next: number } | null | undefined {
  let i = from;
  let v = 0;
  if (i < b.length && b[i] === 0x2d) return undefined;
  const start = i;
  while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) {
    v = v * 10 + (b[i] - 0x30);
    i++;
    if (i - start > 10) return undefined;
  }
  if (i >= b.length) return null;
  if (i === start || b[i] !== 13) return undefined;
  if (i + 1 >= b.length) return null;
  if (b[i + 1] !== 10) return undefined;
  return { value: v, next: i + 2 };
}

function isWord(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = b[i];
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d || c === 0x7c || c === 0x2e;
    if (!ok) return false;
  }
  return true;
}

export const redisModule: L7ProtocolModule = {
  name: 'redis',
  defaultPorts: [6379, 6380, 26379],
  detect(direction: Direction, payload: Buffer): Verdict {
    return direction === 0 ? detectClient(payload) : detectServer(payload);
  },
  create(options: ParserOptions = {}): L7Parser {
    return new RedisParser(options);
  },
};

/** The parser class, for tests that look at its buffering. */
export type RedisParserInstance = RedisParser;
