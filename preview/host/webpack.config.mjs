/**
 * Bundles a host page (the service-map preview, the harness pages of the browser tests): the
 * packages Grafana shares with plugins (real @grafana/data, @grafana/ui, react, react-dom, rxjs,
 * lodash, @emotion/*), the host's @grafana/runtime, the AMD loader and the page logic. The
 * plugins are NOT bundled: the page loads the built dist/ modules at run time, as Grafana does.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// The CommonJS builds of Grafana's packages: their per-file ESM builds as published (12.0.x) have
// modules whose exports rollup dropped (Combobox/filter.mjs…), which webpack rejects.
const GRAFANA_PACKAGES = ['@grafana/data', '@grafana/ui', '@grafana/schema', '@grafana/e2e-selectors'];
const alias = Object.fromEntries(GRAFANA_PACKAGES.map((name) => [`${name}$`, require.resolve(name)]));

/** This folder's files, which every host page bundles: the inputs of the pages' build stamps. */
export const hostModuleFiles = () =>
  readdirSync(here)
    .filter((f) => f.endsWith('.js') || f.endsWith('.mjs'))
    .sort()
    .map((f) => path.join(here, f));

const base = {
  // Not minified, no source maps: a short build; the page comes from the agent, not from a CDN.
  mode: 'development',
  devtool: false,
  output: { filename: '[name].js', chunkFilename: '[name].chunk.js', clean: true },
  // React and friends in their production builds, as Grafana ships them.
  optimization: { nodeEnv: 'production', splitChunks: false },
  module: {
    rules: [
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(ttf|woff2?|eot|svg|png)$/, type: 'asset/resource' },
    ],
  },
  resolve: { extensions: ['.js', '.mjs', '.json'], alias },
  performance: { hints: false },
  infrastructureLogging: { level: 'error' },
  stats: 'errors-warnings',
};

/** One host page's bundle: its entry, its build folder (under a dist/ folder: ignored by git and eslint), its URL path. */
export function hostPageConfig({ context, entry, outputPath, publicPath, plugins = [] }) {
  return { ...base, context, entry, output: { ...base.output, path: outputPath, publicPath }, plugins };
}
