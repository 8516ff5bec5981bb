import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as pg from 'pg';
import { sharedPostgres } from './postgres';

/** The PostgreSQL schema the plugin uses by default (schemas/config.schema.json, spool.postgres.schema). */
const PG_SCHEMA = 'pbx_email_notify';

/**
 * One of the two spool stores (issue 13), for tests that run against both. A test merges
 * spoolConfig() into its config's `spool` key; within one test every call answers the same store
 * (for postgres: the same database), so a restart on "the same node" (deactivate, activate on the
 * same dataDir) reuses it, as a restarted node of a cluster would.
 */
export interface StoreCase {
  readonly name: 'sqlite' | 'postgres';
  /**
   * sqlite: `{}` (the default store, in `<dataDir>/spool.db`). postgres: `{ store: 'postgres',
   * postgres: { connectionString, leaseMs: 2000 } }` on a database made for this test (on the
   * first call in it) and dropped after it.
   */
  spoolConfig(): Promise<Record<string, unknown>>;
  /** `config` with spoolConfig() merged into its `spool` key (the config's own spool settings win). */
  configure<T extends object>(config: T): Promise<T>;
  /**
   * The directories (by name) of the attachment copies the store holds, sorted: sqlite the entries
   * of `<dataDir>/files`; postgres the `files_dir` keys of `attachment_files` (the attachments live
   * in the database; `<dataDir>/files` is only this node's cache).
   */
  storedDirs(dataDir: string): Promise<string[]>;
  /** The names of the copies stored in one directory (as storedDirs() names it), sorted. */
  storedNames(dataDir: string, dir: string): Promise<string[]>;
  /** The bytes of one stored copy (`dir` as storedDirs() names it, `name` such as `recording`). */
  storedFile(dataDir: string, dir: string, name: string): Promise<Buffer>;
  /**
   * Rows of a read-only query on the spool's tables (`?` placeholders; postgres with the plugin's
   * schema on the search path). sqlite opens `<dataDir>/spool.db` read-only for the one query.
   */
  rows<T = Record<string, unknown>>(dataDir: string, sql: string, params?: unknown[]): Promise<T[]>;
}

async function configure<T extends object>(store: StoreCase, config: T): Promise<T> {
  const own = (config as { spool?: Record<string, unknown> }).spool;
  return { ...config, spool: { ...(await store.spoolConfig()), ...own } };
}

class SqliteCase implements StoreCase {
  readonly name = 'sqlite' as const;
  async spoolConfig(): Promise<Record<string, unknown>> {
    return {};
  }
  configure<T extends object>(config: T): Promise<T> {
    return configure(this, config);
  }
  async storedDirs(dataDir: string): Promise<string[]> {
    return fs.readdirSync(path.join(dataDir, 'files')).sort();
  }
  async storedNames(dataDir: string, dir: string): Promise<string[]> {
    return fs.readdirSync(path.join(dataDir, 'files', dir)).sort();
  }
  async storedFile(dataDir: string, dir: string, name: string): Promise<Buffer> {
    return fs.readFileSync(path.join(dataDir, 'files', dir, name));
  }
  async rows<T>(dataDir: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const db = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }
}

class PostgresCase implements StoreCase {
  readonly name = 'postgres' as const;
  #db: Promise<{ url: string; name: string }> | undefined;

  spoolConfig(): Promise<Record<string, unknown>> {
    this.#db ??= (async () => {
      const url = await (await sharedPostgres()).createDatabase();
      return { url, name: decodeURIComponent(new URL(url).pathname.slice(1)) };
    })();
    return this.#db.then(({ url }) => ({ store: 'postgres', postgres: { connectionString: url, leaseMs: 2000 } }));
  }

  configure<T extends object>(config: T): Promise<T> {
    return configure(this, config);
  }

  /** Drops this test's database, if it made one (afterEach, once the test's own hooks have stopped its plugins). */
  async reset(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (!db) return;
    const { name } = await db;
    await (await sharedPostgres()).dropDatabase(name);
  }

  async #query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (!this.#db) throw new Error('StoreCase(postgres): no database yet in this test (call spoolConfig() first)');
    const c = new pg.Client({ connectionString: (await this.#db).url });
    c.on('error', () => {});
    await c.connect();
    try {
      await c.query(`SET search_path TO ${PG_SCHEMA}`);
      let n = 0;
      return (await c.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
    } finally {
      await c.end().catch(() => {});
    }
  }

  async storedDirs(): Promise<string[]> {
    return (await this.#query<{ files_dir: string }>('SELECT DISTINCT files_dir FROM attachment_files ORDER BY files_dir')).map((r) => r.files_dir);
  }

  async storedNames(_dataDir: string, dir: string): Promise<string[]> {
    return (await this.#query<{ name: string }>('SELECT name FROM attachment_files WHERE files_dir = ? ORDER BY name', [dir])).map((r) => r.name);
  }

  async storedFile(_dataDir: string, dir: string, name: string): Promise<Buffer> {
    const chunks = await this.#query<{ data: Buffer }>('SELECT data FROM attachment_chunks WHERE files_dir = ? AND name = ? ORDER BY n', [dir, name]);
    const file = await this.#query<{ size: string }>('SELECT size FROM attachment_files WHERE files_dir = ? AND name = ?', [dir, name]);
    if (file.length !== 1) throw new Error(`StoreCase(postgres): no stored copy ${dir}/${name}`);
    return Buffer.concat(chunks.map((c) => c.data));
  }

  rows<T>(_dataDir: string, sql: string, params: unknown[] = []): Promise<T[]> {
    return this.#query<T>(sql, params);
  }
}

/**
 * Declares `describe(`${title} [sqlite]`)` and `describe(`${title} [postgres]`)`, each calling `fn`
 * with its store (and the suite as `this`, for this.timeout()), so one set of test bodies runs
 * against both spools and a failure names its store. The postgres database of each test is dropped
 * after the hooks `fn` declared (which stop the test's plugins).
 * @example
 * describeStores('spool: resume', function (store) {
 *   it('…', async () => {
 *     const config = tenantConfig(ca, servers, { spool: { ...(await store.spoolConfig()), retainDeliveredMs: 0 } });
 *   });
 * });
 */
export function describeStores(title: string, fn: (this: Mocha.Suite, store: StoreCase) => void): void {
  for (const store of [new SqliteCase(), new PostgresCase()]) {
    describe(`${title} [${store.name}]`, function () {
      fn.call(this, store);
      if (store instanceof PostgresCase) afterEach(() => store.reset());
    });
  }
}

/**
 * `it` for the sqlite run only; the postgres run declares nothing. For a case whose postgres
 * variant adds little over the others (store-independent, or covered by a sibling), left out to
 * keep `npm test` within its time budget: say so where it is used.
 */
export function sqliteOnly(store: StoreCase): (title: string, fn: Mocha.AsyncFunc) => void {
  return store.name === 'sqlite' ? (title, fn) => void it(title, fn) : () => undefined;
}
