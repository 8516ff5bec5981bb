import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { HostLog } from '../host-api';
import { jsonLog } from './json-log';
import { packageRoot } from '../util/package-root';
import { TOKEN_ENV, TOKEN_FILE_NAME, givenHttpToken, resolveHttpToken } from './http-token';
import { DEFAULT_LISTEN, isWildcard, parseListen } from './listen-address';
import { ReferenceHost } from './reference-host';

const USAGE = `usage: npm start [-- --config FILE] [--data DIR] [--listen ADDR:PORT] [--port N] [--token-file FILE]
                 [--allow-host NAME]... [--tls-cert FILE --tls-key FILE] [--no-stdin] [--verbose]

HTTP: every endpoint but GET /health needs Authorization: Bearer <token>. The token comes from
--token-file, else $${TOKEN_ENV}, else a random one kept in <data>/${TOKEN_FILE_NAME} (mode 0600).
--listen defaults to ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}; --port overrides its port.

With no --config, runs the demo: local capture SMTP servers for two tenants (one dead),
sample events, mail written under outbox/, then keeps serving HTTP events.
With --config FILE, runs the plugin for real with that configuration (SIGHUP re-reads it).`;

/** stderr carries JSON lines only: Node's own warnings and a crash are logged as such lines too. */
function jsonLinesOnly(log: HostLog): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => log.warn(w.message, { code: 'NODE_WARNING', name: w.name }));
  process.on('uncaughtException', (e) => {
    log.error('uncaught exception; exiting', { code: 'HTTP_INTERNAL', error: e?.stack ?? String(e) });
    process.exit(1);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      'allow-host': { type: 'string', multiple: true },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'no-stdin': { type: 'boolean' },
      'exit-after-demo': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(USAGE);
  const log = jsonLog({ level: values.verbose ? 'debug' : 'info' });
  jsonLinesOnly(log);
  const pluginDir = packageRoot();
  const listen = values.listen === undefined ? { ...DEFAULT_LISTEN } : parseListen(values.listen);
  if (values.port !== undefined) listen.port = Number(values.port);
  if (values['tls-cert'] === undefined !== (values['tls-key'] === undefined)) throw Object.assign(new Error('--tls-cert and --tls-key go together'), { code: 'CONFIG_INVALID' });
  const http = {
    httpPort: listen.port,
    httpHost: listen.host,
    ...(values['allow-host'] && { allowHosts: values['allow-host'] }),
    ...(values['tls-cert'] && { tls: { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']!) } }),
  };
  if (http.tls && !values.config) throw Object.assign(new Error('--tls-cert and --tls-key need --config: the demo serves plain HTTP'), { code: 'CONFIG_INVALID' });
  const scheme = http.tls ? 'https' : 'http';
  const shown = isWildcard(listen.host) ? '127.0.0.1' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const tokenOptions = { ...(values['token-file'] !== undefined && { tokenFile: values['token-file'] }), env: process.env };
  let stop: () => Promise<void>;
  let host: ReferenceHost;

  if (values.config) {
    const configFile = path.resolve(values.config);
    const dataDir = path.resolve(values.data ?? '.data/pbx-email-notify');
    const token = resolveHttpToken({ ...tokenOptions, dataDir });
    host = await ReferenceHost.start({
      pluginDir,
      config: JSON.parse(fs.readFileSync(configFile, 'utf8')),
      configFile,
      dataDir,
      ...http,
      httpToken: token.token,
      ...(!values['no-stdin'] && { input: process.stdin, output: process.stdout }),
      log,
    });
    stop = () => host.stop();
    const from = token.path ? `in ${token.path}` : `from $${TOKEN_ENV}`;
    const url = `${scheme}://${shown}:${host.httpPort}`;
    log.info(`ready: POST events to ${url}/events with Authorization: Bearer <token ${from}> (or JSON lines on stdin)`, {
      url,
      token: token.path ? { file: token.path } : { env: TOKEN_ENV },
      ops: `${url}/ops`,
    });
  } else {
    const { runDemo } = await import('./demo/demo');
    const demo = await runDemo({
      pluginDir,
      dataDir: path.resolve(values.data ?? '.data/demo'),
      outbox: path.resolve('outbox'),
      ...http,
      ...(givenHttpToken(tokenOptions) && { httpToken: givenHttpToken(tokenOptions)!.token }),
      log: values.verbose ? log : jsonLog({ level: 'error' }),
      out: process.stdout,
    });
    host = demo.host;
    stop = demo.stop;
    if (values['exit-after-demo']) return stop();
    const base = `${scheme}://${shown}:${host.httpPort}`;
    process.stdout.write(
      `\nStill serving: curl -X POST -H 'content-type: application/json' -H 'authorization: Bearer ${host.httpToken}' --data @event.json ${base}/events\n` +
        `Template preview: ${base}/preview#token=${host.httpToken}\nOperations: ${base}/ops#token=${host.httpToken}  (or: PBX_NOTIFY_TOKEN=${host.httpToken} npm run queue -- list --url ${base})\nCtrl-C to stop.\n`,
    );
  }

  process.on('SIGHUP', () => host.reloadConfig());
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal: sig });
      stop().then(
        () => process.exit(0),
        (e) => (log.error('stopping failed', { code: e?.code, error: e?.stack ?? String(e) }), process.exit(1)),
      );
    });
  }
}

// A start that fails (SPOOL_LOCKED, SPOOL_CORRUPT, CONFIG_INVALID, ...) exits 1 before the ready line, so a supervisor sees it.
main().catch((e) => {
  jsonLog({ level: 'error' }).error(`not started${e?.code ? `: ${e.code}` : ''}`, { code: e?.code ?? 'HTTP_INTERNAL', error: e?.code ? e.message : (e?.stack ?? String(e)), ...(e?.problems && { problems: e.problems }) });
  process.exit(1);
});
