/**
 * go-plugin's start-up contract, as the host (Grafana) runs it: the host sets a magic cookie and
 * the protocol versions it speaks in the environment, the plugin answers with one line on stdout
 * `CORE|APP|NETWORK|ADDRESS|PROTOCOL` naming where it serves gRPC. Pure functions of the
 * environment, so the rules are tested without a process.
 */

/** go-plugin's own protocol version: the only value hosts accept. */
export const CORE_PROTOCOL_VERSION = 1;
/** Grafana's backend plugin protocol (pluginv2). */
export const APP_PROTOCOL_VERSION = 2;
/** Grafana's magic cookie: set by Grafana for every backend plugin it starts, never changed. */
export const MAGIC_COOKIE_KEY = 'grafana_plugin_type';
export const MAGIC_COOKIE_VALUE = 'datasource';

export type HandshakeCheck = { ok: true; protocolVersion: number; socketDir?: string } | { ok: false; message: string };

/** Whether we were started by a go-plugin host we can talk to, and in which protocol version. */
export function checkHandshakeEnv(env: Record<string, string | undefined>): HandshakeCheck {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    return {
      ok: false,
      message:
        'This executable is the backend of the MetaFlow Grafana data source. Grafana starts it (see plugin.json, "executable"); it is not meant to be run by hand.',
    };
  }
  if (env.PLUGIN_CLIENT_CERT) {
    // Grafana does not ask for automatic mTLS; a host that does expects a certificate we don't make.
    return { ok: false, message: 'the host asked for automatic mTLS (PLUGIN_CLIENT_CERT), which this plugin does not support' };
  }
  const offered = (env.PLUGIN_PROTOCOL_VERSIONS ?? String(APP_PROTOCOL_VERSION))
    .split(',')
    .map((v) => Number(v.trim()))
    .filter((v) => Number.isInteger(v));
  if (!offered.includes(APP_PROTOCOL_VERSION)) {
    return { ok: false, message: `the host speaks plugin protocol version(s) ${offered.join(', ') || '(none)'}; this plugin speaks ${APP_PROTOCOL_VERSION}` };
  }
  return { ok: true, protocolVersion: APP_PROTOCOL_VERSION, socketDir: env.PLUGIN_UNIX_SOCKET_DIR || undefined };
}

export function handshakeLine(protocolVersion: number, network: 'unix' | 'tcp', address: string): string {
  return `${CORE_PROTOCOL_VERSION}|${protocolVersion}|${network}|${address}|grpc\n`;
}

export interface ParsedHandshake {
  core: number;
  app: number;
  network: string;
  address: string;
  protocol: string;
}

/** The host's side: the plugin's line, checked as go-plugin's client checks it. */
export function parseHandshakeLine(line: string): ParsedHandshake {
  const parts = line.trim().split('|');
  if (parts.length < 4) throw new Error(`not a go-plugin handshake line: ${JSON.stringify(line)}`);
  const [core, app, network, address, protocol = 'netrpc'] = parts;
  if (Number(core) !== CORE_PROTOCOL_VERSION) throw new Error(`unsupported core protocol version ${core}`);
  return { core: Number(core), app: Number(app), network, address, protocol };
}
