#!/usr/bin/env node
// `npm run templates -- check|preview ...` (src/tools/templates-cli.ts).
'use strict';
require('./run-tool')('templates-cli');
