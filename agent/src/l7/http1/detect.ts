/**
 * First-payload check for HTTP/1.x: a complete request line `METHOD SP target SP HTTP/1.x` or a
 * status line `HTTP/1.x SP ddd`. Anything else (TLS records, Redis inline commands without an
 * HTTP version, MySQL packets, binary data) is 'no'; an incomplete but plausible first line is
 * 'maybe'.
 */
import { Direction, Verdict } from '../l7-parser';
import { isTokenChar, MAX_METHOD, parseRequestLine, parseStatusLine } from './http-head';

/** Longest first line looked at (a longer request target is still HTTP, but 'maybe'). */
const MAX_LINE = 8192;

function firstLine(payload: Buffer): Buffer | undefined {
  const lf = payload.indexOf(0x0a);
  if (lf < 0 || lf > MAX_LINE) return undefined;
  return payload.subarray(0, lf > 0 && payload[lf - 1] === 0x0d ? lf - 1 : lf);
}

/** Whether the bytes (no complete line) can still become a request or status line. */
function plausiblePrefix(p: Buffer): boolean {
  const n = Math.min(p.length, MAX_LINE);
  if (n === 0) return false;
  const http = 'HTTP/1.';
  let isStatusPrefix = true;
  for (let i = 0; i < Math.min(n, http.length); i++) if (p[i] !== http.charCodeAt(i)) isStatusPrefix = false;
  if (isStatusPrefix) return true;
  let i = 0;
  while (i < n && i <= MAX_METHOD && isTokenChar(p[i])) i++;
  if (i === n) return i <= MAX_METHOD;
  if (i === 0 || i > MAX_METHOD || p[i] !== 0x20) return false;
  for (let j = i + 1; j < n; j++) if (p[j] < 0x20 || p[j] >= 0x7f) return false;
  // A target must start like one: '/', '*', an absolute URI or an authority (CONNECT).
  return i + 1 >= n || /[/*A-Za-z0-9[]/.test(String.fromCharCode(p[i + 1]));
}

export function detectHttp1(direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  const line = firstLine(payload);
  if (line === undefined) return payload.indexOf(0x0a) < 0 && plausiblePrefix(payload) ? 'maybe' : 'no';
  const request = parseRequestLine(line);
  if (request) return direction === 0 ? 'yes' : 'maybe';
  const status = parseStatusLine(line);
  if (status) return direction === 1 ? 'yes' : 'maybe';
  return 'no';
}
