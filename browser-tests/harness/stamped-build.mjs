/**
 * Builds a harness page's bundle unless an identical build is already there: the stamp is a hash
 * of what goes into the bundle (the page's own files, the host modules of preview/host/ with the
 * webpack set-up, package-lock.json), so a test run rebuilds only after a change.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

import { hostModuleFiles, hostPageConfig } from '../../preview/host/webpack.config.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * @param {{ name: string, context: string, outputPath: string, pageFiles: string[] }} page
 *   `name`: the entry (and bundle file) name; `pageFiles`: the page's own inputs, absolute paths.
 * @returns {Promise<{ built: boolean, ms: number }>} whether webpack ran, and how long it all took.
 */
export async function buildStamped({ name, context, outputPath, pageFiles }) {
  const t0 = Date.now();
  const stampFile = path.join(outputPath, '.stamp');
  const hash = createHash('sha256');
  for (const file of [...[...pageFiles].sort(), ...hostModuleFiles(), path.join(root, 'package-lock.json')]) hash.update(file).update(readFileSync(file));
  const stamp = hash.digest('hex');
  if (existsSync(path.join(outputPath, `${name}.js`)) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return { built: false, ms: Date.now() - t0 };
  const config = hostPageConfig({ context, entry: { [name]: './page.js' }, outputPath, publicPath: '/harness/' });
  await new Promise((resolve, reject) => {
    webpack(config, (err, stats) => {
      if (err) return reject(err);
      if (stats.hasErrors()) return reject(new Error(`${name} bundle failed:\n${stats.toString({ all: false, errors: true, colors: false })}`));
      resolve();
    });
  });
  writeFileSync(stampFile, stamp);
  return { built: true, ms: Date.now() - t0 };
}
