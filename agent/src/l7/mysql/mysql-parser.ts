/**
 * MySQL client/server protocol parser (SPEC §4).
 *
 * Connection phase: server greeting → HandshakeResponse (or SSLRequest: parsing stops, the rest is
 * TLS) → auth switch / more data exchanges → OK/ERR, logged as one `LOGIN` record that does not
 * count as a request. Command phase: each client message with sequence 0 is a command; commands
 * that expect a response wait in a FIFO; the first server packet after a command starts its
 * response (response time = that packet's capture time − the command's, as the oracle measures),
 * and the response is followed to its end (result sets, prepare OK with parameter/column
 * definitions, multi-results, LOCAL INFILE) so the next response pairs with the next command.
 * COM_CHANGE_USER is timed to its final OK/ERR.
 */
import { Direction, L7Parser, L7ProtocolModule, L7Record, ParserOptions, ParserStats, ResponseStatus, Verdict } from '../l7-parser';
import { COMMAND_NAMES, Com, expectsNoResponse, isClientCommand } from './commands';
import {
  Cap,
  MAX_PACKET,
  MysqlMessage,
  PacketReader,
  SERVER_MORE_RESULTS_EXISTS,
  parseErr,
  parseGreeting,
  parseHandshakeResponse,
  plausibleChain,
  queryTextOffset,
  readLenEnc,
  statusFlags,
} from './packets';
import { sqlResourceAndEndpoint, useDatabase } from './sql-masking';

const DEFAULT_MAX_BUFFER = 64 * 1024;
const HEAD_CAP = 16 * 1024;
const MAX_PENDING = 1024;
const MAX_STATEMENTS = 256;

type Phase = 'init' | 'greeted' | 'login' | 'command' | 'tls';

interface Pending {
  record: L7Record;
  code: number;
  /** Sequence id of the command's last packet: its response starts at + 1. */
  lastSeq: number;
  /** COM_INIT_DB / USE: the database that becomes current on OK. */
  newDb?: string;
  /** COM_STMT_PREPARE: the statement text and endpoint kept for COM_STMT_EXECUTE. */
  prepared?: { resource: string; endpoint: string };
}

/** What the rest of the current response looks like. */
type RespState =
  | { k: 'idle' }
  /** `left` definitions, then (EOF unless CLIENT_DEPRECATE_EOF) and `next`. */
  | { k: 'defs'; left: number; next: 'rows' | 'end' | 'defs2'; more: number }
  /** An EOF that is there unless CLIENT_DEPRECATE_EOF (unknown capabilities: inferred from the packet). */
  | { k: 'eof'; next: 'rows' | 'end' | 'defs2'; more: number }
  /** Rows until an EOF/OK terminator or ERR. */
  | { k: 'rows' }
  /** A further result after SERVER_MORE_RESULTS_EXISTS. */
  | { k: 'next' }
  /** Until the final OK/ERR (COM_CHANGE_USER, LOCAL INFILE): sequence ids interleave with the client. */
  | { k: 'final' }
  /** Replication stream: everything belongs to it. */
  | { k: 'stream' };

function baseRecord(requestType: string): L7Record {
  return {
    protocol: 'mysql',
    version: '',
    requestType,
    requestDomain: '',
    requestResource: '',
    endpoint: '',
    status: 'unknown',
    requestLength: -1,
    responseLength: -1,
    countsAsRequest: true,
  };
}

export function errorStatus(code: number): ResponseStatus {
  return code >= 2000 && code <= 2999 ? 'client_error' : 'server_error';
}

export class MysqlParser implements L7Parser {
  readonly protocol = 'mysql' as const;
  /** The packet readers copy the first bytes of each packet they keep (packets.ts). */
  readonly copiesInput = true;
  readonly stats: ParserStats = { messages: 0, bytesSkipped: 0, parseErrors: 0 };
  private readonly out: L7Record[] = [];
  private readonly readers: [PacketReader, PacketReader];
  private phase: Phase = 'init';
  private version = '';
  private serverVersion = '';
  private serverCaps = 0;
  private clientCaps = 0;
  private database = '';
  private user = '';
  private login: Pending | null = null;
  private readonly pending: Pending[] = [];
  private current: Pending | null = null;
  private resp: RespState = { k: 'idle' };
  private expSeq = 0;
  private readonly statements = new Map<number, { resource: string; endpoint: string }>();

