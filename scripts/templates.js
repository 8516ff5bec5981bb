#!/usr/bin/env node
// `npm run templates -- check|preview ...`: runs src/tools/templates-cli.ts through ts-node in a
// checkout with dev dependencies, else the compiled dist/src/tools/templates-cli.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
let cli;
const src = path.join(root, 'src/tools/templates-cli.ts');
let tsNode = false;
try {
  require.resolve('ts-node/register/transpile-only');
  tsNode = fs.existsSync(src);
} catch {
  tsNode = false;
}
if (tsNode) {
  require('ts-node/register/transpile-only');
  cli = require(src);
} else {
  cli = require(path.join(root, 'dist/src/tools/templates-cli.js'));
}
cli.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`${e && e.stack}\n`); process.exitCode = 2; },
);
