/**
 * Builds the harness bundle (browser-tests/dist/harness/harness.js: this folder's page.js with the
 * host modules of preview/host/) unless an identical build is already there (./stamped-build.mjs).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildStamped } from './stamped-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// Under a dist/ folder: ignored by git and by the root eslint config, like the plugins' build.
const BUILD_DIR = path.resolve(here, '..', 'dist', 'harness');

/** Resolves with { built, ms }: whether webpack ran, and how long it all took. */
export function buildHarness() {
  const pageFiles = readdirSync(here)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(here, f));
  return buildStamped({ name: 'harness', context: here, outputPath: BUILD_DIR, pageFiles });
}

export const HARNESS_BUILD_DIR = BUILD_DIR;
export const HARNESS_DIR = here;
