/**
 * The OTLP/HTTP trace receiver: `POST /v1/traces` with an `ExportTraceServiceRequest` as protobuf
 * (`application/x-protobuf`) or JSON (`application/json`), optionally gzip-compressed, answered
 * with an `ExportTraceServiceResponse` in the request's encoding (partial success: the spans
 * rejected and why). Errors follow the OTLP/HTTP specification: a `google.rpc.Status` body, 400
 * for undecodable requests, 413 for bodies over the limit (compressed or not), 415 for other
 * content types and encodings, 503 with Retry-After while the store is behind (SDKs retry).
 *
 * It is its own listener (OTLP's conventional port 4318) rather than a route of the query API:
 * it writes where the API only reads, SDKs and collectors expect the standard port and path, and
 * running it stays a choice (`--otlp-port`). Loopback by default, like the API; the API's bearer
 * token, when set, guards it too (OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer …").
 */
import { timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BatchWriter } from '../store/batch-writer';
import { migrate, Store } from '../store/store';
import { decodeTraces, OtlpDecodeError, OtlpEncoding } from './otlp-decode';
import { encodeRpcStatusProto, encodeTraceResponseProto } from './otlp-proto';
import { IngestResult, SpanIngest } from './span-ingest';

export const DEFAULT_OTLP_PORT = 4318;
export const OTLP_TRACES_PATH = '/v1/traces';
/** The OpenTelemetry Collector's default request limit; applied before and after decompression. */
export const DEFAULT_MAX_BODY_BYTES = 20 << 20;
/** Seconds a sender is asked to wait while the store catches up. */
const RETRY_AFTER_SECONDS = 5;

/** google.rpc.Code values used in error bodies. */
const RpcCode = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

export interface OtlpServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  port?: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body, compressed and decompressed (default 20 MiB). */
  maxBodyBytes?: number;
}

/** An error answered with an HTTP status and a google.rpc.Status body. */
class ReceiverError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly rpcCode: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The request body's encoding from its Content-Type, or undefined for anything else. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const media = (contentType ?? '').split(';', 1)[0].trim().toLowerCase();
  if (media === 'application/x-protobuf' || media === 'application/protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return undefined;
}

const gunzipAsync = promisify(gunzip);

/** The body with its Content-Encoding undone; the limit bounds what a small gzip bomb can become. */
export async function inflate(body: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  if (encoding !== 'gzip') throw new ReceiverError(415, RpcCode.INVALID_ARGUMENT, `Content-Encoding ${JSON.stringify(encoding)} is not supported: send gzip or none`);
  try {
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ReceiverError(413, RpcCode.RESOURCE_EXHAUSTED, `the decompressed body is larger than ${maxBytes} bytes`);
    }
    throw new ReceiverError(400, RpcCode.INVALID_ARGUMENT, `the body is not valid gzip: ${(e as Error).message}`);
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A google.rpc.Status in the request's encoding (JSON when the request's is unknown). */
function sendStatus(reply: FastifyReply, req: FastifyRequest, httpStatus: number, rpcCode: number, message: string): FastifyReply {
  reply.code(httpStatus);
  if (encodingOf(req.headers['content-type']) === 'protobuf') return reply.type('application/x-protobuf').send(encodeRpcStatusProto(rpcCode, message));
  return reply.type('application/json').send(JSON.stringify({ code: rpcCode, message }));
}

function sendExportResponse(reply: FastifyReply, encoding: OtlpEncoding, result: IngestResult): FastifyReply {
  if (encoding === 'protobuf') return reply.type('application/x-protobuf').send(encodeTraceResponseProto(result.rejected, result.message));
  // int64 as a decimal string, as the protobuf JSON mapping (and OTLP/JSON) spells it.
  const body = result.rejected > 0 ? { partialSuccess: { rejectedSpans: String(result.rejected), errorMessage: result.message } } : {};
  return reply.type('application/json').send(JSON.stringify(body));
}