  constructor(private readonly options: ParserOptions) {
    const cap = Math.max(64, Math.min(options.maxBufferBytes ?? DEFAULT_MAX_BUFFER, HEAD_CAP));
    this.readers = [
      new PacketReader(cap, this.stats, (d) => this.plausibleClient(d), (m) => this.onClient(m)),
      new PacketReader(cap, this.stats, (d) => this.plausibleServer(d), (m) => this.onServer(m)),
    ];
  }

  feed(direction: Direction, data: Buffer, tsUs: number): void {
    if (this.phase === 'tls' || data.length === 0) return;
    this.readers[direction].feed(data, tsUs);
  }

  gap(direction: Direction, bytes: number): void {
    if (this.phase === 'tls') return;
    this.stats.bytesSkipped += Math.max(0, bytes);
    this.readers[direction].desync();
    // What was lost cannot be paired reliably: finish what is open, flush what waits.
    this.finishCurrent();
    this.resp = { k: 'idle' };
    if (this.login) {
      this.login.record.status = 'unknown';
      this.out.push(this.login.record);
      this.login = null;
    }
    if (this.phase !== 'init') this.phase = 'command';
    for (const p of this.pending.splice(0)) {
      p.record.status = 'unknown';
      this.out.push(p.record);
    }
  }

  expire(nowUs: number, timeoutUs: number): void {
    if (this.resp.k === 'eof' && this.current && (this.current.record.responseTimeUs ?? 0) + timeoutUs < nowUs) {
      this.finishCurrent();
      this.resp = { k: 'idle' };
    }
    if (this.login && (this.login.record.requestTimeUs ?? 0) + timeoutUs < nowUs) {
      this.login.record.status = 'timeout';
      this.out.push(this.login.record);
      this.login = null;
      this.phase = 'command';
    }
    while (this.pending.length > 0 && (this.pending[0].record.requestTimeUs ?? 0) + timeoutUs < nowUs) {
      const p = this.pending.shift() as Pending;
      p.record.status = 'timeout';
      this.out.push(p.record);
    }
  }

  close(_nowUs: number): void {
    this.finishCurrent();
    this.resp = { k: 'idle' };
    if (this.login) {
      this.login.record.status = 'timeout';
      this.out.push(this.login.record);
      this.login = null;
    }
    for (const p of this.pending.splice(0)) {
      p.record.status = 'timeout';
      this.out.push(p.record);
    }
  }

  take(): L7Record[] {
    return this.out.splice(0);
  }

  /** Bytes held for partial messages (both directions) and commands waiting: for bound checks. */
  get held(): { bytes: number; pending: number } {
    return { bytes: this.readers[0].buffered + this.readers[1].buffered, pending: this.pending.length };
  }

  // ---- capabilities --------------------------------------------------------------------------

  /** True / false when the handshake was seen, undefined when the capture started later. */
  private capability(flag: number): boolean | undefined {
    if (this.clientCaps) return (this.clientCaps & flag) !== 0 && (this.serverCaps === 0 || (this.serverCaps & flag) !== 0);
    if (this.serverCaps) return (this.serverCaps & flag) !== 0 ? undefined : false;
    return undefined;
  }

  // ---- resynchronisation ---------------------------------------------------------------------

  private plausibleClient(d: Buffer): boolean {
    return plausibleChain(d, 0, (seq, len, body) => {
      if (seq === 0) return body.length > 0 && isClientCommand(body[0]);
      if (seq === 1 && (this.phase === 'init' || this.phase === 'greeted')) return len >= 32 && body.length >= 4 && (body.readUInt16LE(0) & Cap.PROTOCOL_41) !== 0;
      return false;
    });
  }

  private plausibleServer(d: Buffer): boolean {
    return plausibleChain(d, 1, (seq, len, body) => {
      if (body.length === 0) return false;
      const b = body[0];
      if (seq === 0) return (b === 0x0a && parseGreeting(body) !== null) || (b === 0xff && len >= 3 && (this.phase === 'init' || this.phase === 'greeted'));
      const expected = this.pending.length > 0 ? (this.pending[0].lastSeq + 1) & 0xff : 1;
      if (seq !== 1 && seq !== expected && !(this.login && this.phase === 'login')) return false;
      if (b === 0x00) return len >= 7;
      if (b === 0xff) return len >= 3;
      if (b === 0xfe) return len < MAX_PACKET;
      if (b === 0x01 && len > 1) return this.phase === 'login';
      if (this.pending.length > 0 && this.pending[0].code === Com.FIELD_LIST && b === 0x03) return true;
      if (b < 0xfb) return len === 1;
      if (b === 0xfc) return len === 3;
      if (b === 0xfd) return len === 4;
      return false;
    });
  }

