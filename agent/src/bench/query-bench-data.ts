/**
 * A day of generated per-minute RED rows for the query benchmark: services (server `ip:port`)
 * with endpoints, seen from the server (`tap_side` s, one row per endpoint and minute) and from
 * the client hosts that call them (`tap_side` c, one row per calling host), with a diurnal load
 * curve, Poisson-like noise, errors, timeouts and log2 µs response-time histograms built the way
 * the agent builds them (bucket k holds [2^(k-1), 2^k) µs).
 *
 * The rows go straight into `application_1m`, the table the RED overview reads: it is normally
 * filled by a materialized view from `application_map_1s`, but a day of per-second pair rows is
 * far more than the benchmark needs, and an AggregatingMergeTree takes plain values for its
 * SimpleAggregateFunction columns. Column names come from the table definition, so a schema
 * change breaks the generator loudly instead of silently writing defaults.
 */
import { HISTOGRAM_BUCKETS } from '../aggregate/network-metrics';
import { JsonRowBuffer } from '../store/json-row-buffer';
import { Store } from '../store/store';
import { APPLICATION_TABLES, TableDef } from '../store/tables';

export interface DataShape {
  services: number;
  endpointsPerService: number;
  clientsPerService: number;
  /** First second of the day (UTC midnight). */
  dayStart: number;
  minutes: number;
  batchRows: number;
}

export interface LoadStats {
  rows: number;
  sRows: number;
  cRows: number;
  bytes: number;
  requests: number;
  generateSeconds: number;
  /** Wall time of generation and insertion overlapped (the next batch is built while one inserts). */
  loadSeconds: number;
  optimizeSeconds: number;
}

export interface Service {
  name: string;
  ip: string;
  port: number;
  process: string;
  pid: number;
  host: string;
  clients: { ip: string; host: string }[];
  endpoints: { name: string; protocol: string; rps: number; rrtUs: number }[];
  /** Error and timeout rates of this service. */
  clientErrorRate: number;
  serverErrorRate: number;
  timeoutRate: number;
}

export const APPLICATION_1M: TableDef = (() => {
  const t = APPLICATION_TABLES.find((x) => x.name === 'application_1m');
  if (!t) throw new Error('tables.ts has no application_1m: the query benchmark needs updating');
  return t;
})();

/** Columns the generator writes; every column of the table must be here or in DEFAULTED. */
const TAGS = ['tap_side', 'signal_source', 'host', 'protocol', 'l7_protocol', 'ip', 'server_port', 'service', 'process', 'pid', 'endpoint'] as const;
const METRICS = ['request', 'response', 'error', 'client_error', 'server_error', 'timeout', 'rrt_sum', 'rrt_count', 'rrt_max', 'rrt_hist'] as const;
/** Left to the column default (no container runtime in the generated fleet). */
const DEFAULTED = ['container'];

function checkSchema(t: TableDef): void {
  const known = new Set<string>(['time', ...TAGS, ...METRICS, ...DEFAULTED]);
  const columns = new Set(t.columns.map((c) => c.name));
  const unknown = [...columns].filter((c) => !known.has(c));
  const missing = [...known].filter((c) => !columns.has(c));
  if (unknown.length || missing.length) {
    throw new Error(`${t.name} changed (new: ${unknown.join(', ') || '-'}; gone: ${missing.join(', ') || '-'}): update query-bench-data.ts`);
  }
}

