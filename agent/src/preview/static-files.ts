/**
 * Files of a built folder over HTTP, for the preview: paths are resolved inside their folder only
 * (no `..`, no absolute paths, no NUL), and sent with their content type and no caching, so that a
 * rebuild shows on the next load.
 */
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { FastifyReply } from 'fastify';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

/**
 * The file `relative` (a URL path, already percent-decoded by the router) names under `root`, or
 * undefined when it would leave `root`: a `..` segment, a backslash, a NUL byte are refused rather
 * than normalised away.
 */
export function fileUnder(root: string, relative: string): string | undefined {
  if (relative.includes('\0') || relative.includes('\\')) return undefined;
  const segments = relative.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return undefined;
  const base = path.resolve(root);
  const file = path.resolve(base, ...segments);
  return file.startsWith(base + path.sep) ? file : undefined;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Sends `file` (from fileUnder), or 404 when there is no such file. */
export function sendFile(reply: FastifyReply, file: string | undefined): FastifyReply {
  if (!file || !isFile(file)) return reply.code(404).send({ error: 'not found' });
  return reply
    .type(CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream')
    .header('cache-control', 'no-cache')
    .send(createReadStream(file));
}
