import type { HostLog } from '../host-api';
import { storageError, storageErrorCode, type AttemptOutcome, type Spool } from '../spool';

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
 * Attempt outcomes on their way into the spool. An outcome the spool cannot store (disk full, I/O
 * error) is kept here and written again with backoff; until it is written, its message is settled
 * for this run (the scheduler claims none of these) and its tenant's lane stays stopped, so a
 * delivered mail is never sent again because its success could not be recorded. What is still
 * here at close() is lost with the process: the next run sends those mails again (at least once).
 */
export class OutcomeJournal {
  readonly #spool: Spool;
  readonly #log: HostLog;
  readonly #unwritten = new Map<number, Unwritten>();
  readonly #listeners = new Set<(tenant: string) => void>();
  #retries = 0;
  #lastError: unknown;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(spool: Spool, log: HostLog) {
    this.#spool = spool;
    this.#log = log;
  }

  /** Stores an attempt's outcome and then runs `then`; false when the spool refused it (kept and retried). */
  record(seq: number, tenant: string, outcome: AttemptOutcome, then: () => void): boolean {
    if (this.#write(seq, outcome)) {
      then();
      return true;
    }
    this.#unwritten.set(seq, { tenant, outcome, then });
    this.#arm();
    return false;
  }

  /** True while the outcome of `seq` waits to be written: the message must not be sent again. */
  has(seq: number): boolean {
    return this.#unwritten.has(seq);
  }

  /** The messages whose outcomes wait to be written. */
  seqs(): ReadonlySet<number> {
    return new Set(this.#unwritten.keys());
  }

  /** True while an outcome of this tenant waits to be written: its lane starts no session. */
  blocks(tenant: string): boolean {
    for (const u of this.#unwritten.values()) if (u.tenant === tenant) return true;
    return false;
  }

  /** `l(tenant)` runs once every waiting outcome of that tenant is written. */
  subscribe(l: (tenant: string) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** One last try to write what waits, then stops retrying. */
  close(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#unwritten.size > 0) {
      this.#log.error('delivery outcomes could not be stored before shutdown; the next start sends these mails again', { code: 'SPOOL_FAILURE', messages: this.#unwritten.size });
    }
  }

  #write(seq: number, outcome: AttemptOutcome): boolean {
    try {
      this.#spool.recordAttempt(seq, outcome);
      return true;
    } catch (e) {
      this.#lastError = e;
      return false;
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
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retries++;
      this.#flush();
      if (this.#unwritten.size > 0) this.#arm();
    }, wait);
  }

  /** Writes every waiting outcome the spool now takes (one refused never holds back another). */
  #flush(): void {
    const done = new Set<string>();
    for (const [seq, u] of [...this.#unwritten]) {
      if (!this.#write(seq, u.outcome)) continue;
      this.#unwritten.delete(seq);
      done.add(u.tenant);
      try {
        u.then();
      } catch (e) {
        this.#log.error('reporting a stored outcome failed', { seq, error: (e as Error).message });
      }
    }
    if (this.#unwritten.size === 0 && done.size > 0) {
      this.#log.info('delivery outcomes stored again after a storage failure', { retries: this.#retries });
      this.#retries = 0;
    }
    for (const tenant of done) {
      if (this.blocks(tenant)) continue;
      for (const l of this.#listeners) l(tenant);
    }
  }
}
