/**
 * HTTP endpoint derivation (SPEC §4): the request path, query and fragment removed, with
 * high-cardinality segments replaced by placeholders, cut to its first N segments.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMERIC = /^\d+$/;
const HEX = /^[0-9a-f]+$/i;
const BASE64ISH = /^[A-Za-z0-9+_-]+={0,2}$/;

/** The placeholder for one path segment, or the segment itself. */
export function normalizeSegment(segment: string): string {
  if (NUMERIC.test(segment)) return '{id}';
  if (segment.length === 36 && UUID.test(segment)) return '{uuid}';
  if (looksLikeHash(segment)) return '{hash}';
  return segment;
}

/** Long hex strings (≥ 16 digits, with a digit) and base64-looking tokens (≥ 20, mixed classes). */
export function looksLikeHash(s: string): boolean {
  if (s.length >= 16 && HEX.test(s) && /\d/.test(s)) return true;
  if (s.length < 20 || !BASE64ISH.test(s)) return false;
  let digits = 0;
  let upper = 0;
  let lower = 0;
  let separators = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c >= 97 && c <= 122) lower++;
    else if (c === 45 || c === 95) separators++;
  }
  // Slugs ("my-blog-post-2023") use separators between words; encoded tokens rarely do.
  return digits > 0 && upper > 0 && lower > 0 && separators <= 1;
}

/** The path of a request target: query and fragment removed; absolute-form targets reduced to their path. */
export function pathOfTarget(target: string): string {
  let t = target;
  // A scheme starts with a letter: the usual origin-form target ('/…') skips the expression.
  if (t.charCodeAt(0) !== 0x2f) {
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(t);
    if (scheme) {
      const slash = t.indexOf('/', scheme[0].length);
      t = slash < 0 ? '/' : t.slice(slash);
    }
  }
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return t.slice(0, i);
  }
  return t;
}

/** The normalised path cut to its first `segments` segments ('/' for the root). */
export function endpointOfPath(path: string, segments = 2): string {
  if (!path.startsWith('/')) return path;
  const keep = Math.max(0, Math.floor(segments));
  // The endpoint depends only on the path up to its last kept segment: that prefix is looked up.
  let h = Math.imul(keep, 0x9e3779b1);
  let end = 0;
  let kept = 0;
  let i = 0;
  const n = path.length;
  while (i < n && kept < keep) {
    if (path.charCodeAt(i) === 0x2f) {
      h = Math.imul(h ^ 0x2f, FNV_PRIME);
      i++;
      continue;
    }
    let segment = 0x811c9dc5;
    let digits = true;
    for (; i < n; i++) {
      const c = path.charCodeAt(i);
      if (c === 0x2f) break;
      if (c < 0x30 || c > 0x39) digits = false;
      segment = Math.imul(segment ^ c, FNV_PRIME);
    }
    // An all-digit segment is `{id}` whatever its digits: one entry serves every id.
    h = Math.imul(h ^ (digits ? ID_SEGMENT : segment), FNV_PRIME);
    end = i;
    kept++;
  }
  const slot = (h ^ (h >>> 15)) & (INTERNED - 1);
  if (internedKeep[slot] === keep && samePrefix(internedSource[slot], path, end)) return internedEndpoints[slot];
  const endpoint = normalizedEndpoint(path, keep);
  internedSource[slot] = path.slice(0, end);
  internedEndpoints[slot] = endpoint;
  internedKeep[slot] = keep;
  return endpoint;
}

/*
 * Endpoints of recent paths, by the path up to its last kept segment (all-digit segments match
 * any digits), in a table of fixed size where a miss replaces the entry. The same endpoint is
 * then the same string, request after request: no string is made, and the RED rows and the
 * endpoint cap, which look it up, find its hash kept (the split and join of the full derivation
 * cost more than the rest of the request's RED accounting).
 */
const INTERNED = 1024;
const FNV_PRIME = 0x01000193;
/** Hashed for an all-digit segment in place of its segment hash. */
const ID_SEGMENT = 0x2d1d;
const internedSource: string[] = new Array<string>(INTERNED).fill('');
const internedEndpoints: string[] = new Array<string>(INTERNED).fill('');
const internedKeep: number[] = new Array<number>(INTERNED).fill(-1);

/** Whether the first `end` characters of `path` equal `source`, an all-digit segment matching any other. */
function samePrefix(source: string, path: string, end: number): boolean {
  const m = source.length;
  let i = 0;
  let j = 0;
  while (i < m && j < end) {
    const a = source.charCodeAt(i);
    const b = path.charCodeAt(j);
    // At a segment start (in both: what came before matched, up to this '/').
    if (isDigit(a) && isDigit(b) && source.charCodeAt(i - 1) === 0x2f) {
      const ia = digitsEnd(source, i, m);
      const jb = digitsEnd(path, j, end);
      if (ia < 0 !== jb < 0) return false;
      if (ia >= 0) {
        i = ia;
        j = jb;
        continue;
      }
    }
    if (a !== b) return false;
    i++;
    j++;
  }
  return i === m && j === end;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The end of the all-digit segment at `from` (before `end`), or -1 when it has another character. */
function digitsEnd(s: string, from: number, end: number): number {
  let i = from;
  while (i < end && isDigit(s.charCodeAt(i))) i++;
  return i === end || s.charCodeAt(i) === 0x2f ? i : -1;
}

function normalizedEndpoint(path: string, keep: number): string {
  const parts = path.split('/').filter((s) => s.length > 0);
  const kept = parts.slice(0, keep).map(normalizeSegment);
  return '/' + kept.join('/');
}