  // ---- client side ---------------------------------------------------------------------------

  private onClient(m: MysqlMessage): void {
    if (this.phase === 'tls') return;
    this.stats.messages++;
    if (m.seq !== 0) {
      if (this.phase === 'init' || this.phase === 'greeted') {
        if (m.seq === 1) this.onHandshakeResponse(m);
        return;
      }
      // auth data during login / COM_CHANGE_USER, LOCAL INFILE contents: part of the exchange
      if (this.login) this.login.record.requestLength += m.wireBytes;
      return;
    }
    if (m.head.length === 0 || !isClientCommand(m.head[0])) {
      this.stats.parseErrors++;
      return;
    }
    if (this.phase === 'login') {
      // a new command while the login was still waiting: the login result was not captured
      if (this.login) {
        this.login.record.status = 'unknown';
        this.out.push(this.login.record);
        this.login = null;
      }
    }
    this.phase = 'command';
    this.onCommand(m);
  }

  private onHandshakeResponse(m: MysqlMessage): void {
    const hs = parseHandshakeResponse(m.head, m.length);
    if (!hs) {
      this.stats.parseErrors++;
      return;
    }
    this.clientCaps = hs.capabilities >>> 0 || 0;
    if (hs.ssl) {
      this.phase = 'tls';
      this.readers[0].desync();
      this.readers[1].desync();
      return;
    }
    this.user = hs.user;
    if (hs.database) this.database = hs.database;
    const record = baseRecord('LOGIN');
    record.version = this.version;
    record.requestDomain = this.database;
    record.countsAsRequest = false;
    record.requestTimeUs = m.lastTs;
    record.requestLength = m.wireBytes;
    record.attributes = this.attributes();
    this.login = { record, code: -1, lastSeq: m.lastSeq };
    this.phase = 'login';
  }

  private attributes(): Record<string, string> | undefined {
    const a: Record<string, string> = {};
    if (this.user) a.user = this.user;
    if (this.serverVersion) a.server_version = this.serverVersion;
    return Object.keys(a).length > 0 ? a : undefined;
  }

  private onCommand(m: MysqlMessage): void {
    const code = m.head[0];
    const name = COMMAND_NAMES[code] ?? `COM_${code}`;
    const record = baseRecord(name);
    record.version = this.version;
    record.requestTimeUs = m.lastTs;
    record.requestLength = m.wireBytes;
    const p: Pending = { record, code, lastSeq: m.lastSeq };
    const keep = this.options.keepSqlLiterals === true;
    const text = (from: number): string => (from >= 0 && from <= m.head.length ? m.head.toString('utf8', from) : '');
    let sql: string | undefined;
    switch (code) {
      case Com.QUERY: {
        let attrs = this.capability(Cap.QUERY_ATTRIBUTES);
        if (attrs === undefined) attrs = m.head.length >= 3 && m.head[1] === 0x00 && m.head[2] === 0x01;
        sql = text(queryTextOffset(m.head, attrs));
        const db = useDatabase(sql);
        if (db !== undefined) p.newDb = db;
        break;
      }
      case Com.STMT_PREPARE:
        sql = text(1);
        break;
      case Com.INIT_DB: {
        const db = text(1).slice(0, 256);
        p.newDb = db;
        record.requestResource = db;
        record.endpoint = name;
        break;
      }
      case Com.FIELD_LIST: {
        const end = m.head.indexOf(0, 1);
        record.requestResource = m.head.toString('utf8', 1, end < 0 ? Math.min(m.head.length, 257) : end);
        record.endpoint = name;
        break;
      }
      case Com.CREATE_DB:
      case Com.DROP_DB:
        record.requestResource = text(1).slice(0, 256);
        record.endpoint = name;
        break;
      case Com.STMT_EXECUTE:
      case Com.STMT_CLOSE:
      case Com.STMT_RESET:
      case Com.STMT_SEND_LONG_DATA:
      case Com.STMT_FETCH: {
        record.endpoint = name;
        if (m.head.length >= 5) {
          const id = m.head.readUInt32LE(1);
          record.requestId = id;
          const st = this.statements.get(id);
          if (st) {
            record.requestResource = st.resource;
            record.endpoint = st.endpoint;
          }
          if (code === Com.STMT_CLOSE) this.statements.delete(id);
        }
        break;
      }
      default:
        record.endpoint = name;
    }
    if (sql !== undefined) {
      const { resource, endpoint } = sqlResourceAndEndpoint(sql, keep);
      record.requestResource = resource;
      record.endpoint = endpoint;
      if (code === Com.STMT_PREPARE) p.prepared = { resource: record.requestResource, endpoint: record.endpoint };
    }
    record.requestDomain = p.newDb ?? this.database;
    if (expectsNoResponse(code)) {
      record.countsAsRequest = false;
      record.status = 'ok';
      this.out.push(record);
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      const old = this.pending.shift() as Pending;
      old.record.status = 'unknown';
      this.out.push(old.record);
    }
    this.pending.push(p);
  }

