/**
 * The service-map preview on the query API's server (`metaflow serve --preview`, `metaflow agent
 * --preview`): this server plays the Grafana server for one page that mounts the BUILT plugins.
 *  - `/preview/` the page, `/preview/*` its bundle (dist/preview);
 *  - `/public/plugins/<id>/*` the plugins (dist/datasource, dist/panels/service-map), where
 *    Grafana serves them and their modules expect to be;
 *  - `/public/img/*` Grafana's icons (from @grafana/ui's package), where @grafana/ui looks for them
 *    (`/public/fonts/*`, Grafana's own, are not in the package);
 *  - `/api/frontend/settings` the boot data: the data source's instance settings, the panels;
 *  - `/api/datasources/proxy/uid/<uid>/*` the data source proxy, which adds the API token.
 * None of them asks for the token (they are marked token-free for the API's check): a browser
 * opens the page without one, and the proxy adds it to what it forwards. The build is looked up
 * on first use, so that building after the server started works, and a missing one is answered
 * with what to run.
 */
import path from 'node:path';
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { proxyToApi } from './datasource-proxy';
import { frontendSettings, PREVIEW_DATASOURCE, PREVIEW_JSON_DATA, previewSecureJsonData } from './frontend-settings';
import { DEFAULT_DIST_DIR, locatePreviewBuild, PreviewBuild } from './preview-build';
import { fileUnder, sendFile } from './static-files';

export const PREVIEW_PATH = '/preview/';

export interface PreviewOptions {
  /** Where the plugins and the page are built (default: the repository's dist/). */
  distDir?: string;
  /** The API's bearer token, which the proxy adds to the page's requests. */
  token?: string;
}

/** The route config that marks the preview's routes for the API's token check. */
const TOKEN_FREE = { config: { tokenFree: true } };

/** Whether a request is for one of the preview's routes, which the API's token check lets through. */
export function isTokenFree(req: FastifyRequest): boolean {
  return (req.routeOptions.config as { tokenFree?: boolean } | undefined)?.tokenFree === true;
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/**
 * Why the preview must not be served on `host` with `token`, if it must not: its proxy adds the
 * token to whatever the page asks, so beyond loopback it would open a token-guarded API to anyone.
 */
export function previewExposureProblem(host: string, token: string | undefined): string | undefined {
  if (!token || LOOPBACK_HOST.test(host)) return undefined;
  return `the preview adds the API token to its page's queries, so on ${host} anyone reaching the port could query without it: serve the preview on loopback (--host 127.0.0.1) or without a token`;
}

/** Grafana's icons as @grafana/ui publishes them, or undefined when the package is not installed. */
function grafanaImageDir(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve('@grafana/ui/package.json')), 'dist', 'public', 'img');
  } catch {
    return undefined;
  }
}

/** The path after the route's fixed part, as the client sent it (still percent-encoded). */
function rawTail(url: string, pattern: RegExp): { tail: string; search: string } {
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  return { tail: pattern.exec(pathname)?.[1] ?? '', search: q < 0 ? '' : url.slice(q) };
}

const PROXY_PREFIX = /^\/api\/datasources\/proxy\/uid\/[^/]+\/(.*)$/;

/** The preview's routes, as a fastify plugin (its own scope: its body parsing stays here). */
export async function previewRoutes(app: FastifyInstance, options: PreviewOptions): Promise<void> {
  const distDir = options.distDir ?? DEFAULT_DIST_DIR;
  const imageDir = grafanaImageDir();
  let found: PreviewBuild | undefined;
  /** Answers with the build, or with what to run when there is none. */
  const withBuild = async (reply: FastifyReply, answer: (build: PreviewBuild) => unknown): Promise<unknown> => {
    try {
      found ??= locatePreviewBuild(distDir);
    } catch (e) {
      return reply.code(503).type('text/plain; charset=utf-8').send(`MetaFlow: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    return answer(found);
  };

  // The proxy hands request bodies on as they came.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/preview', TOKEN_FREE, async (_req, reply) => reply.redirect(PREVIEW_PATH));
  app.get('/preview/*', TOKEN_FREE, async (req, reply) =>
    withBuild(reply, (build) => sendFile(reply, fileUnder(build.pageDir, (req.params as { '*': string })['*'] || 'index.html'))),
  );

  app.get('/public/plugins/:id/*', TOKEN_FREE, async (req, reply) =>
    withBuild(reply, (build) => {
      const params = req.params as { id: string; '*': string };
      const plugin = [build.datasource, ...build.panels].find((p) => p.id === params.id);
      return sendFile(reply, plugin ? fileUnder(plugin.dir, params['*']) : undefined);
    }),
  );

  app.get('/public/img/*', TOKEN_FREE, async (req, reply) => sendFile(reply, imageDir ? fileUnder(imageDir, (req.params as { '*': string })['*']) : undefined));
  // Grafana's Inter font ships with Grafana, in no npm package: a plain 404 (not the API's 401), and the browser's own fonts.
  app.get('/public/fonts/*', TOKEN_FREE, async (_req, reply) => reply.code(404).send({ error: 'Grafana\'s fonts are not part of the preview' }));

  app.get('/api/frontend/settings', TOKEN_FREE, async (_req, reply) => withBuild(reply, (build) => frontendSettings(build, options.token)));

  app.all('/api/datasources/proxy/uid/:uid/*', TOKEN_FREE, async (req, reply) => {
    if ((req.params as { uid: string }).uid !== PREVIEW_DATASOURCE.uid) return reply.code(404).send({ message: 'Data source not found' });
    return withBuild(reply, async (build) => {
      const { tail, search } = rawTail(req.url, PROXY_PREFIX);
      const datasource = { uid: PREVIEW_DATASOURCE.uid, jsonData: PREVIEW_JSON_DATA, secureJsonData: previewSecureJsonData(options.token), routes: build.datasource.json.routes ?? [] };
      const answer = await proxyToApi(app, datasource, { method: req.method, proxyPath: tail, search, headers: req.headers, body: Buffer.isBuffer(req.body) ? req.body : undefined });
      return reply.code(answer.status).headers(answer.headers).send(answer.body);
    });
  });
}
