/**
 * SQL statement normalisation for the request log: literals (strings, numbers, hex/bit values)
 * become `?` unless kept, whitespace runs collapse to one space; and the `VERB table` endpoint.
 */

export const MAX_RESOURCE_CHARS = 1024;

function isIdentChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** End index (exclusive) of a quoted run starting at `i` (the quote), honouring \ escapes and doubled quotes. */
function quotedEnd(s: string, i: number, backslash: boolean): number {
  const q = s.charCodeAt(i);
  let j = i + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (backslash && c === 0x5c) {
      j += 2;
      continue;
    }
    if (c === q) {
      if (s.charCodeAt(j + 1) === q) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return s.length;
}

function numberEnd(s: string, i: number): number {
  let j = i;
  const c1 = s.charCodeAt(i + 1);
  if (s.charCodeAt(i) === 0x30 && (c1 === 0x78 || c1 === 0x58 || c1 === 0x62 || c1 === 0x42)) {
    j = i + 2;
    while (j < s.length && isIdentChar(s.charCodeAt(j))) j++;
    return j;
  }
  while (j < s.length && isDigit(s.charCodeAt(j))) j++;
  if (s.charCodeAt(j) === 0x2e) {
    j++;
    while (j < s.length && isDigit(s.charCodeAt(j))) j++;
  }
  const e = s.charCodeAt(j);
  if (e === 0x65 || e === 0x45) {
    let k = j + 1;
    const sign = s.charCodeAt(k);
    if (sign === 0x2b || sign === 0x2d) k++;
    if (isDigit(s.charCodeAt(k))) {
      j = k;
      while (j < s.length && isDigit(s.charCodeAt(j))) j++;
    }
  }
  // 123abc is an identifier in MySQL, not a number
  if (j < s.length && isIdentChar(s.charCodeAt(j))) {
    while (j < s.length && isIdentChar(s.charCodeAt(j))) j++;
    return -j;
  }
  return j;
}

export interface MaskOptions {
  /** Keep literals as written (default false: replace them with `?`). */
  keepLiterals?: boolean;
  /** Drop comments (used to find the endpoint). */
  dropComments?: boolean;
  /** Maximum output length (default MAX_RESOURCE_CHARS). */
  maxChars?: number;
}

/** Normalises a statement: literals masked with `?` (unless kept), whitespace collapsed. */
export function maskSql(sql: string, opts: MaskOptions = {}): string {
  const max = opts.maxChars ?? MAX_RESOURCE_CHARS;
  let out = '';
  let i = 0;
  let pendingSpace = false;
  const emit = (t: string): void => {
    if (pendingSpace && out.length > 0) out += ' ';
    pendingSpace = false;
    out += t;
  };
  while (i < sql.length && out.length < max) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      pendingSpace = true;
      i++;
      continue;
    }
    // comments
    if ((c === 0x2d && sql.charCodeAt(i + 1) === 0x2d && (i + 2 >= sql.length || isSpace(sql.charCodeAt(i + 2)))) || c === 0x23) {
      let j = sql.indexOf('\n', i);
      if (j < 0) j = sql.length;
      if (!opts.dropComments) emit(sql.slice(i, j).trimEnd());
      pendingSpace = true;
      i = j;
      continue;
    }
    if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      let j = sql.indexOf('*/', i + 2);
      j = j < 0 ? sql.length : j + 2;
      if (!opts.dropComments) emit(sql.slice(i, j));
      else pendingSpace = true;
      i = j;
      continue;
    }
    if (c === 0x27 || c === 0x22) {
      const j = quotedEnd(sql, i, true);
      emit(opts.keepLiterals ? sql.slice(i, j) : '?');
      i = j;
      continue;
    }
    if (c === 0x60) {
      const j = quotedEnd(sql, i, false);
      emit(sql.slice(i, j));
      i = j;
      continue;
    }
    // X'..', B'..', N'..' literals
    if ((c === 0x78 || c === 0x58 || c === 0x62 || c === 0x42 || c === 0x6e || c === 0x4e) && sql.charCodeAt(i + 1) === 0x27 && (i === 0 || !isIdentChar(sql.charCodeAt(i - 1)))) {
      const j = quotedEnd(sql, i + 1, c === 0x6e || c === 0x4e);
      emit(opts.keepLiterals ? sql.slice(i, j) : '?');
      i = j;
      continue;
    }
    if (isDigit(c) || (c === 0x2e && isDigit(sql.charCodeAt(i + 1)) && (i === 0 || !isIdentChar(sql.charCodeAt(i - 1))))) {
      const end = c === 0x2e ? numberEnd(sql, i + 1) : numberEnd(sql, i);
      if (end < 0) {
        emit(sql.slice(i, -end));
        i = -end;
      } else {
        emit(opts.keepLiterals ? sql.slice(i, end) : '?');
        i = end;
      }
      continue;
    }
    if (isIdentChar(c)) {
      let j = i + 1;
      while (j < sql.length && isIdentChar(sql.charCodeAt(j))) j++;
      emit(sql.slice(i, j));
      i = j;
      continue;
    }
    // punctuation: no space needed around it, keep a single one if written
    emit(sql[i]);
    i++;
  }
  return out.length > max ? out.slice(0, max) : out;
}

