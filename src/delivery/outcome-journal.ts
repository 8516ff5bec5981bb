import type { HostLog } from '../host-api';
import { storageError, storageErrorCode, type AttemptOutcome, type AttemptWrite, type Spool } from '../spool';

/** The first wait before an outcome the spool refused is written again; doubles up to WRITE_RETRY_MAX_MS. */
const WRITE_RETRY_MIN_MS = 250;
const WRITE_RETRY_MAX_MS = 30_000;

interface Unwritten {
  tenant: string;
  outcome: AttemptOutcome;
  /** What follows a durable outcome: its reports, the removal of its files. */
  then: () => void;
}

/**
 * Attempt outcomes on their way into the spool. Outcomes recorded in one turn of the event loop are
 * written together, in one transaction (one commit for many attempts, as accepts are
 * group-committed), and their `then` (reports, file removal) runs after that commit. An outcome the
 * spool cannot store (disk full, I/O error) is kept here and written again with backoff; until it
 * is written, its message is settled for this run (the scheduler claims none of these) and its
 * tenant's lane stays stopped, so a delivered mail is never sent again because its success could
 * not be recorded. What is still here at close() is lost with the process: the next run sends
 * those mails again (at least once).
 */
export class OutcomeJournal {
  readonly #spool: Spool;
  readonly #log: HostLog;
  /** Recorded this turn, written at the next setImmediate. */
  #batch = new Map<number, Unwritten>();
  #immediate: NodeJS.Immediate | undefined;
  /** Refused by the spool, retried with backoff. */
  readonly #unwritten = new Map<number, Unwritten>();
  /** Every seq of #batch and #unwritten: the messages that must not be claimed or sent. */
  readonly #held = new Set<number>();
  readonly #listeners = new Set<(tenant: string) => void>();
  #retries = 0;
  #lastError: unknown;
  #timer: NodeJS.Timeout | undefined;
  /** The lot being written: one at a time, so lots commit in the order they were recorded. */
  #writing: Promise<void> | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(spool: Spool, log: HostLog) {
    this.#spool = spool;
    this.#log = log;
  }

  /** Stores an attempt's outcome (at the end of this turn, with the others of the turn) and then runs `then`. */
  record(seq: number, tenant: string, outcome: AttemptOutcome, then: () => void): void {
    this.#batch.set(seq, { tenant, outcome, then });
    this.#held.add(seq);
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#writing) this.#immediate ??= setImmediate(() => void this.#writeBatch());
  }

  /** True while the outcome of `seq` is not yet in the spool: the message must not be sent or claimed again. */
  holds(seq: number): boolean {
    return this.#held.has(seq);
  }

  /** True when the spool refused the outcome of `seq` and it waits to be written again. */
  refused(seq: number): boolean {
    return this.#unwritten.has(seq);
  }

  /** The messages whose outcomes are not yet in the spool (a live view). */
  seqs(): ReadonlySet<number> {
    return this.#held;
  }

  /** True while a refused outcome of this tenant waits to be written: its lane starts no session. */
  blocks(tenant: string): boolean {
    if (this.#unwritten.size === 0) return false;
    for (const u of this.#unwritten.values()) if (u.tenant === tenant) return true;
    return false;
  }

  /**
   * `l(tenant)` runs when the spool's view of that tenant's queue moved on without the scheduler
   * seeing it: every refused outcome of the tenant is now written, or a written outcome left its
   * message queued (deferred) with a new due time.
   */
  subscribe(l: (tenant: string) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** Writes this turn's outcomes, makes one last try at what was refused, then stops retrying. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#writing;
    await this.#writeBatch();
    clearTimeout(this.#timer);
    await this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#unwritten.size > 0) {
      this.#log.error('delivery outcomes could not be stored before shutdown; the next start sends these mails again', { code: 'SPOOL_FAILURE', messages: this.#unwritten.size });
    }
  }

  async #writeBatch(): Promise<void> {
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.#batch.size === 0 || this.#writing) return;
    const batch = this.#batch;
    this.#batch = new Map();
    this.#writing = this.#writeLot(batch);
    await this.#writing;
    this.#writing = undefined;
    // Outcomes recorded while the lot was being written go in the next one.
    if (this.#batch.size > 0) this.#schedule();
  }

  async #writeLot(batch: Map<number, Unwritten>): Promise<void> {
    if (!(await this.#write([...batch].map(([seq, u]) => ({ seq, outcome: u.outcome }))))) {
      for (const [seq, u] of batch) this.#unwritten.set(seq, u);
      this.#arm();
      return;
    }
    const moved = new Set<string>();
    for (const [seq, u] of batch) {
      this.#held.delete(seq);
      if (u.outcome.state === 'queued') moved.add(u.tenant);
      this.#then(seq, u);
    }
    this.#notify(moved);
  }

  async #write(outcomes: AttemptWrite[]): Promise<boolean> {
    try {
      await this.#spool.recordAttempts(outcomes);
      return true;
    } catch (e) {
      this.#lastError = e;
      return false;
    }
  }

  #then(seq: number, u: Unwritten): void {
    try {
      u.then();
    } catch (e) {
      this.#log.error('reporting a stored outcome failed', { seq, error: (e as Error).message });
    }
  }

  #notify(tenants: Set<string>): void {
    for (const tenant of tenants) {
      if (this.blocks(tenant)) continue;
      for (const l of this.#listeners) l(tenant);
    }
  }

  #arm(): void {
    if (this.#closed || this.#timer) return;
    const wait = Math.min(WRITE_RETRY_MAX_MS, WRITE_RETRY_MIN_MS * 2 ** Math.min(this.#retries, 20));
    this.#log.error('could not store delivery outcomes; their mails are not sent again, their tenants wait, the write is retried', {
      code: storageError(this.#lastError, 'storing delivery outcomes').code,
      error: storageErrorCode(this.#lastError),
      detail: (this.#lastError as Error | undefined)?.message,
      messages: this.#unwritten.size,
      tenants: [...new Set([...this.#unwritten.values()].map((u) => u.tenant))],
      retry: this.#retries + 1,
      retryInMs: wait,
    });
    this.#timer = setTimeout(async () => {
      this.#retries++;
      await this.#flush();
      this.#timer = undefined;
      if (this.#unwritten.size > 0) this.#arm();
    }, wait);
  }

  /** Writes every refused outcome the spool now takes, one at a time (one refused never holds back another). */
  #flush(): Promise<void> {
    // One pass at a time: a retry timer and close() never write the same outcome twice.
    this.#flushing ??= this.#flushPass().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flushPass(): Promise<void> {
    const done = new Set<string>();
    for (const [seq, u] of [...this.#unwritten]) {
      if (!(await this.#write([{ seq, outcome: u.outcome }]))) continue;
      this.#unwritten.delete(seq);
      this.#held.delete(seq);
      done.add(u.tenant);
      this.#then(seq, u);
    }
    if (this.#unwritten.size === 0 && done.size > 0) {
      this.#log.info('delivery outcomes stored again after a storage failure', { retries: this.#retries });
      this.#retries = 0;
    }
    this.#notify(done);
  }
}
