#!/usr/bin/env node
// The `rollout` command: the compiled CLI in dist/ (`npm run build`), plain Node, no loader. See README "CLI reference".
'use strict';
let cli;
try {
  cli = require('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('rollout: the compiled build is missing (dist/cli/main.js): run `npm run build` first\n');
    process.exit(1);
  }
  throw err;
}
cli.runCli(process.argv);