const TABLE_KEYWORDS = new Set(['FROM', 'INTO', 'UPDATE', 'TABLE', 'JOIN']);
const SKIP_AFTER_KEYWORD = new Set(['IF', 'NOT', 'EXISTS', 'ONLY', 'LOW_PRIORITY', 'IGNORE', 'DELAYED', 'HIGH_PRIORITY', 'QUICK']);

function tokens(sql: string): string[] {
  return sql.match(/`[^`]*`(?:\s*\.\s*(?:`[^`]*`|[A-Za-z0-9_$\u0080-\uffff]+))*|[A-Za-z0-9_$\u0080-\uffff]+(?:\.(?:`[^`]*`|[A-Za-z0-9_$\u0080-\uffff]+))*|\S/g) ?? [];
}

function isWord(t: string): boolean {
  return /^[A-Za-z_$`\u0080-\uffff]/.test(t);
}

function cleanName(t: string): string {
  return t.replace(/\s*\.\s*/g, '.').replace(/`/g, '');
}

/** Statement text the endpoint is read from, at most. */
const ENDPOINT_TEXT = 4096;

/** `VERB table`: the first keyword upper case and the first table after FROM/INTO/UPDATE/TABLE/JOIN. */
export function sqlEndpoint(sql: string): string {
  return endpointOfNormalized(normalizedForEndpoint(sql));
}

/** The statement as its endpoint is read from: its first ENDPOINT_TEXT units, comments dropped, literals masked. */
function normalizedForEndpoint(sql: string): string {
  return maskSql(sql.slice(0, ENDPOINT_TEXT), { dropComments: true, maxChars: ENDPOINT_TEXT });
}

/**
 * A statement's resource (SPEC §4: literals masked unless kept) and endpoint. A statement without
 * comments, literals masked and not cut, normalises for its endpoint exactly as for its resource:
 * it is then normalised once, not twice, and its endpoint found in a table of recent statements
 * (applications send the same statements with other literals), as the tokens cost more than the
 * rest of a query's record.
 */
export function sqlResourceAndEndpoint(sql: string, keepLiterals: boolean): { resource: string; endpoint: string } {
  const resource = maskSql(sql, { keepLiterals });
  const once = !keepLiterals && sql.length <= ENDPOINT_TEXT && resource.length < MAX_RESOURCE_CHARS && !mayHaveComment(sql);
  return { resource, endpoint: endpointOfNormalized(once ? resource : normalizedForEndpoint(sql)) };
}

/** Whether `sql` holds what may start a comment (also inside a quoted literal: then it is only normalised twice). */
function mayHaveComment(sql: string): boolean {
  return sql.indexOf('#') >= 0 || sql.indexOf('--') >= 0 || sql.indexOf('/*') >= 0;
}

/** Endpoints of recent normalised statements; emptied when full. */
const recentEndpoints = new Map<string, string>();
const RECENT_ENDPOINTS = 4096;

/** The endpoint of a statement normalised with its comments dropped. */
function endpointOfNormalized(normalized: string): string {
  const known = recentEndpoints.get(normalized);
  if (known !== undefined) return known;
  const endpoint = endpointOfTokens(tokens(normalized));
  if (recentEndpoints.size >= RECENT_ENDPOINTS) recentEndpoints.clear();
  recentEndpoints.set(normalized, endpoint);
  return endpoint;
}

function endpointOfTokens(toks: string[]): string {
  const verbIdx = toks.findIndex(isWord);
  if (verbIdx < 0) return '';
  const verb = toks[verbIdx].toUpperCase();
  for (let i = verbIdx; i < toks.length; i++) {
    if (!TABLE_KEYWORDS.has(toks[i].toUpperCase())) continue;
    let j = i + 1;
    while (j < toks.length && SKIP_AFTER_KEYWORD.has(toks[j].toUpperCase())) j++;
    const t = toks[j];
    if (t !== undefined && isWord(t) && !TABLE_KEYWORDS.has(t.toUpperCase()) && t.toUpperCase() !== 'SELECT') {
      return `${verb} ${cleanName(t)}`;
    }
  }
  return verb;
}

/** The database named by a `USE db` statement, or undefined. */
export function useDatabase(sql: string): string | undefined {
  const m = /^\s*use\s+(`[^`]+`|[A-Za-z0-9_$\u0080-\uffff]+)\s*;?\s*$/i.exec(sql);
  return m ? cleanName(m[1]) : undefined;
}