function rpcCodeOfHttp(status: number): number {
  if (status === 401) return RpcCode.UNAUTHENTICATED;
  if (status === 404) return RpcCode.NOT_FOUND;
  if (status === 413) return RpcCode.RESOURCE_EXHAUSTED;
  return RpcCode.INVALID_ARGUMENT;
}

export function buildOtlpServer(ingest: SpanIngest, options: OtlpServerOptions = {}): FastifyInstance {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = Fastify({ logger: false, bodyLimit: maxBodyBytes });
  // Bodies are read as bytes whatever their type: the handler decides (415 is ours to send).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  if (options.token) {
    const token = options.token;
    app.addHook('onRequest', async (req, reply) => {
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!sameToken(given, token)) await sendStatus(reply, req, 401, RpcCode.UNAUTHENTICATED, 'a valid bearer token is required');
    });
  }

  app.setErrorHandler(async (error: unknown, req, reply) => {
    if (error instanceof ReceiverError) {
      if (error.retryAfterSeconds) reply.header('retry-after', String(error.retryAfterSeconds));
      return sendStatus(reply, req, error.httpStatus, error.rpcCode, error.message);
    }
    if (error instanceof OtlpDecodeError) return sendStatus(reply, req, 400, RpcCode.INVALID_ARGUMENT, error.message);
    const e = error as { statusCode?: number; message?: string };
    // Fastify's own client errors: body over the limit, a length that lies, a broken upload.
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return sendStatus(reply, req, e.statusCode, rpcCodeOfHttp(e.statusCode), e.message ?? 'bad request');
    process.stderr.write(`metaflow otlp: ${e.message ?? String(error)}\n`);
    return sendStatus(reply, req, 500, RpcCode.INTERNAL, 'internal error');
  });

  app.post(OTLP_TRACES_PATH, async (req, reply) => {
    const encoding = encodingOf(req.headers['content-type']);
    if (!encoding) {
      throw new ReceiverError(415, RpcCode.INVALID_ARGUMENT, `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported: send application/x-protobuf or application/json`);
    }
    if (ingest.backlogged) throw new ReceiverError(503, RpcCode.UNAVAILABLE, 'the store is behind: retry later', RETRY_AFTER_SECONDS);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const body = await inflate(raw, req.headers['content-encoding'], maxBodyBytes);
    return sendExportResponse(reply, encoding, ingest.ingest(decodeTraces(encoding, body)));
  });
  app.setNotFoundHandler(async (req, reply) =>
    sendStatus(reply, req, 404, RpcCode.NOT_FOUND, `no route ${req.method} ${req.url}: spans are POSTed to ${OTLP_TRACES_PATH} (traces only)`),
  );
  return app;
}

export interface OtlpReceiverOptions extends OtlpServerOptions {
  /** The `host` tag of the rows (default: this machine's name). */
  agentHost?: string;
  onLog?: (line: string) => void;
}

export interface OtlpReceiver {
  url: string;
  ingest: SpanIngest;
  /** Stops listening and stores what was received. */
  close(): Promise<void>;
}

/**
 * Listens for spans and writes them to the store through a batch writer of its own. The schema is
 * brought up to date first (again, for callers that did), so no span arrives before its tables.
 */
export async function startOtlpReceiver(store: Store, options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  await migrate(store);
  const log = options.onLog ?? ((line: string) => process.stderr.write(`metaflow otlp: ${line}\n`));
  const writer = new BatchWriter(store, { onError: (e, table) => log(`store: ${table}: ${e.message}`) });
  const ingest = new SpanIngest(writer, { host: options.agentHost ?? hostname() });
  const app = buildOtlpServer(ingest, options);
  const url = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? DEFAULT_OTLP_PORT });
  return {
    url,
    ingest,
    close: async () => {
      await app.close();
      await ingest.flush();
    },
  };
}