  // ---- server side ---------------------------------------------------------------------------

  private onServer(m: MysqlMessage): void {
    if (this.phase === 'tls') return;
    this.stats.messages++;
    const b = m.head.length > 0 ? m.head[0] : -1;
    if ((this.phase === 'init' || this.phase === 'greeted') && m.seq === 0 && b === 0x0a) {
      const g = parseGreeting(m.head);
      if (g) {
        this.version = String(g.protocolVersion);
        this.serverVersion = g.serverVersion;
        this.serverCaps = g.capabilities;
        this.phase = 'greeted';
        return;
      }
    }
    if ((this.phase === 'init' || this.phase === 'greeted') && m.seq === 0 && b === 0xff) {
      // the server refused the connection instead of greeting (e.g. 1130 host not allowed)
      const r = baseRecord('LOGIN');
      r.countsAsRequest = false;
      r.requestTimeUs = m.firstTs;
      r.responseTimeUs = m.firstTs;
      r.requestLength = 0;
      r.responseLength = m.wireBytes;
      r.attributes = { stage: 'greeting' };
      this.setStatus(r, m, b);
      this.out.push(r);
      this.phase = 'command';
      return;
    }
    if (this.login) {
      this.onLoginResponse(m, b);
      return;
    }
    if (this.resp.k !== 'idle' && this.current) {
      const restart = m.seq === 1 && this.resp.k !== 'final' && this.resp.k !== 'stream' && m.seq !== this.expSeq;
      if (!restart) {
        this.current.record.responseLength += m.wireBytes;
        this.expSeq = (m.lastSeq + 1) & 0xff;
        if (this.continueResponse(m, b)) {
          if ((this.resp as RespState).k === 'idle') this.finishCurrent();
          return;
        }
        // not part of this response (an optional EOF that was absent): a new response starts
        this.current.record.responseLength -= m.wireBytes;
      } else if (this.resp.k !== 'eof') {
        this.stats.parseErrors++;
      }
      this.finishCurrent();
      this.resp = { k: 'idle' };
    }
    this.startResponse(m, b);
  }

  private onLoginResponse(m: MysqlMessage, b: number): void {
    const login = this.login as Pending;
    if (b === 0x00 || b === 0xff) {
      const r = login.record;
      r.responseTimeUs = m.firstTs;
      r.responseLength = (r.responseLength < 0 ? 0 : r.responseLength) + m.wireBytes;
      this.setStatus(r, m, b);
      this.out.push(r);
      this.login = null;
      this.phase = 'command';
      return;
    }
    // auth switch (0xfe) / more data (0x01): the exchange goes on
    login.record.responseLength = (login.record.responseLength < 0 ? 0 : login.record.responseLength) + m.wireBytes;
  }

  private setStatus(r: L7Record, m: MysqlMessage, b: number): void {
    if (b === 0xff) {
      const e = parseErr(m.head);
      if (e) {
        r.status = errorStatus(e.code);
        r.responseCode = e.code;
        r.responseException = e.message;
        if (e.sqlState) r.attributes = { ...(r.attributes ?? {}), sql_state: e.sqlState };
      } else {
        r.status = 'server_error';
      }
    } else {
      r.status = 'ok';
    }
  }

