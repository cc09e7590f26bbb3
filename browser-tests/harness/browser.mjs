/**
 * The browser side the browser tests and the service-map bench set up alike: Debian's Chromium
 * driven by playwright-core (which downloads no browser of its own), one page whose errors are
 * collected for the tests' last "no errors in the page" check, the page's boot waited for, and the
 * bookkeeping around it: timed steps, cleanups, the summary printed at the end.
 */
/* global process, setTimeout, clearTimeout, window -- node, and page functions that run in the browser */
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The `requireFiles()` entry for Chromium: says how to get it when it is missing. */
export const CHROMIUM_REQUIREMENT = ['Chromium (apt-get install chromium, or set CHROMIUM_PATH)', CHROMIUM];

/**
 * Headless without sandbox or GPU (containers, CI), and none of the traffic Chromium starts on its
 * own (QUIC, background networking, component updates, sync, first-run): the only requests are
 * the page's, which the tests check never leave the origin under test.
 */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Chromium with its profile in `profileDir` (the caller's temporary directory: it removes it) and
 * the one page of that context. `consoleErrors` collects what the page logs as errors and its
 * uncaught exceptions (`pageerror: …`), the latter also alone in `pageErrors`. The caller closes
 * `context`.
 */
export async function launchChromium({ profileDir, viewport }) {
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport, timeout: 30_000 });
  const page = context.pages()[0] ?? (await context.newPage());
  // A step that hangs fails in 15 s, with its own message, well inside the tests' timeouts.
  page.setDefaultTimeout(15_000);
  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => {
    pageErrors.push(e.message);
    consoleErrors.push(`pageerror: ${e.message}`);
  });
  return { context, page, consoleErrors, pageErrors };
}

/**
 * Opens `url` and waits until the page's boot object (`window.harness` of the harness pages,
 * `window.preview` of the preview) is ready or has failed; resolves with its boot error, undefined
 * when the page started.
 */
export async function openPage(page, url, global = 'harness') {
  await page.goto(url);
  await page.waitForFunction((name) => window[name] && (window[name].ready || window[name].bootError), global, { timeout: 30_000 });
  return page.evaluate((name) => window[name].bootError, global);
}

/** `timed(name, fn)` for `timings`: awaits fn() and records its milliseconds, also when it throws. */
export function timer(timings) {
  return async (name, fn) => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - t0;
    }
  };
}

/**
 * Runs and empties `cleanups`, the last pushed first (the browser before the server it talks to).
 * One that fails is reported on stderr and one that hangs is left after `graceMs`, so that the
 * others still run; the grace timer is cleared, not to hold the process open once all are done.
 */
export async function runCleanups(cleanups, graceMs = 10_000) {
  while (cleanups.length) {
    const fn = cleanups.pop();
    let grace;
    try {
      await Promise.race([fn(), new Promise((r) => (grace = setTimeout(r, graceMs)))]);
    } catch (e) {
      process.stderr.write(`cleanup: ${e instanceof Error ? e.message : e}\n`);
    } finally {
      clearTimeout(grace);
    }
  }
}

/** What a test prints after its checks: a line per result, then how long each step took. */
export function summary(title, results, timings) {
  const total = Object.entries(timings)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
    .join(', ');
  return `\n${title} summary:\n  ${results.join('\n  ')}\n  timings: ${total}`;
}
