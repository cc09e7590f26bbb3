/** How a flow ended (SPEC §5). Numeric codes index the per-flow state; names are what we store. */
export const CLOSE_TYPES = [
  'none',
  'fin',
  'client_rst',
  'server_rst',
  'timeout',
  'forced_report',
  'server_syn_miss',
  'server_direct_rst',
  'client_ack_miss',
  'client_port_reuse',
  'client_other_rst',
  'server_other_rst',
  'server_queue_lack',
  'client_half_close',
  'server_half_close',
] as const;

export type CloseTypeName = (typeof CLOSE_TYPES)[number];

export const CloseType = Object.fromEntries(CLOSE_TYPES.map((name, code) => [name, code])) as {
  readonly [K in CloseTypeName]: number;
};

export type FlowStatus = 'ok' | 'client_error' | 'server_error';

/**
 * Who is to blame for each close type. A half close names the side that closed: the other side
 * never answered its FIN, so the fault lies with the side that did not close.
 */
const STATUS: Record<CloseTypeName, FlowStatus> = {
  none: 'ok',
  fin: 'ok',
  forced_report: 'ok',
  client_rst: 'client_error',
  client_ack_miss: 'client_error',
  client_port_reuse: 'client_error',
  client_other_rst: 'client_error',
  server_half_close: 'client_error',
  server_rst: 'server_error',
  timeout: 'server_error',
  server_syn_miss: 'server_error',
  server_direct_rst: 'server_error',
  server_other_rst: 'server_error',
  server_queue_lack: 'server_error',
  client_half_close: 'server_error',
};

export function closeStatus(code: number): FlowStatus {
  return STATUS[CLOSE_TYPES[code] ?? 'none'];
}

/** Handshake failures: the close types that mean a connection was never established. */
export const HANDSHAKE_FAILURES: readonly CloseTypeName[] = [
  'server_syn_miss',
  'server_direct_rst',
  'client_ack_miss',
  'client_port_reuse',
  'client_other_rst',
  'server_other_rst',
  'server_queue_lack',
];
