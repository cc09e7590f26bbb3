#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { replayCommand } from './replay-command';
import { agentCommand } from './agent-command';
import { serveCommand } from './serve-command';
import { summaryCommand } from './summary-command';
import { DEFAULT_API_PORT } from '../query/api-server';
import { DEFAULT_OTLP_PORT } from '../otel/otlp-receiver';
import { schemaStatements } from '../store/schema';

const VERSION = '0.1.0';

function collectAddresses(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a port number (1-65535)`);
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive integer`);
  return n;
}

/** `--otlp-port` alone means OTLP's conventional port; the receiver is off without the option. */
const otlpPortOption = (): Option =>
  new Option('--otlp-port [n]', `receive OpenTelemetry spans over OTLP/HTTP (POST /v1/traces) on this port (${DEFAULT_OTLP_PORT} when no value is given); off by default`)
    .preset(String(DEFAULT_OTLP_PORT))
    .argParser(port);
const otlpHostOption = (): Option => new Option('--otlp-host <address>', 'address the OTLP receiver listens on').default('127.0.0.1');

const storeOption = (): Option =>
  new Option('--store <dir|url>', 'embedded chDB data directory, or http(s)://user:password@host:8123 of a ClickHouse server').default(
    '.metaflow/data',
  );

export function buildProgram(): Command {
  const program = new Command('metaflow')
    .description('MetaFlow: zero-instrumentation network and application observability')
    .version(VERSION)
    .showHelpAfterError();

  program
    .command('replay')
    .description('replay a pcap/pcapng capture (or "-" for standard input) into the store and print the summary')
    .argument('<capture>', 'capture file, or - to read a stream (tcpdump -w -, dumpcap -w -)')
    .addOption(storeOption())
    .option('--local-ip <addresses>', 'addresses of the capturing host, comma separated or repeated (decides tap_side)', collectAddresses, [])
    .option('--host <name>', 'host name to label the rows with (default: this machine)')
    .option('--max-flows <n>', 'largest number of concurrent flows kept', positiveInt, 1_000_000)
    .option('--cluster <name>', 'create the tables on this ClickHouse cluster (Replicated + Distributed)')
    .option('--no-l7', 'analyse L4 only: no protocol parsing, request log or RED metrics')
    .option('--keep-sql-literals', 'store SQL statements as sent (default: literals masked as ?)')
    .option('--keep-redis-values', 'store Redis arguments (default: command and key only)')
    .option('--http-header <names>', 'HTTP headers copied into the request log, comma separated or repeated', collectAddresses, [])
    .option('--endpoint-segments <n>', 'path segments kept in HTTP endpoints', positiveInt, 2)
    .option('--json', 'print the summary as one JSON object')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(async (capture: string, opts) => {
      if (capture !== '-' && (!existsSync(capture) || !statSync(capture).isFile())) {
        program.error(`error: capture file ${JSON.stringify(capture)} does not exist or is not a file`, { exitCode: 2 });
      }
      process.exitCode = await replayCommand(capture, opts);
    });

  program
    .command('summary')
    .description('print the summary of what a store holds')
    .addOption(storeOption())
    .option('--tap-side <value>', 'only rows seen at this observation point (alias: --observation-point)')
    .option('--observation-point <value>', 'alias of --tap-side')
    .option('--server-port <n>', 'only flows whose server listens on this port', port)
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts) => {
      process.exitCode = await summaryCommand(opts);
    });
  program
    .command('agent')
    .description('capture live on this host (eBPF socket data and AF_PACKET packets) into the store, and serve the query API')
    .addOption(storeOption())
    .option('--interfaces <names>', 'interfaces to capture packets on, comma separated (default: all that are up)', collectAddresses, [])
    .option('--filter <expr>', 'tcpdump-style filter of the packets captured')
    .option('--no-ebpf', 'no socket tracing: packets only')
    .option('--no-packets', 'no packet capture: eBPF only')
    .option('--payload-bytes <n>', 'bytes of each socket read/write copied (up to 16384)', positiveInt)
    .option('--gateway <name:side>', 'an interface of a gateway, facing the client or server side (e.g. eth1:server); repeatable', collectAddresses, [])
    .option('--host <name>', 'host name to label the rows with (default: this machine)')
    .option('--no-api', 'do not serve the query API')
    .option('--api-host <address>', 'address the query API listens on', '127.0.0.1')
    .option('--api-port <n>', 'port of the query API', port, DEFAULT_API_PORT)
    .option('--token <token>', 'bearer token the query API requires (default: $METAFLOW_API_TOKEN)')
    .addOption(otlpPortOption())
    .addOption(otlpHostOption())
    .option('--preview', 'also serve the service-map preview page on the query API (needs `npm run build`) and print its URL')
    .action(async (opts) => {
      process.exitCode = await agentCommand({ ...opts, version: VERSION });
    });
  program
    .command('serve')
    .description('serve the query API (for the Grafana datasource) over a store')
    .addOption(storeOption())
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', port, DEFAULT_API_PORT)
    .option('--token <token>', 'require this bearer token (default: $METAFLOW_API_TOKEN, none when unset)')
    .addOption(otlpPortOption())
    .addOption(otlpHostOption())
    .option('--preview', 'also serve the service-map preview page (needs `npm run build`) and print its URL')
    .action(async (opts: { store: string; host: string; port: number; token?: string; preview?: boolean; otlpPort?: number; otlpHost: string }) => {
      process.exitCode = await serveCommand({ ...opts, version: VERSION });
    });
  program
    .command('schema')
    .description('print the ClickHouse DDL of every table (to apply by hand or review)')
    .option('--cluster <name>', 'emit ReplicatedMergeTree local tables and Distributed tables for this cluster')
    .action((opts: { cluster?: string }) => {
      process.stdout.write(schemaStatements({ cluster: opts.cluster }).join(';\n\n') + ';\n');
    });
  return program;
}

export function runCli(argv: string[]): void {
  buildProgram()
    .parseAsync(argv)
    .catch((error: unknown) => {
      process.stderr.write(`metaflow: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
}

if (require.main === module) runCli(process.argv);
