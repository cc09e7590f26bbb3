/**
 * What `--preview` tells its user once the server listens: the page's URL on standard output (a
 * script may read it), and on standard error what to build first when the build is missing.
 */
import { DEFAULT_DIST_DIR, previewBuildProblem } from './preview-build';
import { PREVIEW_PATH } from './preview-routes';

export function previewUrl(apiUrl: string): string {
  return new URL(PREVIEW_PATH, apiUrl).href;
}

export function announcePreview(apiUrl: string, distDir: string = DEFAULT_DIST_DIR): void {
  const problem = previewBuildProblem(distDir);
  if (problem) process.stderr.write(`metaflow: ${problem}\n`);
  process.stdout.write(`Service map preview: ${previewUrl(apiUrl)}\n`);
}
