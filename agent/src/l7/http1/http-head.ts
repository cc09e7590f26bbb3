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

export interface MessageHead {
  /** Header fields, lower-case names; repeated fields joined with ', '. */
  headers: Map<string, string>;
}

/** RFC 9110 tchar. */
export function isTokenChar(c: number): boolean {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  // ! # $ % & ' * + - . ^ _ ` | ~
  return c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
}

export const MAX_METHOD = 32;

/** `METHOD SP target SP HTTP/1.x` (a line without its CR LF), else undefined. */
export function parseRequestLine(line: Buffer): RequestLine | undefined {
  let i = 0;
  while (i < line.length && i <= MAX_METHOD && isTokenChar(line[i])) i++;
  if (i === 0 || i > MAX_METHOD || i >= line.length || line[i] !== 0x20) return undefined;
  const method = line.toString('latin1', 0, i);
  const start = i + 1;
  let end = start;
  while (end < line.length && line[end] > 0x20 && line[end] < 0x7f) end++;
  if (end === start || end >= line.length || line[end] !== 0x20) return undefined;
  const rest = line.toString('latin1', end + 1);
  if (rest !== 'HTTP/1.1' && rest !== 'HTTP/1.0') return undefined;
  return { method, target: line.toString('latin1', start, end), version: rest === 'HTTP/1.1' ? '1.1' : '1.0' };
}

/** `HTTP/1.x SP ddd [SP reason]` (a line without its CR LF), else undefined. */
export function parseStatusLine(line: Buffer): StatusLine | undefined {
  if (line.length < 12 || line.toString('latin1', 0, 7) !== 'HTTP/1.') return undefined;
  const minor = line[7];
  if ((minor !== 0x30 && minor !== 0x31) || line[8] !== 0x20) return undefined;
  for (let i = 9; i < 12; i++) if (line[i] < 0x30 || line[i] > 0x39) return undefined;
  if (line.length > 12 && line[12] !== 0x20) return undefined;
  const code = (line[9] - 0x30) * 100 + (line[10] - 0x30) * 10 + (line[11] - 0x30);
  if (code < 100) return undefined;
  return { version: minor === 0x31 ? '1.1' : '1.0', code };
}

/** Header fields of the lines after the start line (each without CR LF). Malformed lines are ignored. */
export function parseHeaderLines(lines: Buffer[]): Map<string, string> {
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of lines) {
    if (line.length === 0) continue;
    if ((line[0] === 0x20 || line[0] === 0x09) && last !== undefined) {
      const cont = line.toString('latin1').trim();
      if (cont.length > 0) headers.set(last, `${headers.get(last) ?? ''} ${cont}`.trim());
      continue;
    }
    const colon = line.indexOf(0x3a);
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    let ok = true;
    for (let i = 0; i < colon; i++) {
      if (!isTokenChar(line[i])) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      last = undefined;
      continue;
    }
    const name = line.toString('latin1', 0, colon).toLowerCase();
    const value = line.toString('latin1', colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
    last = name;
  }
  return headers;
}

/** Splits a head (start line to the empty line, exclusive) into lines without CR LF. */
export function splitLines(head: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const lf = head.indexOf(0x0a, start);
    const end = lf < 0 ? head.length : lf;
    const lineEnd = end > start && head[end - 1] === 0x0d ? end - 1 : end;
    lines.push(head.subarray(start, lineEnd));
    if (lf < 0) break;
    start = lf + 1;
    if (start >= head.length) break;
  }
  return lines;
}

/**
 * Content-Length when it is one valid decimal (repeated identical values allowed), -1 when absent,
 * -2 when invalid.
 */
export function contentLength(headers: Map<string, string>): number {
  const v = headers.get('content-length');
  if (v === undefined) return -1;
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

/** True when the last transfer coding is chunked. */
export function isChunked(headers: Map<string, string>): boolean {
  const te = headers.get('transfer-encoding');
  if (te === undefined) return false;
  const codings = te.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  return codings.length > 0 && codings[codings.length - 1] === 'chunked';
}

/** Comma-separated tokens of a header, lower case. */
export function headerTokens(headers: Map<string, string>, name: string): string[] {
  const v = headers.get(name);
  return v === undefined ? [] : v.split(',').map((s) => s.trim().toLowerCase());
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
