import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { waitFor } from './wait';

/**
 * A real PostgreSQL server for tests (issue 13): Debian's `postgresql` binaries, a fresh cluster in
 * a temporary directory, run as an unprivileged user (`postgres` when the test process is root,
 * since the server refuses to run as root; the current user otherwise), scram-sha-256 with a
 * generated superuser and password, TCP on 127.0.0.1 only, fsync on.
 */
export interface TestPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The generated superuser. */
  readonly user: string;
  /** Its generated password: every connection string carries it. */
  readonly password: string;
  /** The temporary directory holding the cluster (`data/`) and the unix socket (`sock/`). */
  readonly dir: string;
  /** The postmaster's pid (changes on restart()). */
  readonly pid: number;
  /** postgresql://user:password@127.0.0.1:port/database (default database `postgres`). */
  url(database?: string): string;
  /** Creates a database (a random `t_…` name by default) and resolves with its connection string. */
  createDatabase(name?: string): Promise<string>;
  /** Drops a database, terminating its connections first (DROP DATABASE … WITH (FORCE)). */
  dropDatabase(name: string): Promise<void>;
  /**
   * Terminates every backend connected to `database` other than the one asking
   * (`pg_terminate_backend`): the "database connection lost" of the spool tests. Resolves with
   * how many were terminated.
   */
  terminateBackends(database: string): Promise<number>;
  /** Last lines the server wrote to stderr, for assertion messages. */
  log(): string;
  /** Fast shutdown (SIGINT), waited for with a deadline, then removes the directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * SIGKILLs the postmaster and its backends at once, synchronously: a crashed database server.
   * The data directory stays, so restart() can bring it back (with crash recovery).
   */
  kill(): void;
  /** Starts the server again on the same directory and port (after kill(), or shuts it down first). */
  restart(): Promise<void>;
}

export interface StartPostgresOptions {
  /** How long to wait for initdb and for the server to accept connections. @default 60_000 */
  timeoutMs?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

/** PG_BIN, else the newest Debian `postgresql` server binaries (/usr/lib/postgresql/<major>/bin). */
function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = (fs.existsSync(root) ? fs.readdirSync(root) : [])
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  if (!majors[0]) throw new Error(`no PostgreSQL server binaries under ${root}/<major>/bin: apt-get install postgresql, or set PG_BIN`);
  return path.join(root, majors[0], 'bin');
}
const LOG_KEEP = 64 * 1024; // characters of server stderr kept for error messages

interface RunAs {
  uid: number;
  gid: number;
}

/** The `postgres` system user when we are root (the server refuses root), nobody to switch to otherwise. */
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no `postgres` user in /etc/passwd to run PostgreSQL as (apt-get install postgresql)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function childEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
}

