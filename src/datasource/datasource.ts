import {
  AdHocVariableFilter,
  CoreApp,
  DataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceApi,
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
  TestDataSourceResponse,
} from '@grafana/data';
import { getTemplateSrv } from '@grafana/runtime';

import { ApiClient } from './api-client';
import { toGrafanaFrames } from './frame-converter';
import { migrateQuery } from './query-migration';
import { BuildContext, buildMapRequest, buildSqlRequest, buildStructuredRequest } from './request-builder';
import { DEFAULT_QUERY, MetaFlowDataSourceOptions, MetaFlowQuery, MetaFlowVariableQuery, MetricInfo } from './types';
import { parseVariableQuery } from './variable-query';

/** Grafana's own interval variables: SQL mode gives `$__interval` its MetaFlow meaning (seconds). */
const GRAFANA_INTERVAL_VARS = ['__interval', '__interval_ms', '__rate_interval', '__rate_interval_ms'];

/** Data type whose tags ad-hoc filters offer (the RED tables share their tags with the others). */
const ADHOC_DATA_TYPE = 'application';

export class DataSource extends DataSourceApi<MetaFlowQuery, MetaFlowDataSourceOptions> {
  readonly api: ApiClient;
  private readonly defaultTapSide: string[];
  private readonly pluginVersion?: string;
  private readonly metricCache = new Map<string, Promise<MetricInfo[]>>();

  constructor(instanceSettings: DataSourceInstanceSettings<MetaFlowDataSourceOptions>) {
    super(instanceSettings);
    this.api = new ApiClient(instanceSettings.uid);
    this.defaultTapSide = instanceSettings.jsonData.defaultTapSide ?? [];
    this.pluginVersion = instanceSettings.meta?.info?.version;
  }

  getDefaultQuery(_app: CoreApp): Partial<MetaFlowQuery> {
    return { ...DEFAULT_QUERY, pluginVersion: this.pluginVersion };
  }

  /** Saved queries of any model version, brought up to date. */
  migrate(query: MetaFlowQuery): MetaFlowQuery {
    return migrateQuery(query as MetaFlowQuery & Record<string, unknown>, this.pluginVersion);
  }

  filterQuery(query: MetaFlowQuery): boolean {
    return !query.hide;
  }

  metrics(dataType: string): Promise<MetricInfo[]> {
    let cached = this.metricCache.get(dataType);
    if (!cached) {
      cached = this.api.metrics(dataType);
      cached.catch(() => this.metricCache.delete(dataType));
      this.metricCache.set(dataType, cached);
    }
    return cached;
  }

  private context(request: Pick<DataQueryRequest, 'range' | 'intervalMs' | 'scopedVars' | 'filters'>, forSql: boolean): BuildContext {
    const templateSrv = getTemplateSrv();
    const scoped: ScopedVars = { ...request.scopedVars };
    if (forSql) for (const name of GRAFANA_INTERVAL_VARS) delete scoped[name];
    return {
      from: request.range.from.valueOf(),
      to: request.range.to.valueOf(),
      intervalMs: request.intervalMs,
      replace: (text) => templateSrv.replace(text, scoped),
      expand: (text) => expandValues(templateSrv.replace(text, scoped, listFormat)),
      adhocFilters: request.filters,
      defaultTapSide: this.defaultTapSide,
    };
  }

  async query(request: DataQueryRequest<MetaFlowQuery>): Promise<DataQueryResponse> {
    const targets = request.targets.filter((t) => !t.hide).map((t) => this.migrate(t));
    const errors: Array<{ refId: string; message: string }> = [];
    const results = await Promise.all(
      targets.map(async (q): Promise<DataFrame[]> => {
        try {
          const response =
            q.mode === 'sql'
              ? await this.api.sql(buildSqlRequest(q, this.context(request, true)))
              : q.mode === 'map'
                ? await this.api.map(buildMapRequest(q, this.context(request, false)))
                : await this.api.query(buildStructuredRequest(q, this.context(request, false)));
          return toGrafanaFrames(response.frames, { refId: q.refId, legend: q.legend, datasource: { uid: this.uid, name: this.name } });
        } catch (e) {
          errors.push({ refId: q.refId, message: e instanceof Error ? e.message : String(e) });
          return [];
        }
      }),
    );
    return { data: results.flat(), ...(errors.length ? { errors, error: errors[0] } : {}) };
  }

