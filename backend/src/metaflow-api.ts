import type { AgentHealth } from '../../src/datasource/health-message';
import type { MapRequest, SqlRequest, StructuredRequest } from '../../src/datasource/request-builder';
import type { ApiFrame } from '../../src/datasource/types';
import type { DataSourceSettings } from './settings';

/** An error the agent's API answered, with its HTTP status (Grafana shows it per query). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** Whether the fault is the query's (4xx: "downstream" in Grafana's terms, not the plugin's). */
    readonly downstream: boolean,
  ) {
    super(message);
  }
}

export interface FramesResponse {
  frames: ApiFrame[];
  sql: string;
}

export type Health = AgentHealth & { status: string };

const TIMEOUT_MS = 30_000;

/** The MetaFlow query API (`<apiUrl>/api/v1`), the same routes the frontend reaches through Grafana's proxy. */
export class MetaFlowApi {
  constructor(private readonly settings: DataSourceSettings) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.settings.apiToken) headers.Authorization = `Bearer ${this.settings.apiToken}`;
    let response: Response;
    try {
      response = await fetch(`${this.settings.apiUrl}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new ApiError(`MetaFlow API at ${this.settings.apiUrl} unreachable: ${cause}`, 502, true);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const reason = (json as { error?: string; message?: string } | undefined)?.error ?? (json as { message?: string } | undefined)?.message ?? (text.slice(0, 200) || response.statusText);
      const hint = response.status === 401 ? ' (check the API token in the data source settings)' : '';
      throw new ApiError(`MetaFlow API: ${reason}${hint}`, response.status, response.status < 500 || response.status === 503);
    }
    return json as T;
  }

  query(request: StructuredRequest): Promise<FramesResponse> {
    return this.call('POST', '/query', request);
  }

  sql(request: SqlRequest): Promise<FramesResponse> {
    return this.call('POST', '/sql', request);
  }

  map(request: MapRequest): Promise<FramesResponse> {
    return this.call('POST', '/map', request);
  }

  health(): Promise<Health> {
    return this.call('GET', '/health');
  }

  /** A read-only API route for CallResource (the frontend's discovery calls). */
  get(pathAndQuery: string): Promise<unknown> {
    return this.call('GET', pathAndQuery);
  }
}
