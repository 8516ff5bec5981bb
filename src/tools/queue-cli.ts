import * as fs from 'node:fs';
import { TOKEN_ENV } from '../host/http-token';
import { isPostgresUrl } from '../security';
import { CommandError, HttpQueueSource, type QueueSource } from './queue-client';
import { formatMessage, formatMessages, formatMigration, formatRefusals, formatStatus, formatSummary, formatTestSend } from './queue-format';

export const DEFAULT_URL = 'http://127.0.0.1:8787';
/** migrate-spool reads the database's connection string from here when --to is not given (it stays out of shell history). */
export const PG_URL_ENV = 'PBX_NOTIFY_PG_URL';
/** As the config validates spool.postgres.schema. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const USAGE = `usage: npm run queue -- COMMAND [ARGS] [--json] [--url URL | --data DIR] [--token-file FILE]

  list [--tenant T] [--state S] [--limit N] [--before ISO]   messages, newest first
  show T ID                                                  one message with its whole delivery log
  retry T ID                                                 attempt now (a failed one is revived: its failed recipients again)
  discard T ID                                               give up: reported email.failed with DISCARDED, kept as a dead letter
  flush T                                                    end T's hold, probe its server at once, retry all its deferred mail
  retry-failed T --since ISO                                 retry every failed message of T settled since ISO
  test T --to ADDR [--event TYPE]                            send a sample mail through T's real settings (default: a voicemail)
  refusals [--tenant T] [--limit N]                          events refused at intake, with code and field
  status                                                     every tenant: held or not, depth by state, last success and failure
  migrate-spool --data DIR --to URL [--schema NAME]          copy a stopped host's SQLite spool, every message in every state with
                                                             its log and attachments, into the cluster's PostgreSQL spool; run
                                                             again after an interruption, it copies only what is missing
                                                             (--to: else $${PG_URL_ENV}; --schema: spool.postgres.schema, default
                                                             as in the config)

--url URL         a running host (default ${DEFAULT_URL}); the token from --token-file FILE, else $${TOKEN_ENV}
--data DIR        a stopped host's data directory, read directly and read-only (list, show, refusals, status, migrate-spool)
--json            JSON on stdout instead of a table (errors as JSON on stderr)
Exit status: 0 done, 1 refused or failed (the error's code on stderr), 2 usage (CLI_USAGE).`;

/** Commands that change nothing, and so may read a stopped host's spool. */
const READ_ONLY = new Set(['list', 'show', 'refusals', 'status']);

interface Command {
  positional: string[];
  flags: string[];
}

const COMMANDS: Record<string, Command> = {
  list: { positional: [], flags: ['tenant', 'state', 'limit', 'before'] },
  show: { positional: ['tenant', 'event id'], flags: [] },
  retry: { positional: ['tenant', 'event id'], flags: [] },
  discard: { positional: ['tenant', 'event id'], flags: [] },
  flush: { positional: ['tenant'], flags: [] },
  'retry-failed': { positional: ['tenant'], flags: ['since'] },
  test: { positional: ['tenant'], flags: ['to', 'event'] },
  refusals: { positional: [], flags: ['tenant', 'limit'] },
  status: { positional: [], flags: [] },
  'migrate-spool': { positional: [], flags: ['to', 'schema'] },
};
/** Commands that read a stopped host's spool (--data) and write elsewhere: never a running host's. */
const MIGRATE = 'migrate-spool';
const GLOBAL_FLAGS = ['url', 'data', 'token-file', 'ca'];
const SWITCHES = ['json', 'help'];

interface Parsed {
  command: string;
  args: string[];
  flags: Map<string, string>;
  json: boolean;
}

const usage = (message: string, field?: string) => new CommandError('CLI_USAGE', message, { ...(field !== undefined && { field }) });