  /** The SQL a builder query runs, for the editor. */
  async sqlOf(query: MetaFlowQuery, range: DataQueryRequest['range'], intervalMs: number): Promise<string> {
    const q = this.migrate(query);
    const { runnable } = await this.api.sqlOf(buildStructuredRequest(q, this.context({ range, intervalMs, scopedVars: {} }, false)));
    return runnable;
  }

  interpolateVariablesInQueries(queries: MetaFlowQuery[], scopedVars: ScopedVars): MetaFlowQuery[] {
    const templateSrv = getTemplateSrv();
    return queries.map((q) => ({
      ...q,
      datasource: this.getRef(),
      sql: q.sql !== undefined ? templateSrv.replace(q.sql, scopedVars) : undefined,
      filters: (q.filters ?? []).map((f) => ({ ...f, values: f.values.map((v) => templateSrv.replace(v, scopedVars)) })),
    }));
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      const health = await this.api.health();
      const newest = Math.max(...Object.values(health.newest).map((t) => t ?? 0));
      const freshness = newest > 0 ? `newest data ${describeAge(Date.now() - newest)} old` : 'no data stored yet';
      return { status: 'success', message: `MetaFlow agent ${health.version} (${health.store}): ${freshness}.` };
    } catch (e) {
      return { status: 'error', message: e instanceof Error ? e.message : String(e) };
    }
  }

  /** Template variables: the values of a tag (`tag_values(dataType, tag)` or the editor's object). */
  async metricFindQuery(query: MetaFlowVariableQuery | string, options?: { range?: DataQueryRequest['range'] }): Promise<MetricFindValue[]> {
    const q = parseVariableQuery(query);
    if (!q) return [];
    const templateSrv = getTemplateSrv();
    const values = await this.api.tagValues(q.dataType, templateSrv.replace(q.tag), {
      prefix: q.prefix ? templateSrv.replace(q.prefix) : undefined,
      from: options?.range?.from.valueOf(),
      to: options?.range?.to.valueOf(),
    });
    return values.map((text) => ({ text, value: text }));
  }

  async getTagKeys(): Promise<MetricFindValue[]> {
    const tags = await this.api.tags(ADHOC_DATA_TYPE);
    return tags.map((t) => ({ text: t.name, value: t.name }));
  }

  async getTagValues(options: { key: string; filters?: AdHocVariableFilter[]; timeRange?: DataQueryRequest['range'] }): Promise<MetricFindValue[]> {
    const values = await this.api.tagValues(ADHOC_DATA_TYPE, options.key, { from: options.timeRange?.from.valueOf(), to: options.timeRange?.to.valueOf() });
    return values.map((text) => ({ text, value: text }));
  }
}

const MARK = String.fromCharCode(0);

/**
 * Formats a variable's value(s) as a JSON list between NUL marks: values may hold any character
 * (an IPv6 service's brackets), and JSON escapes NUL inside strings, so the marks stay unambiguous.
 */
export function listFormat(value: string | string[]): string {
  return MARK + JSON.stringify(Array.isArray(value) ? value : [value]) + MARK;
}

/** A replaced text that `listFormat` turned into lists, or plain text as one value. */
export function expandValues(text: string): string[] {
  const parts = text.split(MARK);
  // Marked lists split into ['', list, '', list, ''...]: anything else is plain text.
  if (parts.length < 3 || parts.length % 2 === 0 || parts.some((p, i) => i % 2 === 0 && p !== '')) return [text];
  try {
    return parts.filter((_, i) => i % 2 === 1).flatMap((l) => (JSON.parse(l) as unknown[]).map(String));
  } catch {
    return [text];
  }
}

export function describeAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