/** mulberry32: a small seeded generator, so every run measures the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTOCOLS: [string, number][] = [
  ['http1', 0.55],
  ['http2', 0.15],
  ['grpc', 0.12],
  ['mysql', 0.08],
  ['redis', 0.07],
  ['kafka', 0.03],
];

function endpointNames(protocol: string, service: number, n: number): string[] {
  const names: string[] = [];
  for (let e = 0; e < n; e++) {
    switch (protocol) {
      case 'http1':
      case 'http2':
        names.push(`${['GET', 'POST', 'PUT', 'DELETE'][e % 4]} /api/v${1 + (e % 2)}/svc${service}/res${e}`);
        break;
      case 'grpc':
        names.push(`/svc${service}.Service${Math.floor(e / 3)}/Method${e}`);
        break;
      case 'mysql':
        names.push(`${['SELECT', 'INSERT', 'UPDATE', 'DELETE'][e % 4]} table_${service}_${e}`);
        break;
      case 'redis':
        names.push(`${['GET', 'SET', 'HGET', 'HSET', 'MGET'][e % 5]} key${e}`);
        break;
      default:
        names.push(`Produce topic-${service}-${e}`);
    }
  }
  return names;
}

/** The fleet: service i gets a Zipf-like share of the traffic, its endpoints likewise. */
export function makeServices(shape: DataShape, random: () => number): Service[] {
  const out: Service[] = [];
  for (let i = 0; i < shape.services; i++) {
    let pick = random();
    let protocol = PROTOCOLS[PROTOCOLS.length - 1][0];
    for (const [p, share] of PROTOCOLS) {
      if (pick < share) {
        protocol = p;
        break;
      }
      pick -= share;
    }
    const ip = `10.${1 + (i >> 8)}.${i & 255}.${10 + (i % 7)}`;
    const port = { http1: 8080, http2: 8443, grpc: 9090, mysql: 3306, redis: 6379, kafka: 9092 }[protocol] ?? 8080;
    const serviceRps = 3000 / Math.pow(i + 1, 0.9);
    const weights = Array.from({ length: shape.endpointsPerService }, (_, e) => 1 / Math.pow(e + 1, 1.1));
    const total = weights.reduce((a, b) => a + b, 0);
    const baseRrt = { http1: 20_000, http2: 15_000, grpc: 8_000, mysql: 2_000, redis: 300, kafka: 4_000 }[protocol] ?? 10_000;
    const names = endpointNames(protocol, i, shape.endpointsPerService);
    out.push({
      name: `${ip}:${port}`,
      ip,
      port,
      process: ['java', 'node', 'python3', 'envoy', 'mysqld', 'redis-server'][i % 6],
      pid: 1000 + i * 7,
      host: `node-${i % 40}`,
      clients: Array.from({ length: shape.clientsPerService }, (_, j) => {
        const c = (i * 7 + j * 13 + 1) % shape.services;
        return { ip: `10.${1 + (c >> 8)}.${c & 255}.${10 + (c % 7)}`, host: `node-${(i + 1 + j * 3) % 40}` };
      }),
      endpoints: names.map((name, e) => ({
        name,
        protocol,
        rps: (serviceRps * weights[e]) / total,
        rrtUs: baseRrt * Math.exp((random() - 0.5) * 2.5),
      })),
      clientErrorRate: 0.002 + random() * 0.01,
      serverErrorRate: i % 17 === 3 ? 0.03 : 0.001 + random() * 0.004,
      timeoutRate: i % 23 === 5 ? 0.01 : random() * 0.001,
    });
  }
  return out;
}

/** A count with mean `mean` and Poisson-like spread (normal approximation, ≥ 0). */
function noisy(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean < 20) {
    // Knuth for small means.
    const limit = Math.exp(-mean);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  const u = Math.max(1e-12, random());
  const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * g));
}

/** Share of the samples per bucket offset from the endpoint's typical bucket: a long right tail. */
const SHAPE = [
  [-2, 0.04],
  [-1, 0.22],
  [0, 0.4],
  [1, 0.2],
  [2, 0.09],
  [3, 0.04],
  [4, 0.01],
] as const;

const HIST_KEYS = Array.from({ length: HISTOGRAM_BUCKETS }, (_, k) => `"${k}":`);

/**
 * Generates the day minute by minute and inserts it in batches; the next batch is built while
 * the store parses the previous one. Then merges the parts, as a store that has been running a
 * day would have them, so later timings do not race background merges.
 */