  private startResponse(m: MysqlMessage, b: number): void {
    const p = this.pending[0];
    if (!p) return; // a response whose command was not captured
    if (m.seq !== ((p.lastSeq + 1) & 0xff)) {
      this.stats.parseErrors++;
      return;
    }
    this.pending.shift();
    this.current = p;
    const r = p.record;
    r.responseTimeUs = m.firstTs;
    r.responseLength = m.wireBytes;
    this.expSeq = (m.lastSeq + 1) & 0xff;
    if (p.code === Com.CHANGE_USER) {
      if (b === 0x00 || b === 0xff) this.finishResponse(m, b);
      else this.resp = { k: 'final' };
      return;
    }
    this.setStatus(r, m, b);
    if (b === 0xff) {
      this.finishCurrent();
      return;
    }
    if (b === 0x00 && p.newDb !== undefined) {
      this.database = p.newDb;
    }
    this.resp = this.afterFirst(p, m, b);
    if (this.resp.k === 'idle') this.finishCurrent();
  }

  /** COM_CHANGE_USER: the final OK/ERR gives the time and status. */
  private finishResponse(m: MysqlMessage, b: number): void {
    const p = this.current;
    if (!p) return;
    p.record.responseTimeUs = m.firstTs;
    this.setStatus(p.record, m, b);
    this.resp = { k: 'idle' };
    this.finishCurrent();
  }

  private afterFirst(p: Pending, m: MysqlMessage, b: number): RespState {
    switch (p.code) {
      case Com.QUERY:
      case Com.STMT_EXECUTE:
      case Com.PROCESS_INFO:
        return this.resultStart(m, b);
      case Com.STMT_PREPARE: {
        if (b !== 0x00 || m.head.length < 9) return { k: 'idle' };
        const id = m.head.readUInt32LE(1);
        const cols = m.head.readUInt16LE(5);
        const params = m.head.readUInt16LE(7);
        p.record.requestId = id;
        if (p.prepared) {
          if (this.statements.size >= MAX_STATEMENTS) {
            const first = this.statements.keys().next();
            if (!first.done) this.statements.delete(first.value);
          }
          this.statements.set(id, p.prepared);
        }
        if (params > 0) return { k: 'defs', left: params, next: cols > 0 ? 'defs2' : 'end', more: cols };
        if (cols > 0) return { k: 'defs', left: cols, next: 'end', more: 0 };
        return { k: 'idle' };
      }
      case Com.FIELD_LIST:
        return this.isTerminator(m, b) ? { k: 'idle' } : { k: 'rows' };
      case Com.STMT_FETCH:
        return this.isTerminator(m, b) ? this.afterTerminator(m) : { k: 'rows' };
      case Com.BINLOG_DUMP:
      case Com.BINLOG_DUMP_GTID:
        return b === 0x00 ? { k: 'stream' } : { k: 'idle' };
      default:
        return { k: 'idle' };
    }
  }

  /** First packet of a (further) result: OK, LOCAL INFILE request or a result-set column count. */
  private resultStart(m: MysqlMessage, b: number): RespState {
    if (b === 0x00) return statusFlags(m.head, m.length) & SERVER_MORE_RESULTS_EXISTS ? { k: 'next' } : { k: 'idle' };
    if (b === 0xfb) return { k: 'final' };
    if (b === 0xfe || b === 0xff || b < 0) return { k: 'idle' };
    const n = readLenEnc(m.head, 0);
    if (!n || n[0] === 0 || n[0] > 4096) {
      this.stats.parseErrors++;
      return { k: 'idle' };
    }
    return { k: 'defs', left: n[0], next: 'rows', more: 0 };
  }

  private isTerminator(m: MysqlMessage, b: number): boolean {
    return (b === 0xfe && m.length < MAX_PACKET) || b === 0xff;
  }

  private afterTerminator(m: MysqlMessage): RespState {
    if (m.head[0] === 0xff) return { k: 'idle' };
    return statusFlags(m.head, m.length) & SERVER_MORE_RESULTS_EXISTS ? { k: 'next' } : { k: 'idle' };
  }

  /** Moves on after a run of definitions (or its EOF). */
  private afterDefs(next: 'rows' | 'end' | 'defs2', more: number): RespState {
    if (next === 'rows') return { k: 'rows' };
    if (next === 'defs2' && more > 0) return { k: 'defs', left: more, next: 'end', more: 0 };
    return { k: 'idle' };
  }

