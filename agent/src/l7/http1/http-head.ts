/**
 * HTTP/1.x message heads: start lines and header fields (RFC 9112 §2-5). Header names are case
 * insensitive (stored lower case); obsolete line folding is tolerated (joined with a space).
 */

export interface RequestLine {
  method: string;
  target: string;
  version: '1.0' | '1.1';
}

export interface StatusLine {
  version: '1.0' | '1.1';
  code: number;
}

/** RFC 9110 tchar. */
export function isTokenChar(c: number): boolean {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  // ! # $ % & ' * + - . ^ _ ` | ~
  return c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
}

/** isTokenChar by byte: the header name scan runs per header line. */
const TOKEN = new Uint8Array(256);
for (let c = 0; c < 256; c++) TOKEN[c] = isTokenChar(c) ? 1 : 0;

export const MAX_METHOD = 32;

/*
 * Heads are parsed per message, so the code below compares bytes rather than making strings to
 * compare: the usual methods are constant strings, header names are matched in place against the
 * few a parser reads, and only their values become strings (a library parser would build every
 * name and value as a string, then lower-case the name).
 */

/** Whether `b` holds `HTTP/1.` at `at`. */
function isHttp1Prefix(b: Buffer, at: number): boolean {
  return b[at] === 0x48 && b[at + 1] === 0x54 && b[at + 2] === 0x54 && b[at + 3] === 0x50 && b[at + 4] === 0x2f && b[at + 5] === 0x31 && b[at + 6] === 0x2e;
}

/** Strings by length, looked up by their bytes. */
function byLength(names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (const n of names) (out[n.length] ??= []).push(n);
  return out;
}

function constantOf(table: string[][], b: Buffer, start: number, end: number): string | undefined {
  const candidates = table[end - start];
  if (candidates === undefined) return undefined;
  next: for (const name of candidates) {
    for (let i = 0; i < name.length; i++) {
      if (b[start + i] !== name.charCodeAt(i)) continue next;
    }
    return name;
  }
  return undefined;
}

