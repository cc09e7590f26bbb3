/**
 * The contract between the flow layer and the application-protocol parsers (SPEC §4).
 *
 * A parser is a small state machine per flow, fed the payload of each direction in order (TCP
 * after reassembly, UDP one datagram at a time, eBPF one syscall buffer at a time). It never
 * throws on bad input: it resynchronises at the next message boundary it can recognise, and
 * counts what it had to skip. It emits one record per request/response session.
 */

/** 0: client → server, 1: server → client (the flow's orientation). */
export type Direction = 0 | 1;

export type L7ProtocolName = 'http1' | 'http2' | 'grpc' | 'dubbo' | 'mysql' | 'redis' | 'kafka' | 'mqtt' | 'dns' | 'tls';

export type ResponseStatus = 'ok' | 'client_error' | 'server_error' | 'timeout' | 'unknown' | 'parse_failed';

/** One request/response session: a row of `l7_flow_log` (SPEC §4). */
export interface L7Record {
  protocol: L7ProtocolName;
  /** Protocol version as text: '1.1', '2', '5.0', 'TLS 1.3'… ('' when unknown). */
  version: string;
  requestType: string;
  requestDomain: string;
  requestResource: string;
  endpoint: string;
  /** The protocol's own id (HTTP/2 stream, Dubbo request id, DNS id, Kafka correlation id, MQTT packet id). */
  requestId?: number;
  status: ResponseStatus;
  /** Status / error code (HTTP status, MySQL error code, DNS RCODE, Kafka error code…). */
  responseCode?: number;
  /** Error text or name (MySQL error message, Redis error prefix, gRPC message…). */
  responseException?: string;
  /**
   * Capture times of the request and of the response, µs since the epoch. Each protocol times
   * them the way its tshark dissector does (e.g. HTTP: the segments completing each message;
   * MySQL: the first server packet after a command), so response times compare with tshark.
   */
  requestTimeUs?: number;
  responseTimeUs?: number;
  /** Bytes of the request / response messages on the wire (-1 when unknown). */
  requestLength: number;
  responseLength: number;
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  xRequestId?: string;
  /** Protocol-specific extras kept as tags (header allow-list, TLS cipher, ALPN…). */
  attributes?: Record<string, string>;
  /**
   * Whether the record takes part in the request/response accounting (RED, summary). False for
   * messages that expect no response (MQTT QoS 0 PUBLISH, COM_QUIT), a login result logged but
   * not counted, or a duplicate of a response already counted. A response whose request was
   * not seen (no `requestTimeUs`) counts as a response, not as a request.
   */
  countsAsRequest: boolean;
}

/** Options shared by all parsers (privacy defaults of SPEC/issue: no bodies, values, literals). */
export interface ParserOptions {
  /** Keep SQL literals instead of masking them with `?` (default false). */
  keepSqlLiterals?: boolean;
  /** Keep Redis values (default false: command and key only). */
  keepRedisValues?: boolean;
  /** HTTP headers copied into `attributes` (lower case); default a small allow-list. */
  httpHeaderAllowList?: readonly string[];
  /** Path segments kept in HTTP endpoints (default 2). */
  endpointPathSegments?: number;
  /** Bytes a parser may buffer per direction before it gives up on a message and resyncs. */
  maxBufferBytes?: number;
}

export interface ParserStats {
  /** Messages parsed (requests + responses). */
  messages: number;
  /** Bytes skipped to resynchronise after a gap or garbage. */
  bytesSkipped: number;
  /** Messages that could not be parsed. */
  parseErrors: number;
}

export interface L7Parser {
  readonly protocol: L7ProtocolName;
  readonly stats: ParserStats;
  /**
   * True when the parser holds no reference to a fed buffer once feed() returns (it copies what
   * it keeps): the caller may then feed bytes whose memory it reuses, without a copy per segment.
   */
  readonly copiesInput?: boolean;
  /** In-order payload of one direction (the parser may keep the buffer unless `copiesInput`); `tsUs` is its capture time. */
  feed(direction: Direction, data: Buffer, tsUs: number): void;
  /** `bytes` of this direction were lost (capture gap): drop partial state, resync. */
  gap(direction: Direction, bytes: number): void;
  /**
   * The sender of `direction` closed it (TCP FIN, after all its bytes were fed): a message that
   * ends with the connection (an HTTP/1 body read until close) is complete at this time.
   */
  end?(direction: Direction, tsUs: number): void;
  /** Requests still waiting at `nowUs` longer than `timeoutUs` become `timeout` records. */
  expire(nowUs: number, timeoutUs: number): void;
  /** The flow ended: every pending request becomes a `timeout` record. */
  close(nowUs: number): void;
  /** Records completed since the last call (the caller takes ownership). */
  take(): L7Record[];
}

/**
 * What `take()` may return when there are no records (frozen: a caller owns only a non-empty
 * array): take() runs per packet, most of which complete no record, and an array each is garbage.
 */
export const NO_RECORDS: L7Record[] = Object.freeze<L7Record[]>([]) as L7Record[];

/** What a first look at a flow's payload says about a protocol. */
export type Verdict = 'yes' | 'no' | 'maybe';

export interface L7ProtocolModule {
  readonly name: L7ProtocolName;
  /** Ports the protocol usually listens on: hints only, never a verdict. */
  readonly defaultPorts: readonly number[];
  /**
   * Cheap check of the first payload seen in a direction of a flow (no state): `yes` only when
   * the bytes can be nothing else (a false positive claims another protocol's traffic).
   */
  detect(direction: Direction, payload: Buffer, serverPort: number): Verdict;
  create(options?: ParserOptions): L7Parser;
}
