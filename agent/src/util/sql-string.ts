/** A ClickHouse single-quoted string literal of `text`: backslashes and quotes escaped. */
export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