const METHODS = byLength(['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'TRACE', 'DELETE', 'OPTIONS', 'CONNECT']);

/**
 * `METHOD SP target SP HTTP/1.x` (a line without its CR LF: `start` to `end` of `b`, by default
 * all of it, so the parser reads a head in place), else undefined.
 */
export function parseRequestLine(b: Buffer, start = 0, end = b.length): RequestLine | undefined {
  let i = start;
  while (i < end && i - start <= MAX_METHOD && isTokenChar(b[i])) i++;
  if (i === start || i - start > MAX_METHOD || i >= end || b[i] !== 0x20) return undefined;
  const targetStart = i + 1;
  let targetEnd = targetStart;
  while (targetEnd < end && b[targetEnd] > 0x20 && b[targetEnd] < 0x7f) targetEnd++;
  if (targetEnd === targetStart || targetEnd >= end || b[targetEnd] !== 0x20) return undefined;
  // The rest is `HTTP/1.1` or `HTTP/1.0`, exactly.
  const v = targetEnd + 1;
  if (end - v !== 8 || !isHttp1Prefix(b, v) || (b[v + 7] !== 0x31 && b[v + 7] !== 0x30)) return undefined;
  const method = constantOf(METHODS, b, start, i) ?? b.toString('latin1', start, i);
  return { method, target: b.toString('latin1', targetStart, targetEnd), version: b[v + 7] === 0x31 ? '1.1' : '1.0' };
}

/** `HTTP/1.x SP ddd [SP reason]` (a line without its CR LF, as for parseRequestLine), else undefined. */
export function parseStatusLine(b: Buffer, start = 0, end = b.length): StatusLine | undefined {
  if (end - start < 12 || !isHttp1Prefix(b, start)) return undefined;
  const minor = b[start + 7];
  if ((minor !== 0x30 && minor !== 0x31) || b[start + 8] !== 0x20) return undefined;
  for (let i = start + 9; i < start + 12; i++) if (b[i] < 0x30 || b[i] > 0x39) return undefined;
  if (end - start > 12 && b[start + 12] !== 0x20) return undefined;
  const code = (b[start + 9] - 0x30) * 100 + (b[start + 10] - 0x30) * 10 + (b[start + 11] - 0x30);
  if (code < 100) return undefined;
  return { version: minor === 0x31 ? '1.1' : '1.0', code };
}

/**
 * The next LF at or after `from`, or -1. Node's own search: on Node 20 a call costs about 11 ns
 * whatever the line's length, where a JavaScript loop over the bytes takes about 0.6 ns a byte
 * plus its overhead (equal at about 12 bytes; a head's lines are 15 to 110).
 */
export function indexOfLf(b: Buffer, from: number): number {
  return b.indexOf(0x0a, from);
}

/** JavaScript's `trim()` white space among latin1 characters. */
function isTrimmed(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/**
 * The header fields a parser reads, each given a slot in HeaderFields.values. Names are matched
 * against the raw bytes of a line, case-insensitively: a field not listed costs no string at all.
 */
export class FieldNames {
  /** Lower-case names, by slot. */
  readonly names: readonly string[];
  /** Slot of content-length when its text is never read (only its number): its digits are then parsed in place. */
  readonly lengthOnlySlot: number;
  private readonly slots = new Map<string, number>();
  /**
   * Candidates by name length: their lower-case bytes and slots, in parallel lists. Bytes and an
   * indexed loop rather than [name, slot] pairs iterated with destructuring and charCodeAt: the
   * match ran for every header line and was near half of the line's cost.
   */
  private readonly namesByLength: Uint8Array[][] = [];
  private readonly slotsByLength: number[][] = [];

  /** `names` in any case; repeats share a slot. `lengthText`: whether the text of content-length is read. */
  constructor(names: readonly string[], lengthText = true) {
    const unique: string[] = [];
    for (const n of names) {
      const name = n.toLowerCase();
      if (this.slots.has(name)) continue;
      this.slots.set(name, unique.length);
      (this.namesByLength[name.length] ??= []).push(Buffer.from(name, 'latin1'));
      (this.slotsByLength[name.length] ??= []).push(unique.length);
      unique.push(name);
    }
    this.names = unique;
    this.lengthOnlySlot = lengthText ? -1 : (this.slots.get('content-length') ?? -1);
  }

  slotOf(name: string): number {
    return this.slots.get(name) ?? -1;
  }

  /**
   * Slot of the name at `start` to `end` of `b`, else -1. A hand-written compare (ASCII letters
   * folded byte by byte) rather than a lower-cased string and a Map lookup: profiles of the
   * HTTP/1 path had that string per header line as its largest cost.
   */
  match(b: Buffer, start: number, end: number): number {
    const n = end - start;
    const candidates = this.namesByLength[n];
    if (candidates === undefined) return -1;
    next: for (let k = 0; k < candidates.length; k++) {
      const name = candidates[k];
      for (let i = 0; i < n; i++) {
        let c = b[start + i];
        if (c >= 0x41 && c <= 0x5a) c |= 0x20;
        if (c !== name[i]) continue next;
      }
      return this.slotsByLength[n][k];
    }
    return -1;
  }
}

/** The fields of one head that a FieldNames lists. */
export interface HeaderFields {
  /** Values by slot: names case-insensitive, repeats joined with ', ', folded lines with ' ', malformed lines ignored. */
  readonly values: (string | undefined)[];
  /** Content-Length parsed from its bytes (one field of digits, in the lengthOnlySlot, value left unset), else -1. */
  length: number;
}

/**
 * The fields of `names` among the lines from `start` to `end` of `buf` (the head after its start
 * line, up to its empty line), without a Buffer per line:
 * only the values kept are made into strings.
 */
export function parseHeaderBlock(buf: Buffer, start: number, end: number, names: FieldNames): HeaderFields {
  const fields = newHeaderFields(names);
  let last = NO_FIELD;
  let at = start;
  while (at < end) {
    let lf = indexOfLf(buf, at);
    if (lf < 0 || lf > end) lf = end;
    const lineEnd = lf > at && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    last = headerLine(buf, at, lineEnd, fields, names, last);
    at = lf + 1;
  }
  return fields;
}

/**
 * Fields with none found yet, for headerLine. The values start as holes, which read as undefined:
 * two heads a request make these, and filling them with undefined tripled their cost.
 */
export function newHeaderFields(names: FieldNames): HeaderFields {
  return { values: new Array<string | undefined>(names.names.length), length: -1 };
}

/** `last` when no field precedes (a folded line is then an ordinary, malformed, line). */
export const NO_FIELD = -1;
/** `last` after a field not kept (its folded lines are skipped with it). */
const SKIPPED = -2;

/** Whether the 1 to 15 bytes from `start` to `end` are digits. */
function isShortDigits(b: Buffer, start: number, end: number): boolean {
  if (end === start || end - start > 15) return false;
  for (let i = start; i < end; i++) if (b[i] < 0x30 || b[i] > 0x39) return false;
  return true;
}

/**
 * One line (without CR LF) into `fields`; returns the slot a folded line
 * would continue, the `last` of the next line (NO_FIELD for the first line after the start line).
 */
export function headerLine(buf: Buffer, start: number, end: number, fields: HeaderFields, names: FieldNames, last: number): number {
  if (end === start) return last;
  const c0 = buf[start];
  const values = fields.values;
  if ((c0 === 0x20 || c0 === 0x09) && last !== NO_FIELD) {
    if (last === SKIPPED) return last;
    const cont = buf.toString('latin1', start, end).trim();
    if (cont.length > 0) {
      textOfLength(fields, names, last);
      values[last] = `${values[last] ?? ''} ${cont}`.trim();
    }
    return last;
  }
  // The name: token characters up to the first colon (a line whose first non-token is not a colon is ignored).
  let colon = start;
  while (colon < end && TOKEN[buf[colon]] === 1) colon++;
  if (colon === start || colon >= end || buf[colon] !== 0x3a) return NO_FIELD;
  const slot = names.match(buf, start, colon);
  if (slot < 0) return SKIPPED;
  let vs = colon + 1;
  let ve = end;
  while (vs < ve && isTrimmed(buf[vs])) vs++;
  while (ve > vs && isTrimmed(buf[ve - 1])) ve--;
  if (slot === names.lengthOnlySlot && fields.length < 0 && values[slot] === undefined && isShortDigits(buf, vs, ve)) {
    let n = 0;
    for (let i = vs; i < ve; i++) n = n * 10 + (buf[i] - 0x30);
    fields.length = n;
    return slot;
  }
  textOfLength(fields, names, slot);
  const value = vs === ve ? '' : buf.toString('latin1', vs, ve);
  const prev = values[slot];
  values[slot] = prev === undefined ? value : `${prev}, ${value}`;
  return slot;
}

/**
 * Before content-length parsed from its digits is extended (repeated or folded): its value as
 * text. Its own digits are gone, but contentLength() reads the same number from these.
 */
function textOfLength(fields: HeaderFields, names: FieldNames, slot: number): void {
  if (slot !== names.lengthOnlySlot || fields.length < 0) return;
  fields.values[slot] = String(fields.length);
  fields.length = -1;
}

/**
 * Content-Length when it is one valid decimal (repeated identical values allowed), -1 when absent,
 * -2 when invalid. `v`: the field's value, as `HeaderFields` keeps it.
 */
export function contentLengthOf(v: string | undefined): number {
  if (v === undefined) return -1;
  // One value of digits, the usual case, without splitting and a regular expression.
  if (v.length > 0 && v.length <= 15) {
    let digits = true;
    for (let i = 0; i < v.length && digits; i++) digits = v.charCodeAt(i) >= 0x30 && v.charCodeAt(i) <= 0x39;
    if (digits) return Number(v);
  }
  let n = -1;
  for (const part of v.split(',')) {
    const t = part.trim();
    if (!/^\d{1,15}$/.test(t)) return -2;
    const x = Number(t);
    if (n >= 0 && x !== n) return -2;
    n = x;
  }
  return n;
}

/** contentLengthOf the content-length of `fields` (`slot`: its slot in their FieldNames). */
export function contentLength(fields: HeaderFields, slot: number): number {
  return fields.length >= 0 ? fields.length : contentLengthOf(fields.values[slot]);
}

/** True when the last transfer coding of `te` (a transfer-encoding value) is chunked. */
export function isChunked(te: string | undefined): boolean {
  if (te === undefined) return false;
  const codings = te.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  return codings.length > 0 && codings[codings.length - 1] === 'chunked';
}

export interface LenientRequestLine {
  method: string;
  target: string;
  /** '1.0' / '1.1', or '' when the version is missing or malformed. */
  version: '1.0' | '1.1' | '';
}

const LENIENT = /^([A-Z][A-Z0-9_-]{0,31}) ([/*][^ ]*|[a-z][a-z0-9+.-]*:\/\/[^ ]*|[A-Za-z0-9.-]+:\d{1,5})?(?: ?(HTTP\/[^ ]*))?$/;

/**
 * A malformed request line servers still answer (usually with 400): an upper-case method, SP,
 * a target that starts like one and an optional, possibly broken, version (`GET / HTTP/1.`,
 * `GET /HTTP/1.1`, `OPTIONS HTTP/1.1`). Used only where a request is expected, never by detect().
 */
export function parseRequestLineLenient(line: Buffer): LenientRequestLine | undefined {
  if (line.length > 8192) return undefined;
  for (let i = 0; i < line.length; i++) if (line[i] < 0x20 || line[i] >= 0x7f) return undefined;
  const m = LENIENT.exec(line.toString('latin1'));
  if (!m || (m[2] === undefined && m[3] === undefined)) return undefined;
  const version = m[3] === 'HTTP/1.1' ? '1.1' : m[3] === 'HTTP/1.0' ? '1.0' : '';
  return { method: m[1], target: m[2] ?? '', version };
}