function parse(argv: string[]): Parsed | 'help' {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (SWITCHES.includes(name)) {
      if (eq >= 0) throw usage(`--${name} takes no value`, `--${name}`);
      if (name === 'json') json = true;
      else help = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw usage(`--${name} needs a value`, `--${name}`);
    if (flags.has(name)) throw usage(`--${name} given twice`, `--${name}`);
    flags.set(name, value);
  }
  if (help) return 'help';
  const [command, ...args] = positional;
  if (command === undefined) throw usage('no command given');
  const spec = COMMANDS[command];
  if (!spec) throw usage(`unknown command ${JSON.stringify(command)}: expected one of ${Object.keys(COMMANDS).join(', ')}`, 'command');
  for (const name of flags.keys()) {
    if (!spec.flags.includes(name) && !GLOBAL_FLAGS.includes(name)) throw usage(`${command} takes no --${name}${spec.flags.length ? ` (it takes ${spec.flags.map((f) => `--${f}`).join(', ')})` : ''}`, `--${name}`);
  }
  if (args.length !== spec.positional.length) {
    throw usage(`${command} takes ${spec.positional.length ? spec.positional.join(' and ') : 'no arguments'}, got ${args.length ? args.map((x) => JSON.stringify(x)).join(' ') : 'none'}`, spec.positional[args.length] ?? 'arguments');
  }
  if (flags.has('url') && flags.has('data')) throw usage('--url and --data exclude each other: a running host, or a stopped one\'s spool', '--data');
  if (command === MIGRATE) {
    if (flags.has('url')) throw usage(`${MIGRATE} reads a stopped host's spool: give its --data DIR, not --url`, '--url');
    if (!flags.has('data')) throw usage(`${MIGRATE} needs --data DIR, the stopped host's data directory`, '--data');
    for (const f of ['token-file', 'ca']) if (flags.has(f)) throw usage(`${MIGRATE} takes no --${f} (it takes --data, --to, --schema)`, `--${f}`);
  } else if (flags.has('data') && !READ_ONLY.has(command)) throw usage(`${command} changes the queue: it needs the running host (--url); --data is for ${[...READ_ONLY].join(', ')}`, '--data');
  return { command, args, flags, json };
}

function intFlag(flags: Map<string, string>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (!/^\d{1,7}$/.test(v)) throw usage(`--${name}: expected a whole number, got ${JSON.stringify(v)}`, `--${name}`);
  return Number(v);
}

function token(flags: Map<string, string>, env: NodeJS.ProcessEnv): string | undefined {
  const file = flags.get('token-file');
  if (file !== undefined) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw usage(`--token-file: cannot read ${file}: ${(e as Error).message}`, '--token-file');
    }
  }
  const t = env[TOKEN_ENV]?.trim();
  return t ? t : undefined;
}

