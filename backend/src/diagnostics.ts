import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

import { healthMessage } from '../../src/datasource/health-message';
import { ApiError, MetaFlowApi } from './metaflow-api';
import { CheckHealthRequest, CheckHealthResponse, HealthStatus } from './protocol/services';
import { settingsFrom } from './settings';

/** The backend's own metrics, which Grafana serves at /metrics/plugins/<plugin id>. */
export class BackendMetrics {
  readonly registry = new Registry();
  readonly queries = new Counter({ name: 'metaflow_backend_queries_total', help: 'Queries run for Grafana, by mode and outcome', labelNames: ['mode', 'outcome'], registers: [this.registry] });
  readonly queryDuration = new Histogram({
    name: 'metaflow_backend_query_duration_seconds',
    help: 'Time to answer one QueryData call, API round trips and Arrow encoding included',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  async exposition(): Promise<Buffer> {
    return Buffer.from(await this.registry.metrics());
  }
}

/** "Save & test" and Grafana's health API: the agent answers, and how fresh its data is. */
export async function checkHealth(request: CheckHealthRequest, now = Date.now()): Promise<CheckHealthResponse> {
  try {
    const settings = settingsFrom(request.pluginContext);
    const health = await new MetaFlowApi(settings).health();
    return {
      status: HealthStatus.OK,
      message: `${healthMessage(health, now)} Alerting is available.`,
      jsonDetails: Buffer.from(JSON.stringify({ version: health.version, store: health.store, newest: health.newest })),
    };
  } catch (e) {
    const status = e instanceof ApiError ? ` (HTTP ${e.status})` : '';
    return { status: HealthStatus.ERROR, message: `${e instanceof Error ? e.message : String(e)}${status}` };
  }
}