  /** Consumes `m` as part of the current response; false when it does not belong to it. */
  private continueResponse(m: MysqlMessage, b: number): boolean {
    const s = this.resp;
    switch (s.k) {
      case 'defs': {
        if (b === 0xff) {
          this.resp = { k: 'idle' };
          return true;
        }
        if (s.left > 1) {
          this.resp = { ...s, left: s.left - 1 };
          return true;
        }
        // with unknown capabilities the EOF is optional: 'eof' checks the next packet
        this.resp = this.capability(Cap.DEPRECATE_EOF) === true ? this.afterDefs(s.next, s.more) : { k: 'eof', next: s.next, more: s.more };
        return true;
      }
      case 'eof': {
        const known = this.capability(Cap.DEPRECATE_EOF) === false;
        if (b === 0xfe && (known || m.length < 9)) {
          this.resp = this.afterDefs(s.next, s.more);
          return true;
        }
        // no EOF (CLIENT_DEPRECATE_EOF): the packet belongs to what follows the definitions
        const after = this.afterDefs(s.next, s.more);
        this.resp = after;
        if (after.k === 'idle') return false;
        return this.continueResponse(m, b);
      }
      case 'rows':
        if (this.isTerminator(m, b)) this.resp = this.afterTerminator(m);
        return true;
      case 'next':
        this.resp = b === 0xff ? { k: 'idle' } : this.resultStart(m, b);
        return true;
      case 'final':
        if (b === 0x00 || b === 0xff) {
          if (this.current?.code === Com.CHANGE_USER) {
            this.finishResponse(m, b);
          } else {
            this.resp = b === 0x00 && statusFlags(m.head, m.length) & SERVER_MORE_RESULTS_EXISTS ? { k: 'next' } : { k: 'idle' };
          }
        }
        return true;
      case 'stream':
        return true;
      default:
        return false;
    }
  }

  private finishCurrent(): void {
    if (!this.current) return;
    this.out.push(this.current.record);
    this.current = null;
  }
}

// ---- detection -------------------------------------------------------------------------------

function detect(direction: Direction, payload: Buffer, _serverPort: number): Verdict {
  if (payload.length < 5) return 'no';
  const len = payload.readUIntLE(0, 3);
  const seq = payload[3];
  if (len === 0) return 'no';
  const body = payload.subarray(4, 4 + len);
  const exact = len + 4 === payload.length;
  if (seq === 0 && body[0] === 0x0a) {
    if (len < 20 || len > 1024) return 'no';
    return parseGreeting(body) !== null && len + 4 <= payload.length ? 'yes' : 'no';
  }
  if (direction === 0) {
    if (seq === 0 && exact && isClientCommand(body[0])) {
      if (body[0] === Com.QUERY || body[0] === Com.STMT_PREPARE) {
        const text = body.toString('latin1', 1, Math.min(body.length, 64));
        return /^\s*(\/\*.*?\*\/\s*)?(select|insert|update|delete|set|show|use|create|drop|alter|begin|commit|rollback|call|replace|explain|describe|desc|start|truncate|grant|flush|kill|lock|unlock|with|load|analyze|optimize|do|prepare|execute|deallocate|savepoint|release|xa|handler|check|repair|rename|revoke|install|uninstall|reset|purge|change|stop|help|checksum|cache|binlog|get|signal|resignal|shutdown|restart|clone|import|table|values)\b/i.test(text)
          ? 'maybe'
          : 'no';
      }
      return len <= 256 ? 'maybe' : 'no';
    }
    if (seq === 1 && len >= 32 && body.length >= 32 && (body.readUInt16LE(0) & Cap.PROTOCOL_41) !== 0 && body.subarray(9, 32).every((x) => x === 0)) {
      return 'maybe';
    }
    return 'no';
  }
  if (seq === 1 && exact) {
    if (body[0] === 0xff && len >= 9 && body[3] === 0x23) return 'maybe';
    if (body[0] === 0x00 && len >= 7 && len <= 64) return 'maybe';
  }
  return 'no';
}

export const mysqlModule: L7ProtocolModule = {
  name: 'mysql',
  defaultPorts: [3306],
  detect,
  create(options: ParserOptions = {}): L7Parser {
    return new MysqlParser(options);
  },
};
