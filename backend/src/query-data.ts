/**
 * QueryData: each query of Grafana's request through the same steps as in the browser —
 * migrate the saved model, build the API request (request-builder, shared with the frontend),
 * call the agent's API — then frames as Arrow. One query's failure is that query's error; the
 * others still answer.
 */
import { migrateQuery } from '../../src/datasource/query-migration';
import { buildMapRequest, buildSqlRequest, buildStructuredRequest, legendName } from '../../src/datasource/request-builder';
import type { MetaFlowQuery } from '../../src/datasource/types';
import { framesToArrow } from './arrow-frames';
import { ApiError, FramesResponse, MetaFlowApi } from './metaflow-api';
import type { DataQuery, DataResponse, QueryDataRequest, QueryDataResponse } from './protocol/services';
import { buildContext, queryTimes, UnresolvedVariableError } from './query-context';
import { DataSourceSettings, settingsFrom, SettingsError } from './settings';

export class BadQueryError extends Error {}

function parseModel(query: DataQuery, pluginVersion: string | undefined): MetaFlowQuery {
  let raw: unknown;
  try {
    raw = JSON.parse(query.json.toString('utf8') || '{}');
  } catch (e) {
    throw new BadQueryError(`the query is not JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new BadQueryError('the query must be a JSON object');
  return migrateQuery({ ...(raw as Record<string, unknown>), refId: query.refId } as MetaFlowQuery & Record<string, unknown>, pluginVersion || undefined);
}

/** Told the mode of each query (once its model is read) and whether it answered without error. */
export type QueryObserver = (mode: string, ok: boolean) => void;

async function runOne(api: MetaFlowApi, settings: DataSourceSettings, query: DataQuery, pluginVersion: string | undefined, onMode: (mode: string) => void): Promise<DataResponse> {
  const model = parseModel(query, pluginVersion);
  onMode(model.mode);
  const times = queryTimes(query);
  let response: FramesResponse;
  if (model.mode === 'sql') response = await api.sql(buildSqlRequest(model, buildContext(model, times, settings.defaultTapSide, true)));
  else if (model.mode === 'map') response = await api.map(buildMapRequest(model, buildContext(model, times, settings.defaultTapSide, false)));
  else response = await api.query(buildStructuredRequest(model, buildContext(model, times, settings.defaultTapSide, false)));
  const legend = model.legend;
  const frames = framesToArrow(response.frames, { refId: query.refId, displayName: legend ? (labels, name) => legendName(legend, labels, name) : undefined });
  return { frames, status: 200 };
}

/** The error of one query, as Grafana's DataResponse carries it (status and whose fault). */
export function errorResponse(e: unknown): DataResponse {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ApiError) return { frames: [], error: message, status: e.status, errorSource: e.downstream ? 'downstream' : 'plugin' };
  if (e instanceof BadQueryError || e instanceof UnresolvedVariableError || e instanceof SettingsError) return { frames: [], error: message, status: 400, errorSource: 'downstream' };
  return { frames: [], error: `MetaFlow backend: ${message}`, status: 500, errorSource: 'plugin' };
}

export async function queryData(request: QueryDataRequest, observe: QueryObserver = () => undefined): Promise<QueryDataResponse> {
  const responses: Record<string, DataResponse> = {};
  let settings: DataSourceSettings;
  try {
    settings = settingsFrom(request.pluginContext);
  } catch (e) {
    for (const q of request.queries ?? []) {
      responses[q.refId] = errorResponse(e);
      observe('unknown', false);
    }
    return { responses };
  }
  const api = new MetaFlowApi(settings);
  const pluginVersion = request.pluginContext?.pluginVersion;
  await Promise.all(
    (request.queries ?? []).map(async (q) => {
      let mode = 'invalid';
      try {
        responses[q.refId] = await runOne(api, settings, q, pluginVersion, (m) => (mode = m));
      } catch (e) {
        responses[q.refId] = errorResponse(e);
      }
      observe(mode, !responses[q.refId].error);
    }),
  );
  return { responses };
}
