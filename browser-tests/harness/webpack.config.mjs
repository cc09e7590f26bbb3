/**
 * Bundles the harness page: the packages Grafana shares with plugins (real @grafana/data,
 * @grafana/ui, react, react-dom, rxjs, lodash, @emotion/*), the harness's @grafana/runtime, the
 * AMD loader and the page logic. The plugin itself is NOT bundled: the page loads the built
 * dist/datasource/module.js at run time, as Grafana does.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// The CommonJS builds of Grafana's packages: their per-file ESM builds as published (12.0.x) have
// modules whose exports rollup dropped (Combobox/filter.mjs…), which webpack rejects.
const GRAFANA_PACKAGES = ['@grafana/data', '@grafana/ui', '@grafana/schema', '@grafana/e2e-selectors'];
const alias = Object.fromEntries(GRAFANA_PACKAGES.map((name) => [`${name}$`, require.resolve(name)]));
// Under a dist/ folder: ignored by git and by the root eslint config, like the plugins' build.
export const BUILD_DIR = path.resolve(here, '..', 'dist', 'harness');

export default {
  mode: 'development',
  devtool: false,
  context: here,
  entry: { harness: './page.js' },
  output: { path: BUILD_DIR, filename: '[name].js', chunkFilename: '[name].chunk.js', publicPath: '/harness/', clean: true },
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
