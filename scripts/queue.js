#!/usr/bin/env node
// `npm run queue -- list|show|retry|discard|flush|retry-failed|test|refusals|status ...` (src/tools/queue-cli.ts).
'use strict';
require('./run-tool')('queue-cli');
