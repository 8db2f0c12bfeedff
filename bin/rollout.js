#!/usr/bin/env node
// The `rollout` command: the compiled CLI in dist/ (`npm run build`), plain Node, no loader. See README "The build".
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(`rollout: the compiled build is missing (${main}): run \`npm run build\` first\n`);
  process.exit(1);
}
require(main).runCli(process.argv);
