/**
 * The preview's routes on the API server (fastify's inject), over a small fake build and a store
 * that only answers the health query: files stay inside their folders, a missing build says what
 * to run, and the data source proxy reaches the token-guarded API with the token it adds itself.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildApiServer } from '../query/api-server';
import { QueryService } from '../query/query-service';
import { Store } from '../store/store';
import { fromAnotherSite } from './datasource-proxy';
import { previewExposureProblem } from './preview-routes';
import { fileUnder } from './static-files';

const TOKEN = 's3cret-token';
const NEWEST_SECOND = 1_790_000_000;
const SECRET = 'outside the build';

const tmp = mkdtempSync(join(tmpdir(), 'metaflow-preview-routes-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** dist/ as `npm run build` leaves it, in miniature, with a file beside it that must stay out of reach. */
function fakeDist(): string {
  const dist = join(tmp, 'dist');
  const write = (file: string, text: string): void => {
    mkdirSync(join(dist, file, '..'), { recursive: true });
    writeFileSync(join(dist, file), text);
  };
  write('preview/index.html', '<!doctype html><title>preview</title>');
  write('preview/preview.js', 'console.log("preview")');
  write('datasource/module.js', 'define([], function () { return {}; })');
  write(
    'datasource/plugin.json',
    JSON.stringify({
      id: 'metaflow-datasource',
      type: 'datasource',
      name: 'MetaFlow',
      info: { version: '0.1.0' },
      routes: [{ path: 'metaflow', method: '*', url: '{{ .JsonData.apiUrl }}/api', headers: [{ name: 'Authorization', content: 'Bearer {{ .SecureJsonData.apiToken }}' }] }],
    }),
  );
  write('panels/service-map/module.js', 'define([], function () { return {}; })');
  write('panels/service-map/plugin.json', JSON.stringify({ id: 'metaflow-servicemap-panel', type: 'panel', name: 'Service map', info: { version: '0.1.0' } }));
  writeFileSync(join(tmp, 'secret.txt'), SECRET);
  writeFileSync(join(dist, 'secret.txt'), SECRET);
  return dist;
}

/** Answers the health query only: the newest second of every table. */
const healthStore: Store = {
  description: 'fake',
  exec: async () => undefined,
  insert: async () => undefined,
  query: async <T>() => [{ t: NEWEST_SECOND, n: 1 }] as T[],
  close: async () => undefined,
};

const dist = fakeDist();
const app = buildApiServer(new QueryService(healthStore, { version: 'test' }), { token: TOKEN, preview: { distDir: dist } });
after(() => app.close());

test('fileUnder keeps paths inside their folder', () => {
  assert.equal(fileUnder('/srv/dist', 'a/b.js'), '/srv/dist/a/b.js');
  assert.equal(fileUnder('/srv/dist', './a//b.js'), '/srv/dist/a/b.js');
  for (const escape of ['../secret', 'a/../../secret', '..', 'a/..', '/etc/passwd/..', 'a\\..\\..\\secret', 'a\0b']) assert.equal(fileUnder('/srv/dist', escape), undefined, escape);
  assert.equal(fileUnder('/srv/dist', ''), undefined, 'the folder itself is no file');
});

test('the page, its bundle and the built plugins are served without the token; paths that leave their folder are refused', async () => {
  const page = await app.inject({ method: 'GET', url: '/preview/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /^text\/html/);
  assert.match(page.body, /<title>preview<\/title>/);
  assert.equal((await app.inject({ method: 'GET', url: '/preview' })).headers.location, '/preview/');
  assert.equal((await app.inject({ method: 'GET', url: '/preview/preview.js' })).statusCode, 200);
  const module = await app.inject({ method: 'GET', url: '/public/plugins/metaflow-servicemap-panel/module.js' });
  assert.equal(module.statusCode, 200);
  assert.match(module.headers['content-type'] as string, /^text\/javascript/);
  assert.equal((await app.inject({ method: 'GET', url: '/public/plugins/unknown-plugin/module.js' })).statusCode, 404);
  for (const url of [
    '/preview/../secret.txt',
    '/preview/..%2fsecret.txt',
    '/preview/%2e%2e/%2e%2e/secret.txt',
    '/preview/..%2f..%2fsecret.txt',
    '/public/plugins/metaflow-datasource/..%2fsecret.txt',
    '/public/plugins/metaflow-datasource/..%2f..%2fsecret.txt',
    '/public/img/..%2f..%2f..%2fpackage.json',
  ]) {
    const res = await app.inject({ method: 'GET', url });
    assert.notEqual(res.statusCode, 200, url);
    assert.ok(!res.body.includes(SECRET), url);
  }
  // The API itself still wants the token.
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/health' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/nowhere' })).statusCode, 401);
});

