#!/usr/bin/env node
// `npm run queue -- list|show|retry|discard|flush|retry-failed|test|refusals|status ...`: runs
// src/tools/queue-cli.ts through ts-node in a checkout with dev dependencies, else the compiled
// dist/src/tools/queue-cli.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'src/tools/queue-cli.ts');
let tsNode = false;
try {
  require.resolve('ts-node/register/transpile-only');
  tsNode = fs.existsSync(src);
} catch {
  tsNode = false;
}
let cli;
if (tsNode) {
  require('ts-node/register/transpile-only');
  cli = require(src);
} else {
  cli = require(path.join(root, 'dist/src/tools/queue-cli.js'));
}
cli.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`${e && e.stack}\n`); process.exitCode = 2; },
);
