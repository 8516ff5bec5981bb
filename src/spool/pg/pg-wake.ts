import pg from 'pg';
import { ident } from './pg-db';

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/**
 * LISTEN on the spool's channel over a connection of its own, feeding `onWake` listeners with the
 * tenant each NOTIFY names. A lost connection is made again with backoff (100 ms doubling to
 * 5 s, for as long as the spool is open); after a reconnect `resync()` is called, since
 * notifications sent meanwhile are lost.
 */
export class PgWake {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listeners = new Set<(tenant: string) => void>();
  readonly #resync: () => Promise<void>;
  readonly #onError: (e: Error) => void;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoff = BACKOFF_FIRST_MS;
  #closed = false;
  /** How many times the connection was made again after a loss (tests, metrics). */
  reconnects = 0;

  constructor(o: { config: pg.ClientConfig; channel: string; resync: () => Promise<void>; onError: (e: Error) => void }) {
    this.#config = o.config;
    this.#channel = o.channel;
    this.#resync = o.resync;
    this.#onError = o.onError;
  }

  /** Connects and listens; rejects when the first connection cannot be made. */
  async start(): Promise<void> {
    await this.#connect();
  }

  on(fn: (tenant: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Calls every listener (a listener that throws does not stop the others). */
  emit(tenant: string): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn(tenant);
      } catch (e) {
        this.#onError(e as Error);
      }
    }
  }

  async #connect(): Promise<void> {
    const c = new pg.Client(this.#config);
    c.on('error', (e) => {
      this.#onError(e);
      this.#lost(c);
    });
    c.on('end', () => this.#lost(c));
    c.on('notification', (n) => {
      if (n.channel === this.#channel && n.payload) this.emit(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${ident(this.#channel)}`);
    } catch (e) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      throw e;
    }
    if (this.#closed) {
      await c.end().catch(() => undefined);
      return;
    }
    this.#client = c;
  }

  #lost(c: pg.Client): void {
    if (this.#client !== c) return;
    this.#client = undefined;
    c.removeAllListeners('end');
    void c.end().catch(() => undefined);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const wait = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect().then(
        () => {
          if (this.#closed) return;
          this.#backoff = BACKOFF_FIRST_MS;
          this.reconnects++;
          this.#resync().catch((e: Error) => this.#onError(e));
        },
        (e: Error) => {
          this.#onError(e);
          this.#schedule();
        },
      );
    }, wait);
    this.#timer.unref();
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const c = this.#client;
    this.#client = undefined;
    this.#listeners.clear();
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  }
}
