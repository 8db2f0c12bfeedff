#!/usr/bin/env node
// The `rollout` command. The engine is TypeScript run through tsx's CommonJS loader, so a clone works
// without a build step; see README "CLI reference".
require('tsx/cjs');
require('../cli/main.ts').runCli(process.argv);
