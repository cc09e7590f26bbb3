/**
 * CallResource: the agent API's discovery routes (tables, metrics, tags, tag values, health)
 * for callers that go through Grafana's backend (`/api/datasources/uid/<uid>/resources/...`).
 * Read-only and allow-listed: nothing else of the agent is reachable this way.
 */
import { ApiError, MetaFlowApi } from './metaflow-api';
import type { CallResourceRequest, CallResourceResponse } from './protocol/services';
import { settingsFrom } from './settings';

const ALLOWED = [/^health$/, /^tables$/, /^tables\/[\w-]+\/(metrics|tags)$/, /^tables\/[\w-]+\/tags\/[^/]+\/values$/];

function json(code: number, body: unknown): CallResourceResponse {
  return { code, headers: { 'Content-Type': { values: ['application/json'] } }, body: Buffer.from(JSON.stringify(body)) };
}

export function isAllowedResource(path: string): boolean {
  const clean = path.replace(/^\/+/, '');
  return !clean.split('/').some((part) => part === '..' || part === '.') && ALLOWED.some((re) => re.test(clean));
}

export async function callResource(request: CallResourceRequest): Promise<CallResourceResponse> {
  const path = request.path.replace(/^\/+/, '');
  if (request.method !== 'GET') return json(405, { error: `${request.method} is not allowed: resources are read-only` });
  if (!isAllowedResource(path)) return json(404, { error: `no resource ${path}` });
  try {
    const settings = settingsFrom(request.pluginContext);
    const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    return json(200, await new MetaFlowApi(settings).get(`/${path}${search}`));
  } catch (e) {
    return json(e instanceof ApiError ? e.status : 400, { error: e instanceof Error ? e.message : String(e) });
  }
}
