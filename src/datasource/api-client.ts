import { getBackendSrv, FetchError } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';

import { AgentHealth } from './health-message';
import { MapRequest, StructuredRequest, SqlRequest } from './request-builder';
import { ApiFrame, MetricInfo } from './types';

/** The route of plugin.json that Grafana's data source proxy forwards to `<apiUrl>/api`. */
export const PROXY_ROUTE = 'metaflow';

export type Health = AgentHealth & { status: string };

/**
 * The MetaFlow query API, reached through Grafana's data source proxy so the browser never sees
 * the token and no CORS set-up is needed.
 */
export class ApiClient {
  constructor(private readonly datasourceUid: string) {}

  private get base(): string {
    return `/api/datasources/proxy/uid/${this.datasourceUid}/${PROXY_ROUTE}/v1`;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    try {
      const response = await lastValueFrom(
        getBackendSrv().fetch<T>({ method, url: `${this.base}${path}`, data: body, headers: { 'Content-Type': 'application/json' }, showErrorAlert: false }),
      );
      return response.data;
    } catch (e) {
      const err = e as FetchError<{ error?: string; message?: string }>;
      // Grafana's proxy puts its own reason (e.g. a failed authentication) in `message` and copies
      // the API's `error` there too, so `message` is the one to show.
      const message = err.data?.message ?? err.data?.error ?? err.statusText ?? (e instanceof Error ? e.message : 'request failed');
      throw new Error(`MetaFlow: ${message}`);
    }
  }

  query(request: StructuredRequest): Promise<{ frames: ApiFrame[]; sql: string }> {
    return this.call('POST', '/query', request);
  }

  /** The SQL a builder query runs: parameterised, and `runnable` in SQL mode's terms. */
  sqlOf(request: StructuredRequest): Promise<{ sql: string; params: Record<string, unknown>; runnable: string }> {
    return this.call('POST', '/query/sql', request);
  }

  sql(request: SqlRequest): Promise<{ frames: ApiFrame[]; sql: string }> {
    return this.call('POST', '/sql', request);
  }

  map(request: MapRequest): Promise<{ frames: ApiFrame[]; sql: string }> {
    return this.call('POST', '/map', request);
  }

  health(): Promise<Health> {
    return this.call('GET', '/health');
  }

  metrics(dataType: string): Promise<MetricInfo[]> {
    return this.call('GET', `/tables/${encodeURIComponent(dataType)}/metrics`);
  }

  tags(dataType: string): Promise<Array<{ name: string; type: string }>> {
    return this.call('GET', `/tables/${encodeURIComponent(dataType)}/tags`);
  }

  tagValues(dataType: string, tag: string, options: { prefix?: string; from?: number; to?: number } = {}): Promise<string[]> {
    const params = new URLSearchParams();
    if (options.prefix) params.set('prefix', options.prefix);
    if (options.from !== undefined) params.set('from', String(options.from));
    if (options.to !== undefined) params.set('to', String(options.to));
    const qs = params.toString();
    return this.call('GET', `/tables/${encodeURIComponent(dataType)}/tags/${encodeURIComponent(tag)}/values${qs ? `?${qs}` : ''}`);
  }
}
