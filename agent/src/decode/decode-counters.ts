/**
 * Why packets were not turned into flow updates. Malformed reasons are damage (a header that
 * lies, a frame cut by the snaplen); skipped reasons are valid packets we do not analyse.
 */
export const MALFORMED_REASONS = [
  'truncated_link_header',
  'truncated_ip_header',
  'bad_ip_version',
  'bad_ip_header_length',
  'bad_ip_total_length',
  'truncated_l4_header',
  'bad_tcp_header_length',
  'bad_udp_length',
  'bad_ipv6_extension_header',
  'bad_ipv4_fragment',
  /** Counted but still analysed, with the length the frame really holds. */
  'ip_length_exceeds_frame',
] as const;

export const SKIPPED_REASONS = [
  'non_ip',
  'unsupported_link_type',
  'other_l4_protocol',
  'ipv4_fragment_pending',
  'ipv4_fragment_expired',
  'ipv4_fragment_overflow',
  'ipv6_fragment',
  'encrypted_esp',
] as const;

export type MalformedReason = (typeof MALFORMED_REASONS)[number];
export type SkippedReason = (typeof SKIPPED_REASONS)[number];

export class DecodeCounters {
  readonly malformed: Record<MalformedReason, number> = zeroed(MALFORMED_REASONS);
  readonly skipped: Record<SkippedReason, number> = zeroed(SKIPPED_REASONS);
  /** IPv4 datagrams rebuilt from fragments. */
  reassembled = 0;

  malformedTotal(): number {
    return sum(this.malformed);
  }

  /** Reasons with a non-zero count, for reports. */
  static nonZero(counts: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [reason, n] of Object.entries(counts)) if (n > 0) out[reason] = n;
    return out;
  }
}

function zeroed<K extends string>(keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = 0;
  return out;
}

function sum(counts: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(counts)) n += v;
  return n;
}
