/**
 * The query API over HTTP (fastify): JSON in, JSON frames out, for the Grafana datasource and
 * anyone with curl. Loopback only unless configured otherwise; an optional bearer token guards
 * every route but the service-map preview's (with `preview`: ../preview/preview-routes.ts, which
 * adds the token itself). Bad requests get 400 with a message the editor shows; nothing a request
 * sends can take the server down.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MetricsExporter } from '../metrics-exporter/metrics-exporter';
import { isTokenFree, previewExposureProblem, PreviewOptions, previewRoutes } from '../preview/preview-routes';
import { runnableSql } from './compile-query';
import { QueryService, StoreUnavailable } from './query-service';
import { QueryError } from './structured-query';

export const DEFAULT_API_PORT = 20416;

export interface ApiServerOptions {
  host?: string;
  port?: number;
  /**
   * When set, every request needs `Authorization: Bearer <token>`, `/metrics` included: the
   * metrics name services, endpoints and traffic just as the query API does, and Prometheus
   * sends a bearer token (`authorization: { credentials_file: … }` in its scrape config).
   */
  token?: string;
  /** Serves `GET /metrics` (Prometheus / OpenMetrics) when given. */
  metrics?: MetricsExporter;
  /** When set, the service-map preview is served too. */
  preview?: Omit<PreviewOptions, 'token'>;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function numberParam(v: unknown): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new QueryError(`not a number: ${JSON.stringify(v)}`);
  return n;
}

export function buildApiServer(service: QueryService, options: ApiServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });

  if (options.token) {
    const token = options.token;
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (isTokenFree(req)) return;
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!sameToken(given, token)) await reply.code(401).send({ error: 'a valid bearer token is required' });
    });
  }

  app.setErrorHandler(async (error: unknown, _req, reply) => {
    if (error instanceof QueryError) return reply.code(400).send({ error: error.message });
    if (error instanceof StoreUnavailable) return reply.code(503).send({ error: error.message });
    const e = error as { statusCode?: number; message?: string };
    // Fastify's own client errors: malformed JSON, body too large, wrong content type.
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message ?? 'bad request' });
    process.stderr.write(`metaflow api: ${e.message ?? String(error)}\n`);
    return reply.code(500).send({ error: e.message ?? 'internal error' });
  });

  app.get('/api/v1/health', async () => service.health());
  app.post('/api/v1/query', async (req) => service.structured(req.body));
  app.post('/api/v1/query/sql', async (req) => {
    const compiled = service.explain(req.body);
    return { sql: compiled.sql, params: compiled.params, runnable: runnableSql(compiled) };
  });
  app.post('/api/v1/sql', async (req) => service.sql(req.body));
  app.post('/api/v1/map', async (req) => service.map(req.body));
  app.get('/api/v1/tables', async () => service.tables());
  app.get('/api/v1/tables/:dataType/metrics', async (req) => service.metrics((req.params as { dataType: string }).dataType));
  app.get('/api/v1/tables/:dataType/tags', async (req) => service.tags((req.params as { dataType: string }).dataType));
  app.get('/api/v1/tables/:dataType/tags/:tag/values', async (req) => {
    const p = req.params as { dataType: string; tag: string };
    const q = req.query as Record<string, string | undefined>;
    return service.tagValues(p.dataType, p.tag, { prefix: q.prefix, from: numberParam(q.from), to: numberParam(q.to), limit: numberParam(q.limit) });
  });
  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', async (req, reply) => {
      const page = await metrics.render(req.headers.accept);
      return reply.header('content-type', page.contentType).send(page.body);
    });
  }
  if (options.preview) app.register(previewRoutes, { ...options.preview, token: options.token });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}` }));
  return app;
}

/** Starts the server; resolves with the address it listens on. */
export async function startApiServer(service: QueryService, options: ApiServerOptions = {}): Promise<{ app: FastifyInstance; url: string }> {
  const exposure = options.preview && previewExposureProblem(options.host ?? '127.0.0.1', options.token);
  if (exposure) throw new Error(exposure);
  const app = buildApiServer(service, options);
  const url = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? DEFAULT_API_PORT });
  return { app, url };
}
