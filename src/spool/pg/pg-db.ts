import pg from 'pg';
import { isConnectionLoss, storageError } from '../storage-error';

/** One query on one connection (a transaction's, or any of the pool's). */
export type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, args?: readonly unknown[]) => Promise<pg.QueryResult<R>>;

/** SQLSTATEs of a transaction PostgreSQL aborted so another could go on: run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const TX_TRIES = 3;

/**
 * BIGINT (epoch ms, seqs, counts) and NUMERIC (SUMs) as JavaScript numbers: every value the spool
 * stores is far below 2^53. Per pool, never pg's global parsers (other code in the process may use pg).
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** A quoted SQL identifier (the schema name is validated by the config as well; this is the belt to those braces). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The database clock in epoch ms: leases and holds never depend on a node's own clock. */
export const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * The spool's connections: a pg.Pool whose every error leaves as a coded PluginError
 * (storageError), and transactions that are retried when PostgreSQL aborted them for a deadlock or
 * a serialisation failure. A dropped idle connection is reported to `onError`, never thrown.
 */
export class PgDb {
  readonly pool: pg.Pool;
  readonly #onError: (e: Error) => void;

  constructor(o: { connectionString: string; poolSize: number; onError: (e: Error) => void }) {
    this.#onError = o.onError;
    this.pool = new pg.Pool({ connectionString: o.connectionString, max: o.poolSize, types: TYPES, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    this.pool.on('error', (e) => this.#onError(e));
  }

  /** Options for a client of its own (LISTEN) with the same parsing. */
  clientConfig(connectionString: string): pg.ClientConfig {
    return { connectionString, types: TYPES, connectionTimeoutMillis: 10_000 };
  }

  /** One statement outside a transaction (it commits on its own). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(doing: string, sql: string, args: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, args as unknown[]);
    } catch (e) {
      throw storageError(e, `spool: ${doing}`);
    }
  }

  /** `fn` in one transaction on one connection, COMMITted when it resolves; run again (up to 3 times) after a deadlock. */
  async tx<T>(doing: string, fn: (q: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(fn);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (attempt < TX_TRIES && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw storageError(e, `spool: ${doing}`);
      }
    }
  }

  /** A connection of the pool for `fn` alone, with no transaction (a cursor-like read in steps). */
  async withClient<T>(doing: string, fn: (q: Query) => Promise<T>): Promise<T> {
    try {
      return await this.#checkout(async (c) => fn((sql, args) => c.query(sql, args as unknown[])));
    } catch (e) {
      throw storageError(e, `spool: ${doing}`);
    }
  }

  async #once<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    return this.#checkout(async (c, broken) => {
      await c.query('BEGIN');
      try {
        const out = await fn((sql, args) => c.query(sql, args as unknown[]));
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch((r: Error) => broken(r));
        throw e;
      }
    });
  }

  async #checkout<T>(fn: (c: pg.PoolClient, broken: (e: Error) => void) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // A checked-out client has no pool listener: an 'error' event with none would crash the process.
    let broken: Error | undefined;
    const onError = (e: Error) => (broken ??= e);
    c.on('error', onError);
    try {
      return await fn(c, onError);
    } catch (e) {
      if (isConnectionLoss(e)) broken ??= e as Error;
      throw e;
    } finally {
      c.off('error', onError);
      // A connection that failed is destroyed, not handed to the next caller.
      c.release(broken);
    }
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}
