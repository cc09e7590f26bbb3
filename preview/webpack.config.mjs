/**
 * The service-map preview's bundle: dist/preview/ (preview.js, its lazy chunks, index.html), which
 * `metaflow serve --preview` serves at /preview/. Built by `npm run build` after the plugins, whose
 * build empties dist/.
 */
import CopyWebpackPlugin from 'copy-webpack-plugin';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { hostPageConfig } from './host/webpack.config.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export default hostPageConfig({
  context: here,
  entry: { preview: './page.js' },
  outputPath: path.resolve(here, '..', 'dist', 'preview'),
  publicPath: '/preview/',
  plugins: [new CopyWebpackPlugin({ patterns: [{ from: 'index.html' }] })],
});
