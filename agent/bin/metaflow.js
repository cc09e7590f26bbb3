#!/usr/bin/env node
// The `metaflow` command. A committed launcher, so npm links the bin at install time even
// before the TypeScript build has produced agent/dist.
'use strict';
let cli;
try {
  cli = require('../dist/cli/main.js');
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('metaflow: the agent is not built yet; run `npm run build` first\n');
    process.exit(2);
  }
  throw error;
}
cli.runCli(process.argv);
