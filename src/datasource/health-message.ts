/** The agent's health answer as a sentence, the same in the browser's and the backend's health check. */
export interface AgentHealth {
  version: string;
  store: string;
  newest: Record<string, number | null>;
}

export function describeAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

export function healthMessage(health: AgentHealth, now: number): string {
  const newest = Math.max(0, ...Object.values(health.newest).map((t) => t ?? 0));
  const freshness = newest > 0 ? `newest data ${describeAge(now - newest)} old` : 'no data stored yet';
  return `MetaFlow agent ${health.version} (${health.store}): ${freshness}.`;
}
