/**
 * DateTime64(6) text for ClickHouse: seconds since the epoch zero-padded to 10 digits (ClickHouse
 * reads a shorter integer part as a date), then 6 decimals.
 */
export function micros(us: number): string {
  const whole = Math.floor(us / 1_000_000);
  const frac = Math.round(us - whole * 1_000_000);
  return `${String(whole).padStart(10, '0')}.${String(frac).padStart(6, '0')}`;
}
