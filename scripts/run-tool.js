'use strict';
// Runs one of src/tools/<name>.ts through ts-node in a checkout with dev dependencies, else the
// compiled dist/src/tools/<name>.js, with the command-line arguments; its main() resolves to the
// exit code. Used by scripts/templates.js and scripts/queue.js.
const fs = require('node:fs');
const path = require('node:path');

module.exports = function runTool(name) {
  const root = path.join(__dirname, '..');
  const src = path.join(root, 'src/tools', `${name}.ts`);
  let tsNode = false;
  try {
    require.resolve('ts-node/register/transpile-only');
    tsNode = fs.existsSync(src);
  } catch {
    tsNode = false;
  }
  if (tsNode) require('ts-node/register/transpile-only');
  const cli = require(tsNode ? src : path.join(root, 'dist/src/tools', `${name}.js`));
  cli.main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`${e && e.stack}\n`); process.exitCode = 2; },
  );
};
