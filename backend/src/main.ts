/**
 * Entry of the backend executable Grafana starts (gpx_metaflow_<os>_<arch>): check the
 * handshake environment, serve gRPC (unix socket; TCP on Windows), announce it on stdout, stop cleanly
 * when Grafana asks (controller Shutdown) or sends a signal.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { checkHandshakeEnv, handshakeLine } from './handshake';
import { log } from './log';
import { PluginServer, startPluginServer } from './plugin-server';

/**
 * Where to serve: a unix socket in the host's socket directory, as go-plugin does on Unix; on
 * Windows a loopback TCP port inside the range the host allows (PLUGIN_MIN_PORT..MAX_PORT).
 */
async function listen(socketDir: string | undefined, onShutdown: () => void): Promise<{ plugin: PluginServer; network: 'unix' | 'tcp'; address: string }> {
  if (process.platform !== 'win32') {
    const socketPath = path.join(socketDir ?? os.tmpdir(), `plugin${randomBytes(6).toString('hex')}`);
    return { plugin: await startPluginServer(`unix://${socketPath}`, onShutdown), network: 'unix', address: socketPath };
  }
  const min = Number(process.env.PLUGIN_MIN_PORT) || 10000;
  const max = Number(process.env.PLUGIN_MAX_PORT) || 25000;
  for (let port = min; port <= max; port++) {
    try {
      return { plugin: await startPluginServer(`127.0.0.1:${port}`, onShutdown), network: 'tcp', address: `127.0.0.1:${port}` };
    } catch {
      // taken: try the next one
    }
  }
  throw new Error(`no free port between ${min} and ${max}`);
}

async function main(): Promise<void> {
  const check = checkHandshakeEnv(process.env);
  if (!check.ok) {
    process.stderr.write(`${check.message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log('debug', 'MetaFlow backend stopping', { reason });
    await served.plugin.shutdown().catch(() => undefined);
    if (served.network === 'unix') rmSync(served.address, { force: true });
    process.exit(0);
  };
  const served = await listen(check.socketDir, () => void stop('shutdown requested by the host'));
  process.stdout.write(handshakeLine(check.protocolVersion, served.network, served.address));
  log('info', 'MetaFlow backend serving', { network: served.network, address: served.address, pid: process.pid });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal));
  // Never die on a stray error: log it and keep serving (each call already answers its errors).
  process.on('uncaughtException', (e) => log('error', 'uncaught exception', { error: e.stack }));
  process.on('unhandledRejection', (e) => log('error', 'unhandled rejection', { error: e instanceof Error ? e.stack : String(e) }));
}

main().catch((e: unknown) => {
  process.stderr.write(`MetaFlow backend could not start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