/** Opens a stopped host's spool read-only; loaded only for --data, so HTTP commands start fast. */
async function offline(dir: string): Promise<QueueSource> {
  const { OfflineQueueSource } = await import('./queue-offline');
  return OfflineQueueSource.open(dir);
}

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Runs one queue command; resolves with the exit status. */
export async function main(argv: string[], io: CliIo = { out: process.stdout, err: process.stderr, env: process.env }): Promise<number> {
  let json = argv.includes('--json');
  let source: QueueSource | undefined;
  try {
    const p = parse(argv);
    if (p === 'help') {
      io.out.write(`${USAGE}\n`);
      return 0;
    }
    json = p.json;
    const { flags, args } = p;
    const dir = flags.get('data');
    let ca: string | undefined;
    if (flags.has('ca')) {
      try {
        ca = fs.readFileSync(flags.get('ca')!, 'utf8');
      } catch (e) {
        throw usage(`--ca: cannot read ${flags.get('ca')}: ${(e as Error).message}`, '--ca');
      }
    }
    if (p.command === MIGRATE) return await migrate(dir!, flags, io, json);
    const tok = dir === undefined ? token(flags, io.env) : undefined;
    source = dir !== undefined ? await offline(dir) : new HttpQueueSource({ url: flags.get('url') ?? DEFAULT_URL, ...(tok !== undefined && { token: tok }), ...(ca !== undefined && { ca }) });
    const print = (value: unknown, table: () => string) => io.out.write(`${json ? JSON.stringify(value, null, 2) : table()}\n`);
    const [tenant, eventId] = args as [string, string];
    switch (p.command) {
      case 'list': {
        const state = flags.get('state');
        const limit = intFlag(flags, 'limit');
        const list = await source.messages({
          ...(flags.has('tenant') && { tenant: flags.get('tenant')! }),
          ...(state !== undefined && { state: state as never }),
          ...(limit !== undefined && { limit }),
          ...(flags.has('before') && { before: flags.get('before')! }),
        });
        print(json ? { messages: list } : list, () => formatMessages(list));
        return 0;
      }
      case 'show': {
        const m = await source.message(tenant, eventId);
        print(m, () => formatMessage(m));
        return 0;
      }
      case 'retry': {
        const m = await source.retry(tenant, eventId);
        print(m, () => formatSummary('retried', m));
        return 0;
      }
      case 'discard': {
        const m = await source.discard(tenant, eventId);
        print(m, () => formatSummary('discarded', m));
        return 0;
      }
      case 'flush': {
        const r = await source.flush(tenant);
        print(r, () => `flushed ${r.tenant}: hold ended, ${r.retried} message${r.retried === 1 ? '' : 's'} due now`);
        return 0;
      }
      case 'retry-failed': {
        const since = flags.get('since');
        if (since === undefined) throw usage('retry-failed needs --since ISO (e.g. --since 2026-12-03T08:00:00Z)', '--since');
        const r = await source.retryFailed(tenant, since);
        print(r, () => `retried ${r.retried} failed message${r.retried === 1 ? '' : 's'} of ${r.tenant} settled since ${since}`);
        return 0;
      }
      case 'test': {
        const to = flags.get('to');
        if (to === undefined) throw usage('test needs --to ADDRESS', '--to');
        const r = await source.testSend(tenant, to, flags.get('event'));
        print(r, () => formatTestSend(r));
        return r.outcome === 'delivered' ? 0 : 1;
      }
      case 'refusals': {
        const limit = intFlag(flags, 'limit');
        const list = await source.refusals({ ...(flags.has('tenant') && { tenant: flags.get('tenant')! }), ...(limit !== undefined && { limit }) });
        print(json ? { refusals: list } : list, () => formatRefusals(list));
        return 0;
      }
      case 'status': {
        const s = await source.status();
        print(s, () => formatStatus(s));
        return 0;
      }
    }
    throw usage(`unknown command ${p.command}`);
  } catch (e) {
    const err = e instanceof CommandError ? e : isCoded(e) ? new CommandError(e.code, e.message, { ...(e.field !== undefined && { field: e.field }) }) : undefined;
    if (!err) throw e;
    io.err.write(json ? `${JSON.stringify(err.toJSON())}\n` : `${err.code}: ${err.message}${err.code === 'CLI_USAGE' ? `\n\n${USAGE}` : ''}\n`);
    return err.code === 'CLI_USAGE' ? 2 : 1;
  } finally {
    await source?.close();
  }
}

/** The database of migrate-spool: --to, else $PBX_NOTIFY_PG_URL; a postgres URL, never echoed (it holds a password). */
function pgUrl(flags: Map<string, string>, env: NodeJS.ProcessEnv): string {
  const url = flags.get('to') ?? (env[PG_URL_ENV]?.trim() || undefined);
  if (url === undefined) throw usage(`${MIGRATE} needs the database: --to URL, or $${PG_URL_ENV} (which stays out of shell history)`, '--to');
  const from = flags.has('to') ? '--to' : `$${PG_URL_ENV}`;
  if (!isPostgresUrl(url)) throw usage(`${from}: expected a postgres:// or postgresql:// URL (the value is not repeated here: it may hold a password)`, '--to');
  return url;
}

async function migrate(dataDir: string, flags: Map<string, string>, io: CliIo, json: boolean): Promise<number> {
  const connectionString = pgUrl(flags, io.env);
  const { defaultPgSchema, migrateSpool } = await import('../ops/spool-migration');
  const schema = flags.get('schema') ?? defaultPgSchema();
  if (!SCHEMA_NAME.test(schema)) throw usage(`--schema: expected a lower-case SQL identifier matching ${SCHEMA_NAME}, as spool.postgres.schema, got ${JSON.stringify(schema)}`, '--schema');
  let s;
  try {
    s = await migrateSpool({ dataDir, connectionString, schema });
  } catch (e) {
    if ((e as { code?: string }).code === 'SPOOL_LOCKED') throw new CommandError('SPOOL_LOCKED', `${(e as Error).message}; stop the host first: ${MIGRATE} copies a stopped host's spool`, { field: '--data' });
    throw e;
  }
  io.out.write(`${json ? JSON.stringify(s, null, 2) : formatMigration(s)}\n`);
  return 0;
}

function isCoded(e: unknown): e is { code: string; message: string; field?: string } {
  return e instanceof Error && e.name === 'PluginError' && typeof (e as { code?: unknown }).code === 'string';
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exitCode = 2;
    },
  );
}
