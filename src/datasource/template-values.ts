/**
 * Template variables without Grafana's TemplateSrv, as pure functions: the backend resolves an
 * alert rule's variables with them (no dashboard there), and the frontend uses the same list
 * encoding to expand multi-value variables. Grafana's syntax: `$name`, `${name}`,
 * `${name:format}`, `[[name]]`, `[[name:format]]`.
 */

const MARK = String.fromCharCode(0);

/**
 * Formats a variable's value(s) as a JSON list between NUL marks: values may hold any character
 * (an IPv6 service's brackets), and JSON escapes NUL inside strings, so the marks stay unambiguous.
 */
export function listFormat(value: string | string[]): string {
  return MARK + JSON.stringify(Array.isArray(value) ? value : [value]) + MARK;
}

/** A replaced text that `listFormat` turned into lists, or plain text as one value. */
export function expandValues(text: string): string[] {
  const parts = text.split(MARK);
  // Marked lists split into ['', list, '', list, ''...]: anything else is plain text.
  if (parts.length < 3 || parts.length % 2 === 0 || parts.some((p, i) => i % 2 === 0 && p !== '')) return [text];
  try {
    return parts.filter((_, i) => i % 2 === 1).flatMap((l) => (JSON.parse(l) as unknown[]).map(String));
  } catch {
    return [text];
  }
}

export type VariableValues = Record<string, string | string[]>;
export type VariableFormat = (value: string | string[]) => string;

const VARIABLE_PATTERN = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}/g;

/** Grafana's named formats a saved query may use (the ones that make sense without a dashboard). */
export function namedFormat(name: string | undefined): VariableFormat {
  const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
  switch (name) {
    case 'csv':
    case 'raw':
      return (v) => list(v).join(',');
    case 'pipe':
      return (v) => list(v).join('|');
    case 'json':
      return (v) => JSON.stringify(v);
    case 'singlequote':
      return (v) => list(v).map((x) => `'${x.replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return (v) => list(v).map((x) => `"${x.replace(/"/g, '\\"')}"`).join(',');
    default:
      // Grafana's default ("glob"): one value as is, several as {a,b}.
      return (v) => (Array.isArray(v) ? (v.length === 1 ? v[0] : `{${v.join(',')}}`) : v);
  }
}

/** The variable names a text refers to, in order of appearance, without duplicates. */
export function variableNames(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(VARIABLE_PATTERN)) names.add(m[1] ?? m[2] ?? m[4]);
  return [...names];
}

/**
 * Replaces the variables `values` knows; the others stay as written (the caller decides whether
 * that is an error). `format` overrides the formats written in the text (list expansion).
 */
export function replaceVariables(text: string, values: VariableValues, format?: VariableFormat): string {
  return text.replace(VARIABLE_PATTERN, (match, plain?: string, bracket?: string, bracketFormat?: string, braced?: string, bracedFormat?: string) => {
    const name = plain ?? bracket ?? braced ?? '';
    if (!(name in values)) return match;
    return (format ?? namedFormat(bracketFormat ?? bracedFormat))(values[name]);
  });
}
