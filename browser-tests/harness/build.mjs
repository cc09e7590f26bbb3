/**
 * Builds the harness bundle (browser-tests/dist/harness/harness.js: this folder's page.js with the
 * host modules of preview/host/, webpack set-up from there too) unless an identical build is
 * already there: the stamp is a hash of what goes into the bundle (this folder's .js files, the
 * host modules, the webpack set-up) and package-lock.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

import { hostModuleFiles, hostPageConfig } from '../../preview/host/webpack.config.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
// Under a dist/ folder: ignored by git and by the root eslint config, like the plugins' build.
const BUILD_DIR = path.resolve(here, '..', 'dist', 'harness');
const STAMP = path.join(BUILD_DIR, '.stamp');

const config = hostPageConfig({ context: here, entry: { harness: './page.js' }, outputPath: BUILD_DIR, publicPath: '/harness/' });

function inputsHash() {
  const hash = createHash('sha256');
  const files = readdirSync(here)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => path.join(here, f));
  for (const file of [...files, ...hostModuleFiles(), path.join(root, 'package-lock.json')]) hash.update(file).update(readFileSync(file));
  return hash.digest('hex');
}

/** Resolves with { built, ms }: whether webpack ran, and how long it all took. */
export async function buildHarness() {
  const t0 = Date.now();
  const stamp = inputsHash();
  if (existsSync(path.join(BUILD_DIR, 'harness.js')) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === stamp) return { built: false, ms: Date.now() - t0 };
  await new Promise((resolve, reject) => {
    webpack(config, (err, stats) => {
      if (err) return reject(err);
      if (stats.hasErrors()) return reject(new Error(`harness bundle failed:\n${stats.toString({ all: false, errors: true, colors: false })}`));
      resolve();
    });
  });
  writeFileSync(STAMP, stamp);
  return { built: true, ms: Date.now() - t0 };
}

export const HARNESS_BUILD_DIR = BUILD_DIR;
export const HARNESS_DIR = here;