test('the boot data holds the data source and the panels, and says the token is set without giving it', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/frontend/settings' });
  assert.equal(res.statusCode, 200);
  assert.ok(!res.body.includes(TOKEN));
  const settings = res.json() as { datasources: Record<string, { uid: string; type: string; secureJsonFields: Record<string, boolean>; meta: { module: string } }>; panels: Record<string, { module: string }> };
  const ds = settings.datasources.MetaFlow;
  assert.deepEqual([ds.uid, ds.type, ds.meta.module], ['metaflow', 'metaflow-datasource', 'public/plugins/metaflow-datasource/module.js']);
  assert.deepEqual(ds.secureJsonFields, { apiToken: true });
  assert.equal(settings.panels['metaflow-servicemap-panel'].module, 'public/plugins/metaflow-servicemap-panel/module.js');
});

test('the data source proxy adds the token: the page reaches the guarded API without it', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/datasources/proxy/uid/metaflow/metaflow/v1/health', headers: { authorization: 'Bearer wrong', cookie: 'grafana_session=x' } });
  assert.equal(res.statusCode, 200, res.body);
  const health = res.json() as { version: string; newest: Record<string, number> };
  assert.equal(health.version, 'test');
  assert.equal(health.newest.application, NEWEST_SECOND * 1000);
  // A body goes through as it came (the API answers this one with its own 400).
  const bad = await app.inject({ method: 'POST', url: '/api/datasources/proxy/uid/metaflow/metaflow/v1/map', headers: { 'content-type': 'application/json' }, payload: '{"level": ' });
  assert.equal(bad.statusCode, 400);
  assert.match((bad.json() as { error: string }).error, /JSON/);
  assert.equal((await app.inject({ method: 'GET', url: '/api/datasources/proxy/uid/other/metaflow/v1/health' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/api/datasources/proxy/uid/metaflow/elsewhere/v1/health' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/api/datasources/proxy/uid/metaflow/metaflow/..%2f..%2fpreview/' })).statusCode, 400);
  // Another site's page may not borrow the token.
  const crossSite = await app.inject({ method: 'GET', url: '/api/datasources/proxy/uid/metaflow/metaflow/v1/health', headers: { origin: 'http://evil.example', host: '127.0.0.1:20416' } });
  assert.equal(crossSite.statusCode, 403);
  assert.equal(fromAnotherSite({ origin: 'http://127.0.0.1:20416', host: '127.0.0.1:20416' }), false);
  assert.equal(fromAnotherSite({ 'sec-fetch-site': 'cross-site', host: '127.0.0.1:20416' }), true);
});

test('a missing build is answered with what to run', async () => {
  const empty = join(tmp, 'empty-dist');
  mkdirSync(empty);
  const bare = buildApiServer(new QueryService(healthStore, { version: 'test' }), { preview: { distDir: empty } });
  try {
    for (const url of ['/preview/', '/api/frontend/settings', '/public/plugins/metaflow-datasource/module.js']) {
      const res = await bare.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 503, url);
      assert.match(res.body, /not built .*run `npm run build`/, url);
    }
  } finally {
    await bare.close();
  }
});

test('with a token, the preview is only served on loopback', () => {
  assert.equal(previewExposureProblem('127.0.0.1', TOKEN), undefined);
  assert.equal(previewExposureProblem('::1', TOKEN), undefined);
  assert.equal(previewExposureProblem('0.0.0.0', undefined), undefined, 'no token: nothing to give away');
  assert.match(previewExposureProblem('0.0.0.0', TOKEN) ?? '', /loopback/);
});
