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
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(t);
  if (scheme) {
    const slash = t.indexOf('/', scheme[0].length);
    t = slash < 0 ? '/' : t.slice(slash);
  }
  const q = t.search(/[?#]/);
  return q < 0 ? t : t.slice(0, q);
}

/** The normalised path cut to its first `segments` segments ('/' for the root). */
export function endpointOfPath(path: string, segments = 2): string {
  if (!path.startsWith('/')) return path;
  const keep = Math.max(0, Math.floor(segments));
  const parts = path.split('/').filter((s) => s.length > 0);
  const kept = parts.slice(0, keep).map(normalizeSegment);
  return '/' + kept.join('/');
}