function run(cmd: string, args: string[], cwd: string, as: RunAs | undefined, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(path.join(binDir(), cmd), args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, ...as });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${out}`)),
    );
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by us) still answers kill(0): look at its state where we can.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return !fs.existsSync('/proc/self');
  }
}

/** The direct children of `pid` (the postmaster's backends and auxiliary processes), from /proc. */
function childrenOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function sigkillTree(pid: number): void {
  const children = childrenOf(pid);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * A watchdog for a test process killed outright (SIGKILL, a crashed mocha worker), where no exit
 * handler runs: it waits for its stdin to close, which happens however the test process ends, then
 * SIGKILLs the postmaster named in postmaster.pid (only if its command line names this data
 * directory) with its children, and removes the directory.
 */
const WATCHDOG = `
const fs = require('fs');
const [dir] = process.argv.slice(1);
const data = dir + '/data';
function children(pid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync('/proc/' + e + '/stat', 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {}
  }
  return out;
}
function cleanup() {
  try {
    const pid = Number(fs.readFileSync(data + '/postmaster.pid', 'utf8').split('\\n')[0]);
    const cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8');
    if (pid > 1 && cmd.includes(data)) for (const p of [pid, ...children(pid)]) try { process.kill(p, 'SIGKILL'); } catch {}
  } catch {}
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.stdin.on('end', cleanup).on('close', cleanup).on('error', cleanup).resume();
`;

function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

class Server implements TestPostgres {
  readonly host = '127.0.0.1' as const;
  readonly user = `pbx_test_${randomBytes(4).toString('hex')}`;
  readonly password = randomBytes(18).toString('base64url');
  readonly dir: string;
  port = 0;
  #as: RunAs | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';
  #timeoutMs: number;
  #settings: Record<string, string | number>;
  #stopped = false;
  #watchdog: ChildProcess | undefined;

  constructor(dir: string, as: RunAs | undefined, o: StartPostgresOptions) {
    this.dir = dir;
    this.#as = as;
    this.#timeoutMs = o.timeoutMs ?? 60_000;
    this.#settings = o.settings ?? {};
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  async init(): Promise<void> {
    const w = spawn(process.execPath, ['-e', WATCHDOG, this.dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: {} });
    w.unref();
    (w.stdin as unknown as { unref?: () => void }).unref?.();
    w.stdin!.on('error', () => {});
    this.#watchdog = w;
    if (this.#as) fs.chownSync(this.dir, this.#as.uid, this.#as.gid);
    const pwfile = path.join(this.dir, 'pw');
    fs.writeFileSync(pwfile, `${this.password}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(this.dir, 'sock'), { mode: 0o700 });
    if (this.#as) for (const p of [pwfile, path.join(this.dir, 'sock')]) fs.chownSync(p, this.#as.uid, this.#as.gid);
    // --no-sync only skips initdb's final flush of a throwaway cluster; the server runs with fsync on.
    await run(
      'initdb',
      ['-D', path.join(this.dir, 'data'), '-U', this.user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      this.dir,
      this.#as,
      this.#timeoutMs,
    );
    fs.rmSync(pwfile);
  }

  async start(port?: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.port = port ?? (await freePort());
      try {
        await this.#spawn();
        return;
      } catch (e) {
        // Another process may take the free port between our probe and the server's bind.
        if (port !== undefined || attempt >= 3 || !/could not bind|could not create any TCP\/IP sockets/.test(this.#log)) throw e;
      }
    }
  }

  async #spawn(): Promise<void> {
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port: this.port,
      unix_socket_directories: path.join(this.dir, 'sock'),
      shared_buffers: '16MB',
      max_connections: 200, // several plugin instances with their pools, in cluster tests
      logging_collector: 'off',
      log_min_messages: 'warning',
      ...this.#settings,
    };
    const args = ['-D', path.join(this.dir, 'data')];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const child = spawn(path.join(binDir(), 'postgres'), args, { cwd: this.dir, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'], ...this.#as });
    this.#child = child;
    // The shared server lives as long as the test process; it must not keep that process alive.
    child.unref();
    child.stderr!.on('data', (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-LOG_KEEP);
    });
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    let exitedWith: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitedWith = String(code ?? signal);
        resolve();
      });
      child.once('error', (e) => {
        exitedWith = e.message;
        resolve();
      });
    });
    await waitFor(
      async () => {
        if (exitedWith !== undefined) throw new Error(`postgres exited with ${exitedWith} before accepting connections:\n${this.#log}`);
        return this.#ping();
      },
      { what: `PostgreSQL accepting connections on 127.0.0.1:${this.port}`, timeoutMs: this.#timeoutMs, intervalMs: 50, detail: () => this.#log.slice(-2000) },
    );
  }

  async #ping(): Promise<boolean> {
    const c = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => {});
    }
  }

  url(database = 'postgres'): string {
    return `postgresql://${this.user}:${encodeURIComponent(this.password)}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  async #admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: this.url() });
    c.on('error', () => {});
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  async createDatabase(name = `t_${randomBytes(6).toString('hex')}`): Promise<string> {
    await this.#admin((c) => c.query(`CREATE DATABASE ${ident(name)}`));
    return this.url(name);
  }

  async dropDatabase(name: string): Promise<void> {
    await this.#admin((c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
  }

  async terminateBackends(database: string): Promise<number> {
    const r = await this.#admin((c) =>
      c.query<{ n: number }>(
        'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      ),
    );
    return r.rows[0]!.n;
  }

  log(): string {
    return this.#log;
  }

  kill(): void {
    const pid = this.#child?.pid;
    if (pid && alive(pid)) sigkillTree(pid);
  }

  async #shutdown(): Promise<void> {
    const child = this.#child;
    if (!child?.pid || !alive(child.pid)) return;
    child.kill('SIGINT'); // fast shutdown: disconnects clients, checkpoints, exits
    let t: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (t = setTimeout(() => r('late'), this.#timeoutMs)));
    const r = await Promise.race([this.#exited, late]);
    clearTimeout(t);
    if (r === 'late') {
      sigkillTree(child.pid);
      await this.#exited;
    }
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error('restart() after stop(): the directory is gone');
    await this.#shutdown();
    await this.#exited;
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#shutdown();
    this.removeDir();
    live.delete(this);
  }

  /** Synchronous last-resort cleanup, for process exit. */
  killAndRemove(): void {
    this.#stopped = true;
    this.kill();
    this.removeDir();
  }

  removeDir(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    // Nothing left to watch: its cleanup finds no directory and exits.
    this.#watchdog?.stdin?.destroy();
    this.#watchdog = undefined;
  }
}

const live = new Set<Server>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const cleanup = (): void => {
    for (const s of live) s.killAndRemove();
    live.clear();
  };
  process.on('exit', cleanup);
  // A signal skips 'exit' handlers: clean up, then die of the same signal as before.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanup();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

/**
 * Starts a fresh PostgreSQL server. stop() it when done; a server still running when the process
 * exits is killed and its directory removed.
 * @example
 * const pg = await startPostgres();
 * const url = await pg.createDatabase();
 * // … new pg.Client({ connectionString: url }) …
 * await pg.stop();
 */
export async function startPostgres(o: StartPostgresOptions = {}): Promise<TestPostgres> {
  hookExit();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-pg-'));
  const s = new Server(dir, runAs(), o);
  live.add(s);
  try {
    await s.init();
    await s.start();
  } catch (e) {
    s.killAndRemove();
    live.delete(s);
    throw e;
  }
  return s;
}

let shared: Promise<TestPostgres> | undefined;

/**
 * One server for the whole test process, started on first use (mocha --parallel runs each file in a
 * worker process, and the files of a worker share it) and killed when the process exits. Tests
 * must not stop() or kill() it; each takes its own database with createDatabase().
 * @example const url = await (await sharedPostgres()).createDatabase();
 */
export function sharedPostgres(): Promise<TestPostgres> {
  shared ??= startPostgres().catch((e: unknown) => {
    shared = undefined;
    throw e;
  });
  return shared;
}
