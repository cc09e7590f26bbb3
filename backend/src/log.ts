/**
 * Logs as go-plugin's host reads them from a plugin's stderr: one JSON object per line with
 * hclog's keys, so Grafana files them under the plugin with the right level.
 */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export function log(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ '@level': level, '@message': message, '@timestamp': new Date().toISOString(), ...fields })}\n`);
}
