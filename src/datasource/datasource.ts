import {
  AdHocVariableFilter,
  CoreApp,
  DataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
  TestDataSourceResponse,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';
import { from, Observable } from 'rxjs';

import { ApiClient } from './api-client';
import { toGrafanaFrames } from './frame-converter';
import { healthMessage } from './health-message';
import { migrateQuery } from './query-migration';
import { BuildContext, buildMapRequest, buildSqlRequest, buildStructuredRequest } from './request-builder';
import { DEFAULT_QUERY, MetaFlowDataSourceOptions, MetaFlowQuery, MetaFlowVariableQuery, MetricInfo } from './types';
import { expandValues, listFormat, VariableValues, variableNames } from './template-values';
import { parseVariableQuery } from './variable-query';

/** Grafana's own interval variables: SQL mode gives `$__interval` its MetaFlow meaning (seconds). */
const GRAFANA_INTERVAL_VARS = ['__interval', '__interval_ms', '__rate_interval', '__rate_interval_ms'];

/** Data type whose tags ad-hoc filters offer (the RED tables share their tags with the others). */
const ADHOC_DATA_TYPE = 'application';

/**
 * Dashboards and Explore query the agent's API through Grafana's data source proxy (no backend
 * round trip); Grafana's server-side features (alert rules, recorded queries, public dashboards)
 * run the same query model in the plugin's backend executable, hence DataSourceWithBackend.
 */
export class DataSource extends DataSourceWithBackend<MetaFlowQuery, MetaFlowDataSourceOptions> {
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

  private context(request: Pick<DataQueryRequest, 'range' | 'intervalMs' | 'scopedVars' | 'filters'>, forSql: boolean, recorded?: VariableValues): BuildContext {
    const templateSrv = getTemplateSrv();
    const scoped: ScopedVars = { ...recordedVariablesNotOnDashboard(recorded), ...request.scopedVars };
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

  query(request: DataQueryRequest<MetaFlowQuery>): Observable<DataQueryResponse> {
    return from(this.queryThroughProxy(request));
  }

  private async queryThroughProxy(request: DataQueryRequest<MetaFlowQuery>): Promise<DataQueryResponse> {
    const targets = request.targets.filter((t) => !t.hide).map((t) => this.migrate(t));
    const errors: Array<{ refId: string; message: string }> = [];
    const results = await Promise.all(
      targets.map(async (q): Promise<DataFrame[]> => {
        try {
          const response =
            q.mode === 'sql'
              ? await this.api.sql(buildSqlRequest(q, this.context(request, true, q.variables)))
              : q.mode === 'map'
                ? await this.api.map(buildMapRequest(q, this.context(request, false, q.variables)))
                : await this.api.query(buildStructuredRequest(q, this.context(request, false, q.variables)));
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

  /**
   * The query with the dashboard's variables written in, as Grafana asks when a panel's query
   * becomes an alert rule or moves to Explore (where no dashboard variables exist). Multi-value
   * variables become several filter values, not Grafana's `{a,b}` text, so an alert rule made
   * from a panel filtered on `$service` = All or two services still means the same services.
   */
  interpolateVariablesInQueries(queries: MetaFlowQuery[], scopedVars: ScopedVars): MetaFlowQuery[] {
    const templateSrv = getTemplateSrv();
    const replace = (text: string) => templateSrv.replace(text, scopedVars);
    const expand = (text: string) => expandValues(templateSrv.replace(text, scopedVars, listFormat));
    return queries.map((q) => ({
      ...q,
      datasource: this.getRef(),
      sql: q.sql !== undefined ? replace(q.sql) : undefined,
      filters: (q.filters ?? []).map((f) => ({ ...f, tag: replace(f.tag), values: f.values.flatMap(expand) })),
      groupBy: (q.groupBy ?? []).flatMap(expand),
      tapSide: (q.tapSide ?? []).flatMap(expand),
      ...(q.mapLevel !== undefined ? { mapLevel: replace(q.mapLevel) as MetaFlowQuery['mapLevel'] } : {}),
    }));
  }

  /** Names of the variables a query refers to (Grafana's "variables in use" and the editor's hints). */
  variablesOf(query: MetaFlowQuery): string[] {
    const texts = [query.sql ?? '', query.mapLevel ?? '', ...query.groupBy, ...query.tapSide, ...query.filters.flatMap((f) => [f.tag, ...f.values])];
    return [...new Set(texts.flatMap(variableNames))];
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      const health = await this.api.health();
      return { status: 'success', message: healthMessage(health, Date.now()) };
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

/**
 * Values a query recorded for variables (see MetaFlowQuery.variables), as scoped variables for
 * the names the dashboard does not define: the dashboard's own values win where both exist.
 */
function recordedVariablesNotOnDashboard(recorded: VariableValues | undefined): ScopedVars {
  if (!recorded) return {};
  const onDashboard = new Set((getTemplateSrv().getVariables?.() ?? []).map((v) => v.name));
  const scoped: ScopedVars = {};
  for (const [name, value] of Object.entries(recorded)) if (!onDashboard.has(name)) scoped[name] = { text: String(value), value };
  return scoped;
}
