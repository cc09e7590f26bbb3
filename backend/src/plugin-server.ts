/**
 * The gRPC server Grafana talks to: pluginv2 Data, Diagnostics and Resource, gRPC health under
 * the name "plugin" (go-plugin's liveness check), and go-plugin's broker, stdio and controller
 * services. Every handler turns failures into protocol answers: a bad request never ends the
 * process.
 */
import * as grpc from '@grpc/grpc-js';

import { BackendMetrics, checkHealth } from './diagnostics';
import { log } from './log';
import { CallResourceRequest, CheckHealthRequest, protocolServices, QueryDataRequest } from './protocol/services';
import { queryData } from './query-data';
import { callResource } from './resources';

const SERVING = 1;
const SERVICE_UNKNOWN = 3;
/** go-plugin's host checks this service name. */
const PLUGIN_HEALTH_NAME = 'plugin';

function unary<Req, Res>(name: string, handler: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request).then(
      (response) => callback(null, response),
      (e: unknown) => {
        log('error', `${name} failed`, { error: e instanceof Error ? e.stack : String(e) });
        callback({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) });
      },
    );
  };
}

export interface PluginServer {
  server: grpc.Server;
  address: string;
  metrics: BackendMetrics;
  shutdown(): Promise<void>;
}

export async function startPluginServer(address: string, onShutdownRequested: () => void): Promise<PluginServer> {
  const services = protocolServices();
  const metrics = new BackendMetrics();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 256 * 1024 * 1024 });

  server.addService(services.data, {
    QueryData: unary('QueryData', async (request: QueryDataRequest) => {
      const stop = metrics.queryDuration.startTimer();
      const response = await queryData(request, (mode, ok) => metrics.queries.inc({ mode, outcome: ok ? 'ok' : 'error' }));
      stop();
      return response;
    }),
  });
  server.addService(services.diagnostics, {
    CheckHealth: unary('CheckHealth', (request: CheckHealthRequest) => checkHealth(request)),
    CollectMetrics: unary('CollectMetrics', async () => ({ metrics: { prometheus: await metrics.exposition() } })),
  });
  server.addService(services.resource, {
    CallResource: (call: grpc.ServerWritableStream<CallResourceRequest, unknown>) => {
      callResource(call.request).then(
        (response) => {
          call.write(response);
          call.end();
        },
        (e: unknown) => call.destroy(Object.assign(new Error(e instanceof Error ? e.message : String(e)), { code: grpc.status.INTERNAL })),
      );
    },
  });
  server.addService(services.health, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const known = call.request.service === PLUGIN_HEALTH_NAME || call.request.service === '';
      if (!known) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      callback(null, { status: SERVING });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      const known = call.request.service === PLUGIN_HEALTH_NAME || call.request.service === '';
      call.write({ status: known ? SERVING : SERVICE_UNKNOWN });
    },
  });
  // go-plugin opens these on every plugin; we broker no extra connections and log to stderr, so
  // the streams stay open and quiet until the host closes them.
  server.addService(services.broker, { StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.on('end', () => call.end()) });
  server.addService(services.stdio, { StreamStdio: () => undefined });
  server.addService(services.controller, {
    Shutdown: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, {});
      setImmediate(onShutdownRequested);
    },
  });

  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return {
    server,
    address,
    metrics,
    shutdown: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
