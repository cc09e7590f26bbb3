import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';

import { GO_PLUGIN_PROTO, HEALTH_PROTO, PLUGINV2_PROTO } from './plugin-protocol';

/** Message shapes as proto-loader hands them over: field names as in the .proto, int64 as numbers. */
export const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: Number, bytes: Buffer, defaults: true, oneofs: true } as const;

function loadDefinitions(): grpc.GrpcObject {
  const root = new protobuf.Root();
  for (const text of [PLUGINV2_PROTO, GO_PLUGIN_PROTO, HEALTH_PROTO]) protobuf.parse(text, root, { keepCase: true });
  return grpc.loadPackageDefinition(fromJSON(root.toJSON(), LOADER_OPTIONS));
}

function service(definitions: grpc.GrpcObject, path: string): grpc.ServiceDefinition {
  let node: unknown = definitions;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  const ctor = node as grpc.ServiceClientConstructor | undefined;
  if (!ctor?.service) throw new Error(`protocol definition has no service ${path}`);
  return ctor.service;
}

export interface ProtocolServices {
  data: grpc.ServiceDefinition;
  diagnostics: grpc.ServiceDefinition;
  resource: grpc.ServiceDefinition;
  health: grpc.ServiceDefinition;
  broker: grpc.ServiceDefinition;
  controller: grpc.ServiceDefinition;
  stdio: grpc.ServiceDefinition;
  /** Client constructors, for tests and tools that play Grafana's part. */
  clients: grpc.GrpcObject;
}

let cached: ProtocolServices | undefined;

export function protocolServices(): ProtocolServices {
  if (cached) return cached;
  const definitions = loadDefinitions();
  cached = {
    data: service(definitions, 'pluginv2.Data'),
    diagnostics: service(definitions, 'pluginv2.Diagnostics'),
    resource: service(definitions, 'pluginv2.Resource'),
    health: service(definitions, 'grpc.health.v1.Health'),
    broker: service(definitions, 'plugin.GRPCBroker'),
    controller: service(definitions, 'plugin.GRPCController'),
    stdio: service(definitions, 'plugin.GRPCStdio'),
    clients: definitions,
  };
  return cached;
}

// ------------------------------------------------------------------ message shapes

export interface InstanceSettings {
  id: number;
  name: string;
  url: string;
  jsonData: Buffer;
  decryptedSecureJsonData: Record<string, string>;
  uid: string;
}

export interface PluginContext {
  orgId: number;
  pluginId: string;
  dataSourceInstanceSettings: InstanceSettings | null;
  grafanaConfig: Record<string, string>;
  pluginVersion: string;
}

export interface DataQuery {
  refId: string;
  maxDataPoints: number;
  intervalMS: number;
  timeRange: { fromEpochMS: number; toEpochMS: number } | null;
  json: Buffer;
  queryType: string;
}

export interface QueryDataRequest {
  pluginContext: PluginContext | null;
  headers: Record<string, string>;
  queries: DataQuery[];
}

export interface DataResponse {
  frames: Buffer[];
  error?: string;
  status?: number;
  errorSource?: string;
}

export interface QueryDataResponse {
  responses: Record<string, DataResponse>;
}

export enum HealthStatus {
  UNKNOWN = 0,
  OK = 1,
  ERROR = 2,
}

export interface CheckHealthRequest {
  pluginContext: PluginContext | null;
  headers: Record<string, string>;
}

export interface CheckHealthResponse {
  status: HealthStatus;
  message: string;
  jsonDetails?: Buffer;
}

export interface CallResourceRequest {
  pluginContext: PluginContext | null;
  path: string;
  method: string;
  url: string;
  headers: Record<string, { values: string[] }>;
  body: Buffer;
}

export interface CallResourceResponse {
  code: number;
  headers: Record<string, { values: string[] }>;
  body: Buffer;
}