export async function loadDay(store: Store, shape: DataShape, services: Service[], random: () => number): Promise<LoadStats> {
  checkSchema(APPLICATION_1M);
  const stats: LoadStats = { rows: 0, sRows: 0, cRows: 0, bytes: 0, requests: 0, generateSeconds: 0, loadSeconds: 0, optimizeSeconds: 0 };
  // Fixed JSON fragments per (service, endpoint, observation point): only numbers vary per row.
  const fragments = services.map((s) =>
    s.endpoints.map((e) => {
      const common = `,"signal_source":"packet","protocol":"tcp","l7_protocol":"${e.protocol}"`;
      const server = `,"ip":"${s.ip}","server_port":${s.port},"service":${JSON.stringify(s.name)},"process":"${s.process}","pid":${s.pid},"endpoint":${JSON.stringify(e.name)}`;
      return {
        s: `,"tap_side":"s","host":"${s.host}"${common}${server}`,
        c: s.clients.map((c) => `,"tap_side":"c","host":"${c.host}"${common}${server}`),
      };
    }),
  );
  const started = process.hrtime.bigint();
  let buffer = new JsonRowBuffer(64 << 20);
  let pending: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    const b = buffer;
    buffer = new JsonRowBuffer(64 << 20);
    if (pending) await pending;
    stats.bytes += b.size;
    pending = store.insert(APPLICATION_1M, b.bytes(), b.rows);
  };
  const counts = new Float64Array(HISTOGRAM_BUCKETS);
  let genNs = 0n;
  let t0 = process.hrtime.bigint();
  for (let m = 0; m < shape.minutes; m++) {
    const time = shape.dayStart + m * 60;
    // Diurnal load: a trough at 04:00 UTC, a peak at 16:00, ±60 %.
    const diurnal = 1 + 0.6 * Math.sin(((m / 60 - 10) / 24) * 2 * Math.PI);
    // An incident: one service fails a quarter of its requests for half an hour.
    for (let si = 0; si < services.length; si++) {
      const s = services[si];
      const incident = si === 3 && m >= 14 * 60 && m < 14 * 60 + 30;
      for (let ei = 0; ei < s.endpoints.length; ei++) {
        const e = s.endpoints[ei];
        const request = noisy(e.rps * 60 * diurnal, random);
        if (request === 0) continue;
        // Server side: every request; client side: the calling hosts split them (a host calls
        // an endpoint unless (endpoint + host) % 3 == 0, so two of three hosts call each one).
        const callers = s.clients.map((_, j) => j).filter((j) => (ei + j) % 3 !== 0);
        const frag = fragments[si][ei];
        const rows: [string, number][] = [[frag.s, request]];
        let left = request;
        callers.forEach((j, n) => {
          const part = n === callers.length - 1 ? left : Math.round(left * (0.3 + 0.4 * random()));
          left -= part;
          if (part > 0) rows.push([frag.c[j], part]);
        });
        for (const [tags, req] of rows) {
          const timeout = Math.min(req, noisy(req * s.timeoutRate, random));
          const response = req - timeout;
          const clientError = Math.min(response, noisy(response * s.clientErrorRate, random));
          const serverError = Math.min(response - clientError, noisy(response * (incident ? 0.25 : s.serverErrorRate), random));
          // Response times: spread the responses over buckets around the endpoint's typical one.
          counts.fill(0);
          const center = Math.min(HISTOGRAM_BUCKETS - 6, Math.max(3, Math.floor(Math.log2(e.rrtUs * (incident ? 4 : 1))) + 1));
          let spread = response;
          for (let i = 0; i < SHAPE.length && spread > 0; i++) {
            const [offset, share] = SHAPE[i];
            const n = i === SHAPE.length - 1 ? spread : Math.min(spread, Math.floor(response * share + random()));
            counts[center + offset] += n;
            spread -= n;
          }
          if (spread > 0) counts[center] += spread;
          let rrtSum = 0;
          let top = -1;
          for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
            if (counts[k] === 0) continue;
            const lo = k === 0 ? 0 : 2 ** (k - 1);
            rrtSum += counts[k] * (lo * (1.3 + 0.4 * random()));
            top = k;
          }
          const rrtMax = top < 0 ? 0 : Math.floor(2 ** (top - 1) * (1 + random() * 0.999));
          buffer.ascii('{"time":').int(time).ascii(tags);
          buffer.ascii(',"request":').int(req).ascii(',"response":').int(response);
          buffer.ascii(',"error":').int(clientError + serverError).ascii(',"client_error":').int(clientError).ascii(',"server_error":').int(serverError);
          buffer.ascii(',"timeout":').int(timeout).ascii(',"rrt_sum":').int(rrtSum).ascii(',"rrt_count":').int(response).ascii(',"rrt_max":').int(rrtMax);
          buffer.ascii(',"rrt_hist":{');
          let first = true;
          for (let k = 0; k < HISTOGRAM_BUCKETS; k++) {
            if (counts[k] === 0) continue;
            if (!first) buffer.ascii(',');
            buffer.ascii(HIST_KEYS[k]).int(counts[k]);
            first = false;
          }
          buffer.ascii('}');
          buffer.endRow();
          stats.rows++;
          if (tags === frag.s) {
            stats.sRows++;
            stats.requests += req;
          } else stats.cRows++;
        }
        if (buffer.rows >= shape.batchRows) {
          genNs += process.hrtime.bigint() - t0;
          await flush();
          t0 = process.hrtime.bigint();
        }
      }
    }
  }
  genNs += process.hrtime.bigint() - t0;
  if (buffer.rows > 0) await flush();
  if (pending) await pending;
  stats.generateSeconds = Number(genNs) / 1e9;
  stats.loadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const optimizing = process.hrtime.bigint();
  await store.exec(`OPTIMIZE TABLE ${APPLICATION_1M.database}.${APPLICATION_1M.name} FINAL`);
  stats.optimizeSeconds = Number(process.hrtime.bigint() - optimizing) / 1e9;
  return stats;
}
