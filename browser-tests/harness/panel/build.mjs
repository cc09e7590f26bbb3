/**
 * Builds the panel harness bundle (browser-tests/dist/panel-harness/panel-harness.js) unless an
 * identical build is there: the host pages' webpack set-up (preview/host/webpack.config.mjs:
 * Grafana's shared packages, production React), with this folder's page as the entry. The stamp
 * hashes this folder's files, the host modules it imports and package-lock.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

import { hostModuleFiles, hostPageConfig } from '../../../preview/host/webpack.config.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
export const PANEL_HARNESS_DIR = here;
export const PANEL_HARNESS_BUILD_DIR = path.resolve(here, '..', '..', 'dist', 'panel-harness');
const STAMP = path.join(PANEL_HARNESS_BUILD_DIR, '.stamp');

const config = hostPageConfig({ context: here, entry: { 'panel-harness': './page.js' }, outputPath: PANEL_HARNESS_BUILD_DIR, publicPath: '/harness/' });

function inputsHash() {
  const hash = createHash('sha256');
  const files = readdirSync(here)
    .filter((f) => f === 'page.js' || f === 'index.html' || f === 'build.mjs')
    .sort()
    .map((f) => path.join(here, f));
  for (const file of [...files, ...hostModuleFiles(), path.join(root, 'package-lock.json')]) hash.update(file).update(readFileSync(file));
  return hash.digest('hex');
}

/** Resolves with { built, ms }: whether webpack ran, and how long it all took. */
export async function buildPanelHarness() {
  const t0 = Date.now();
  const stamp = inputsHash();
  if (existsSync(path.join(PANEL_HARNESS_BUILD_DIR, 'panel-harness.js')) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === stamp) return { built: false, ms: Date.now() - t0 };
  await new Promise((resolve, reject) => {
    webpack(config, (err, stats) => {
      if (err) return reject(err);
      if (stats.hasErrors()) return reject(new Error(`panel harness bundle failed:\n${stats.toString({ all: false, errors: true, colors: false })}`));
      resolve();
    });
  });
  writeFileSync(STAMP, stamp);
  return { built: true, ms: Date.now() - t0 };
}
