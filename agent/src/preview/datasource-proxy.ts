/**
 * Grafana's data source proxy (pkg/api/pluginproxy) for the preview's one data source, in process:
 * `/api/datasources/proxy/uid/<uid>/<route path>/...` goes to the URL of the plugin.json route it
 * matches, with the route's headers filled from jsonData / secureJsonData, so the API token is
 * added here and the browser never holds it. The caller's cookies and Authorization are dropped,
 * a request from another site's page is refused (it would borrow the token), and an upstream 401
 * is answered as Grafana does (400, "Authentication to data source failed") so that the page is
 * not logged out. The route's URL is a path of this server, the query API, called through
 * fastify's `inject`: no socket, no second port.
 */
import { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { FastifyInstance, InjectOptions } from 'fastify';
import { PluginJson } from './preview-build';

type Route = NonNullable<PluginJson['routes']>[number];

export interface ProxyDataSource {
  uid: string;
  jsonData: Record<string, unknown>;
  secureJsonData: Record<string, string>;
  routes: Route[];
}

export interface ProxyRequest {
  method: string;
  /** What follows `/api/datasources/proxy/uid/<uid>/`, e.g. `metaflow/v1/map`. */
  proxyPath: string;
  /** The query string, with its `?`, or ''. */
  search: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

export interface ProxyAnswer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer | string | { message: string };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
// The browser's credentials stay with the browser; the route's headers say how to reach the API.
const DROPPED_REQUEST_HEADERS = new Set(['cookie', 'authorization', 'x-ds-authorization']);

/** Go-template fields as Grafana fills a route: `{{ .JsonData.x }}`, `{{ .SecureJsonData.x }}`. */
export function fillTemplate(template: string, ds: Pick<ProxyDataSource, 'jsonData' | 'secureJsonData'>): string {
  return template.replace(/\{\{\s*\.(JsonData|SecureJsonData)\.(\w+)\s*\}\}/g, (_m, where: string, key: string) => {
    const value = where === 'JsonData' ? ds.jsonData[key] : ds.secureJsonData[key];
    return value === undefined || value === null ? '' : String(value);
  });
}

/**
 * Whether a browser sent this from a page of another origin than this server's (Grafana's CSRF
 * check): such a page must not reach the API with the token the proxy adds.
 */
export function fromAnotherSite(headers: IncomingHttpHeaders): boolean {
  if (headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}

const message = (status: number, text: string): ProxyAnswer => ({ status, headers: {}, body: { message: text } });

/** Dot segments, plain or percent-encoded, or a path that does not decode: the route's path must stay the prefix. */
function hasDotSegments(proxyPath: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(proxyPath);
  } catch {
    return true;
  }
  return decoded.split(/[/\\]/).some((segment) => segment === '.' || segment === '..');
}

/** Answers one proxied request by calling `app`'s own route that the data source's matching plugin.json route leads to. */
export async function proxyToApi(app: FastifyInstance, ds: ProxyDataSource, request: ProxyRequest): Promise<ProxyAnswer> {
  if (fromAnotherSite(request.headers)) return message(403, 'Cross-site requests to the data source proxy are not allowed');
  if (hasDotSegments(request.proxyPath)) return message(400, `invalid proxy path ${request.proxyPath}`);
  const route = ds.routes.find((r) => request.proxyPath === r.path || request.proxyPath.startsWith(`${r.path}/`));
  if (!route) return message(404, `no route of the data source matches ${request.proxyPath}`);
  if (route.method && route.method !== '*' && route.method.toUpperCase() !== request.method) return message(403, 'method not allowed by the data source route');
  const target = `${fillTemplate(route.url, ds)}${request.proxyPath.slice(route.path.length)}`;
  // Only this server's API: the preview's data source points at the agent that serves it.
  if (!target.startsWith('/') || target.startsWith('//')) return message(502, `the data source route leads to ${target}, not to this agent's API`);
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (!HOP_BY_HOP.has(name) && !DROPPED_REQUEST_HEADERS.has(name)) headers[name] = value;
  }
  for (const h of route.headers ?? []) headers[h.name.toLowerCase()] = fillTemplate(h.content, ds);
  const upstream = await app.inject({ method: request.method as InjectOptions['method'], url: `${target}${request.search}`, headers, payload: request.body });
  // Grafana's ds_proxy: "The data source rejected the request as unauthorized, convert to 400".
  if (upstream.statusCode === 401) return { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Authentication to data source failed' };
  const responseHeaders: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) responseHeaders[name] = value;
  }
  return { status: upstream.statusCode, headers: responseHeaders, body: upstream.rawPayload };
}
