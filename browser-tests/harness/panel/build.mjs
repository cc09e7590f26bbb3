/**
 * Builds the panel harness bundle (browser-tests/dist/panel-harness/panel-harness.js: this
 * folder's page with the host modules of preview/host/) unless an identical build is there
 * (../stamped-build.mjs).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildStamped } from '../stamped-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PANEL_HARNESS_DIR = here;
export const PANEL_HARNESS_BUILD_DIR = path.resolve(here, '..', '..', 'dist', 'panel-harness');

/** Resolves with { built, ms }: whether webpack ran, and how long it all took. */
export function buildPanelHarness() {
  const pageFiles = ['page.js', 'index.html', 'build.mjs'].map((f) => path.join(here, f));
  return buildStamped({ name: 'panel-harness', context: here, outputPath: PANEL_HARNESS_BUILD_DIR, pageFiles });
}
