/**
 * The built pieces the preview serves, all from the repository's dist/: the page (dist/preview/,
 * `npm run build:preview`) and the plugins it loads (dist/datasource/ and dist/panels/service-map/,
 * `npm run build:plugins`), each plugin known by the id in its built plugin.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** dist/ of the repository this agent was built in (agent/dist/preview/ → ../../../dist). */
export const DEFAULT_DIST_DIR = path.resolve(__dirname, '..', '..', '..', 'dist');

/** What to do about a missing or partial build. */
export const BUILD_HINT = 'run `npm run build` at the repository root';

/** The part of a plugin.json the preview reads. */
export interface PluginJson {
  id: string;
  type: string;
  name: string;
  info: { version: string; [key: string]: unknown };
  routes?: Array<{ path: string; method?: string; url: string; headers?: Array<{ name: string; content: string }> }>;
  [key: string]: unknown;
}

export interface BuiltPlugin {
  id: string;
  dir: string;
  json: PluginJson;
}

export interface PreviewBuild {
  /** dist/preview: index.html, the bundle and its chunks. */
  pageDir: string;
  datasource: BuiltPlugin;
  panels: BuiltPlugin[];
}

function readPlugin(dir: string): BuiltPlugin {
  const json = JSON.parse(readFileSync(path.join(dir, 'plugin.json'), 'utf8')) as PluginJson;
  return { id: json.id, dir, json };
}

/** Finds the build under `distDir`; throws an Error whose message says what is missing and what to do. */
export function locatePreviewBuild(distDir: string): PreviewBuild {
  const pageDir = path.join(distDir, 'preview');
  const datasourceDir = path.join(distDir, 'datasource');
  const panelDir = path.join(distDir, 'panels', 'service-map');
  const required = [path.join(pageDir, 'index.html'), path.join(datasourceDir, 'module.js'), path.join(datasourceDir, 'plugin.json'), path.join(panelDir, 'module.js'), path.join(panelDir, 'plugin.json')];
  const missing = required.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`the service-map preview is not built (missing ${missing.join(', ')}): ${BUILD_HINT}`);
  return { pageDir, datasource: readPlugin(datasourceDir), panels: [readPlugin(panelDir)] };
}

/** What is wrong with the build under `distDir`, if anything, and what to run. */
export function previewBuildProblem(distDir: string): string | undefined {
  try {
    locatePreviewBuild(distDir);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
