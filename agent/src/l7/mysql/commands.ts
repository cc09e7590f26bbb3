/** MySQL command bytes (the first payload byte of a client packet with sequence 0). */

export const COMMAND_NAMES: readonly string[] = [
  'COM_SLEEP',
  'COM_QUIT',
  'COM_INIT_DB',
  'COM_QUERY',
  'COM_FIELD_LIST',
  'COM_CREATE_DB',
  'COM_DROP_DB',
  'COM_REFRESH',
  'COM_SHUTDOWN',
  'COM_STATISTICS',
  'COM_PROCESS_INFO',
  'COM_CONNECT',
  'COM_PROCESS_KILL',
  'COM_DEBUG',
  'COM_PING',
  'COM_TIME',
  'COM_DELAYED_INSERT',
  'COM_CHANGE_USER',
  'COM_BINLOG_DUMP',
  'COM_TABLE_DUMP',
  'COM_CONNECT_OUT',
  'COM_REGISTER_SLAVE',
  'COM_STMT_PREPARE',
  'COM_STMT_EXECUTE',
  'COM_STMT_SEND_LONG_DATA',
  'COM_STMT_CLOSE',
  'COM_STMT_RESET',
  'COM_SET_OPTION',
  'COM_STMT_FETCH',
  'COM_DAEMON',
  'COM_BINLOG_DUMP_GTID',
  'COM_RESET_CONNECTION',
  'COM_CLONE',
];

export const Com = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  DEBUG: 0x0d,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  BINLOG_DUMP_GTID: 0x1e,
} as const;

/** Commands a client sends in the command phase (excludes internal-only ones such as COM_SLEEP, COM_CONNECT, COM_TIME, COM_DELAYED_INSERT, COM_DAEMON). */
export function isClientCommand(code: number): boolean {
  return code >= 0x01 && code <= 0x20 && code !== 0x0b && code !== 0x0f && code !== 0x10 && code !== 0x1d;
}

/** Commands the server never answers. */
export function expectsNoResponse(code: number): boolean {
  return code === Com.QUIT || code === Com.STMT_CLOSE || code === Com.STMT_SEND_LONG_DATA;
}
