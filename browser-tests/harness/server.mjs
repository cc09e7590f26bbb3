/**
 * The harness's HTTP server, in the role of the Grafana server for one page:
 *  - `/` the harness page, `/harness/*` its bundle;
 *  - `/public/plugins/metaflow-datasource/*` the BUILT plugin (dist/datasource), where Grafana serves it;
 *  - `/public/img/*` Grafana's icons (from @grafana/ui's package), where @grafana/ui looks for them;
 *  - `/api/harness/datasources` the data sources' instance settings, without secrets;
 *  - `/api/datasources/proxy/uid/<uid>/<route>/...` Grafana's data source proxy: the route of the
 *    plugin's plugin.json (its url and header templates filled from jsonData / secureJsonData),
 *    the caller's cookies and Authorization dropped, and an upstream 401 answered as Grafana does
 *    (400, "Authentication to data source failed") so that the user is not logged out.
 * One origin for the browser; the token never leaves this process.
 */
/* global Buffer, URL -- node */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const GRAFANA_PUBLIC_IMG = path.join(path.dirname(require.resolve('@grafana/ui/package.json')), 'dist', 'public', 'img');

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml', '.ttf': 'font/ttf', '.png': 'image/png', '.css': 'text/css' };

/** Go-template fields as Grafana fills a route: `{{ .JsonData.x }}`, `{{ .SecureJsonData.x }}`. */
function fillTemplate(template, ds) {
  return template.replace(/\{\{\s*\.(JsonData|SecureJsonData)\.(\w+)\s*\}\}/g, (_m, where, key) => {
    const value = (where === 'JsonData' ? ds.jsonData : ds.secureJsonData)?.[key];
    return value === undefined || value === null ? '' : String(value);
  });
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/**
 * @param {{ pluginDir: string, bundleDir: string, pageFile: string, datasources: Array<{ uid: string, name: string, jsonData: object, secureJsonData: object }> }} options
 * @returns {Promise<{ url: string, close: () => Promise<void>, proxied: Array<{ method: string, path: string, status: number }> }>}
 */
export async function startHarnessServer({ pluginDir, bundleDir, pageFile, datasources }) {
  const pluginJson = JSON.parse(readFileSync(path.join(pluginDir, 'plugin.json'), 'utf8'));
  const pluginBase = `/public/plugins/${pluginJson.id}/`;
  const meta = { ...pluginJson, module: `${pluginBase.slice(1)}module.js`, baseUrl: pluginBase.slice(1, -1) };
  const byUid = new Map(datasources.map((d, i) => [d.uid, { id: i + 1, type: pluginJson.id, access: 'proxy', readOnly: false, ...d }]));
  const proxied = [];
  const sockets = new Set();

  function sendFile(res, file) {
    let stat;
    try {
      stat = statSync(file);
    } catch {
      stat = undefined;
    }
    if (!stat?.isFile()) return send(res, 404, { message: 'not found' });
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': stat.size, 'Cache-Control': 'no-store' });
    createReadStream(file).pipe(res);
  }

  function send(res, status, body) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** Files under a folder only: no `..` escapes. */
  function under(dir, rel) {
    const file = path.resolve(dir, `.${path.posix.normalize(`/${decodeURIComponent(rel)}`)}`);
    return file.startsWith(path.resolve(dir) + path.sep) ? file : undefined;
  }

  function proxy(req, res, uid, proxyPath, search) {
    const ds = byUid.get(uid);
    if (!ds) return send(res, 404, { message: 'Data source not found' });
    const route = (pluginJson.routes ?? []).find((r) => proxyPath === r.path || proxyPath.startsWith(`${r.path}/`));
    if (!route) return send(res, 502, { message: `no route of ${pluginJson.id} matches ${proxyPath}` });
    if (route.method && route.method !== '*' && route.method !== req.method) return send(res, 403, { message: 'method not allowed by the route' });
    const target = new URL(`${fillTemplate(route.url, ds)}${proxyPath.slice(route.path.length)}${search}`);
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && name !== 'cookie' && name !== 'authorization' && name !== 'x-ds-authorization') headers[name] = value;
    }
    if (req.headers['x-ds-authorization']) headers.authorization = req.headers['x-ds-authorization'];
    for (const h of route.headers ?? []) headers[h.name.toLowerCase()] = fillTemplate(h.content, ds);
    const upstream = http.request(target, { method: req.method, headers }, (up) => {
      const entry = { method: req.method, path: target.pathname + target.search, status: up.statusCode };
      proxied.push(entry);
      if (up.statusCode === 401) {
        // Grafana's ds_proxy: "The data source rejected the request as unauthorized, convert to 400".
        up.resume();
        const msg = 'Authentication to data source failed';
        res.writeHead(400, { 'Content-Length': Buffer.byteLength(msg) });
        return res.end(msg);
      }
      const out = {};
      for (const [name, value] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    });
    upstream.on('error', (e) => {
      proxied.push({ method: req.method, path: target.pathname, status: 502 });
      if (!res.headersSent) send(res, 502, { message: `Bad Gateway: ${e.message}` });
      else res.destroy();
    });
    req.pipe(upstream);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://harness');
    const p = url.pathname;
    const proxyMatch = /^\/api\/datasources\/proxy\/uid\/([^/]+)\/(.*)$/.exec(p);
    if (proxyMatch) return proxy(req, res, decodeURIComponent(proxyMatch[1]), proxyMatch[2], url.search);
    if (req.method !== 'GET') return send(res, 405, { message: 'method not allowed' });
    if (p === '/' || p === '/index.html') return sendFile(res, pageFile);
    if (p === '/api/harness/datasources') {
      const settings = [...byUid.values()].map(({ secureJsonData, ...s }) => ({
        ...s,
        meta,
        secureJsonFields: Object.fromEntries(Object.keys(secureJsonData ?? {}).map((k) => [k, true])),
      }));
      return send(res, 200, settings);
    }
    if (p.startsWith(pluginBase)) {
      const file = under(pluginDir, p.slice(pluginBase.length));
      return file ? sendFile(res, file) : send(res, 404, { message: 'not found' });
    }
    if (p.startsWith('/public/img/')) {
      const file = under(GRAFANA_PUBLIC_IMG, p.slice('/public/img/'.length));
      return file ? sendFile(res, file) : send(res, 404, { message: 'not found' });
    }
    if (p.startsWith('/harness/')) {
      const file = under(bundleDir, p.slice('/harness/'.length));
      return file ? sendFile(res, file) : send(res, 404, { message: 'not found' });
    }
    if (p === '/favicon.ico') return send(res, 204, '');
    return send(res, 404, { message: 'not found' });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    proxied,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
