import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { HostLog } from '../host-api';
import { packageRoot } from '../util/package-root';
import { ReferenceHost } from './reference-host';

const USAGE = `usage: npm start [-- --config FILE] [--data DIR] [--port N] [--no-stdin] [--verbose]

With no --config, runs the demo: local capture SMTP servers for two tenants (one dead),
sample events, mail written under outbox/, then keeps serving HTTP events.
With --config FILE, runs the plugin for real with that configuration (SIGHUP re-reads it).`;

function jsonLog(minLevel: 'debug' | 'info' | 'warn' | 'error'): HostLog {
  const order = ['debug', 'info', 'warn', 'error'];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (order.indexOf(level) >= order.indexOf(minLevel)) process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      'no-stdin': { type: 'boolean' },
      'exit-after-demo': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const pluginDir = packageRoot();
  const port = values.port === undefined ? 8787 : Number(values.port);
  let stop: () => Promise<void>;
  let host: ReferenceHost;

  if (values.config) {
    const configFile = path.resolve(values.config);
    host = await ReferenceHost.start({
      pluginDir,
      config: JSON.parse(fs.readFileSync(configFile, 'utf8')),
      configFile,
      dataDir: path.resolve(values.data ?? '.data/pbx-email-notify'),
      httpPort: port,
      ...(!values['no-stdin'] && { input: process.stdin, output: process.stdout }),
      log: jsonLog(values.verbose ? 'debug' : 'info'),
    });
    stop = () => host.stop();
    process.stderr.write(`pbx-email-notify: POST events to http://127.0.0.1:${host.httpPort}/events (or JSON lines on stdin)\n`);
  } else {
    const { runDemo } = await import('./demo/demo');
    const demo = await runDemo({
      pluginDir,
      dataDir: path.resolve(values.data ?? '.data/demo'),
      outbox: path.resolve('outbox'),
      httpPort: port,
      log: jsonLog(values.verbose ? 'debug' : 'error'),
      out: process.stdout,
    });
    host = demo.host;
    stop = demo.stop;
    if (values['exit-after-demo']) return stop();
    process.stdout.write(`\nStill serving: curl -X POST -H 'content-type: application/json' --data @event.json http://127.0.0.1:${host.httpPort}/events\nCtrl-C to stop.\n`);
  }

  process.on('SIGHUP', () => host.reloadConfig());
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`pbx-email-notify: ${sig}, stopping\n`);
      stop().then(
        () => process.exit(0),
        (e) => (console.error(e), process.exit(1)),
      );
    });
  }
}

// A start that fails (SPOOL_LOCKED, SPOOL_CORRUPT, CONFIG_INVALID, ...) exits 1 before the ready line, so a supervisor sees it.
main().catch((e) => {
  console.error(e?.code ? `pbx-email-notify: not started: ${e.code}: ${e.message}` : e);
  process.exit(1);
});
