import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PluginError } from '../errors';
import type { AttachmentStore, AttemptWrite, Claim, ClaimRequest, HealthReport, ListQuery, LogLimits, NewRecord, Spool, SpoolRecord, StoredAttachment, StoredLogEntry, StoredRefusal, StoredState, TenantDepth, TenantDue, TenantTotals } from './spool';
import { migrate, SCHEMA_VERSION } from './schema';
import { storageError } from './storage-error';
import { FileStore } from './file-store';
import { DeliveryLogTables } from './delivery-log-tables';
import { countSettled, DEFAULT_LOG_LIMITS, recordFromRow as fromRow, type MessageRow as Row, type TenantLot } from './rows';
import type { SpoolObserver, StateStats } from './observer';

/** Pages `PRAGMA quick_check` may report before it stops: the first problem is enough to refuse. */
const QUICK_CHECK_LIMIT = 1;

/** Creates `file` (0600, whatever the umask) if missing and makes an existing one 0600. */
function privateFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
}

/** spool.db's WAL and shared-memory files: SQLite creates them with the database's mode; made 0600 explicitly anyway. */
function privateSidecars(file: string): void {
  for (const f of [`${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      fs.chmodSync(f, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}



interface Waiting {
  record: NewRecord;
  resolve(v: 'queued' | 'duplicate'): void;
  reject(e: unknown): void;
}


/**
 * The default spool: SQLite in WAL mode under dataDir. Accepts are group-committed with
 * synchronous=FULL (every handler resolution is fsynced, many share one fsync); attempt outcomes
 * are written through a second connection with synchronous=NORMAL, which survives kill -9 and at
 * worst repeats a delivery after a power cut (delivery is at least once).
 */
export class SqliteSpool implements Spool {
  readonly shared = false;
  readonly #dataDir: string;
  readonly #file: string;
  readonly #accept!: Database.Database;
  readonly #db!: Database.Database;
  readonly #files!: FileStore;
  readonly #version!: number;
  #batch: Waiting[] = [];
  #flushing: NodeJS.Immediate | undefined;
  #closed = false;
  readonly #observer: SpoolObserver | undefined;
  readonly #stmt;
  /** The delivery log, refusals and tenant totals, on #db. */
  readonly #log: DeliveryLogTables;
  limits: LogLimits;

  /**
   * Opens (creating or upgrading) `dataDir/spool.db`. Refuses a damaged database up front with
   * SPOOL_CORRUPT (`PRAGMA quick_check`, which reads every page once and stops at the first
   * problem), any other storage error with SPOOL_FAILURE. The caller holds the dataDir lock.
   */
  constructor(dataDir: string, o: { observer?: SpoolObserver; limits?: LogLimits; readOnly?: boolean } = {}) {
    this.#dataDir = dataDir;
    this.#observer = o.observer;
    this.limits = o.limits ?? DEFAULT_LOG_LIMITS;
    const file = (this.#file = path.join(dataDir, 'spool.db'));
    const opened: Database.Database[] = [];
    if (o.readOnly) {
      try {
        this.#accept = this.#db = new Database(file, { readonly: true, fileMustExist: true });
        opened.push(this.#db);
        this.#db.pragma('busy_timeout = 5000');
        const v = (this.#version = this.#db.pragma('user_version', { simple: true }) as number);
        if (v !== SCHEMA_VERSION) {
          throw new PluginError('SPOOL_FAILURE', `${file} has spool layout ${v}; this version reads layout ${SCHEMA_VERSION} read-only. ${v < SCHEMA_VERSION ? 'Start the host of this version once to upgrade it' : 'Use the newer version that wrote it'}`);
        }
      } catch (e) {
        for (const db of opened) db.close();
        throw storageError(e, `cannot open the spool ${file} read-only`, file);
      }
      this.#stmt = this.#prepare();
      this.#log = new DeliveryLogTables(this.#db, () => this.limits);
      return;
    }
    try {
      this.#files = new FileStore(path.join(dataDir, 'files'));
      privateFile(file);
      this.#accept = new Database(file);
      opened.push(this.#accept);
      this.#accept.pragma('journal_mode = WAL');
      this.#accept.pragma('synchronous = FULL');
      privateSidecars(file);
      const problems = this.#accept.pragma(`quick_check(${QUICK_CHECK_LIMIT})`, { simple: false }) as { quick_check: string }[];
      if (problems.length !== 1 || problems[0]!.quick_check !== 'ok') {
        throw new PluginError('SPOOL_CORRUPT', `the spool database ${file} failed its integrity check (${problems.map((p) => p.quick_check).join('; ')}); stop the host, then restore dataDir from a backup or move spool.db aside and start with an empty spool (README, "A corrupt spool")`);
      }
      this.#version = migrate(this.#accept, file);
      this.#db = new Database(file);
      opened.push(this.#db);
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('busy_timeout = 5000');
      privateSidecars(file);
    } catch (e) {
      for (const db of opened) db.close();
      throw storageError(e, `cannot open the spool ${file}`, file);
    }
    this.#stmt = this.#prepare();
    this.#log = new DeliveryLogTables(this.#db, () => this.limits);
  }

  /** The layout version the database had when it was opened (older ones were migrated forward). */
  get openedVersion(): number {
    return this.#version;
  }

  #prepare() {
    return {
      insert: this.#accept.prepare(
        `INSERT OR IGNORE INTO messages (event_id, tenant, type, event, attachments, files_dir, pending, state, created_at, age_from, next_attempt_at, updated_at, message_id)
         VALUES (@eventId, @tenant, @type, @event, @attachments, @filesDir, @pending, 'queued', @now, @now, @now, @now, @messageId)`,
      ),
      accepted: this.#accept.prepare('INSERT INTO tenant_totals (tenant, accepted) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET accepted = accepted + excluded.accepted'),
      tenants: this.#db.prepare("SELECT tenant, MIN(next_attempt_at) AS nextDue FROM messages WHERE state = 'queued' GROUP BY tenant"),
      due: this.#db.prepare("SELECT seq FROM messages WHERE state = 'queued' AND tenant = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?").pluck(),
      next: this.#db.prepare("SELECT seq, next_attempt_at FROM messages WHERE state = 'queued' AND tenant = ? ORDER BY next_attempt_at, seq LIMIT ?"),
      reschedule: this.#db.prepare("UPDATE messages SET next_attempt_at = ? WHERE state = 'queued' AND tenant = ? AND next_attempt_at > ?"),
      farAhead: this.#db.prepare("SELECT tenant, COUNT(*) AS count FROM messages WHERE state = 'queued' AND next_attempt_at > ? GROUP BY tenant"),
      rebase: this.#db.prepare("UPDATE messages SET next_attempt_at = ? WHERE state = 'queued' AND next_attempt_at > ?"),
      get: this.#db.prepare('SELECT * FROM messages WHERE seq = ?'),
      page: this.#db.prepare('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?'),
      recipients: this.#db.prepare('SELECT tenant, delivered, failed FROM messages WHERE seq = ?'),
      getByEvent: this.#db.prepare('SELECT * FROM messages WHERE tenant = ? AND event_id = ?'),
      getByEventAnyTenant: this.#db.prepare('SELECT * FROM messages WHERE event_id = ? ORDER BY seq LIMIT 1'),
      update: this.#db.prepare(
        `UPDATE messages SET state = @state, pending = @pending, delivered = @delivered, failed = @failed, attempts = @attempts,
         next_attempt_at = @nextAttemptAt, updated_at = @now, last_error = @lastError, last_error_code = @lastErrorCode WHERE seq = @seq`,
      ),
      revive: this.#db.prepare(
        "UPDATE messages SET state = 'queued', pending = @pending, failed = '[]', attempts = 0, age_from = @now, next_attempt_at = @now, updated_at = @now WHERE seq = @seq",
      ),
      dueNow: this.#db.prepare("UPDATE messages SET next_attempt_at = ? WHERE seq = ? AND state = 'queued'"),
      discard: this.#db.prepare(
        "UPDATE messages SET state = 'discarded', pending = '[]', failed = @failed, updated_at = @now, last_error = @reason, last_error_code = 'DISCARDED' WHERE seq = @seq",
      ),
      purgeable: this.#db.prepare(
        "SELECT seq, files_dir FROM messages WHERE (state = 'delivered' AND updated_at < ?) OR (state IN ('failed', 'partial', 'discarded') AND updated_at < ?) LIMIT 1000",
      ),
      delete: this.#db.prepare('DELETE FROM messages WHERE seq = ?'),
      counts: this.#db.prepare('SELECT state, COUNT(*) AS n FROM messages GROUP BY state'),
      depth: this.#db.prepare(
        "SELECT tenant, state, COUNT(*) AS count, SUM(attempts > 0) AS attempted, MIN(CASE WHEN state = 'queued' THEN created_at END) AS oldest FROM messages GROUP BY tenant, state",
      ),
      failedSince: this.#db.prepare("SELECT seq FROM messages WHERE state IN ('failed', 'partial') AND tenant = ? AND updated_at >= ? ORDER BY seq").pluck(),
      // Queued mail already attempted is `deferred`, as the operations API names it (those in flight are counted where they were).
      stateStats: this.#db.prepare(
        "SELECT CASE WHEN state = 'queued' AND attempts > 0 THEN 'deferred' ELSE state END AS state, COUNT(*) AS count, MIN(created_at) AS oldestCreatedAt FROM messages GROUP BY 1",
      ),
      fileOwner: this.#db.prepare('SELECT 1 FROM messages WHERE files_dir = ?').pluck(),
    };
  }

  /** Every storage error leaves the spool as a coded PluginError (SPOOL_CORRUPT or SPOOL_FAILURE), the SQLite error in `cause`. */
  #guard<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw storageError(e, `spool: ${doing}`, this.#file);
    }
  }

  /** A path inside dataDir as stored: relative, with '/' separators. */
  #relative(abs: string): string {
    const rel = path.relative(this.#dataDir, abs);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new PluginError('SPOOL_FAILURE', `${abs} is not inside the spool's dataDir ${this.#dataDir}`);
    return rel.split(path.sep).join('/');
  }

  enqueue(record: NewRecord): Promise<'queued' | 'duplicate'> {
    if (this.#closed) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the spool is closed'));
    return new Promise((resolve, reject) => {
      this.#batch.push({ record, resolve, reject });
      this.#flushing ??= setImmediate(() => this.#flush());
    });
  }

  /** One transaction, one fsync, for every accept that arrived since the last flush. */
  #flush(): void {
    this.#flushing = undefined;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    const now = Date.now();
    const started = performance.now();
    let results: ('queued' | 'duplicate')[];
    try {
      results = this.#accept.transaction(() => {
        const out = batch.map(({ record: r }): 'queued' | 'duplicate' => {
          const filesDir = r.attachments.length > 0 ? this.#relative(path.dirname(r.attachments[0]!.path)) : null;
          const info = this.#stmt.insert.run({
            eventId: r.eventId,
            tenant: r.tenant,
            type: r.type,
            event: JSON.stringify(r.event),
            attachments: JSON.stringify(r.attachments.map((a) => ({ ...a, path: this.#relative(a.path) }))),
            filesDir,
            pending: JSON.stringify(r.pending),
            now,
            messageId: r.messageId,
          });
          return info.changes === 1 ? 'queued' : 'duplicate';
        });
        // In the accepts' transaction: the totals count exactly what was queued.
        const per = new Map<string, number>();
        batch.forEach((w, i) => out[i] === 'queued' && per.set(w.record.tenant, (per.get(w.record.tenant) ?? 0) + 1));
        per.forEach((n, t) => this.#stmt.accepted.run(t, n));
        return out;
      })();
    } catch (e) {
      const err = storageError(e, 'could not store the event', this.#file);
      for (const w of batch) w.reject(err);
      return;
    }
    this.#observer?.wrote('accept', (performance.now() - started) / 1000);
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  async tenantsWithWork(): Promise<TenantDue[]> {
    return this.#guard('listing tenants with queued mail', () => this.#stmt.tenants.all() as TenantDue[]);
  }

  /** This instance is the spool's only user (the dataDir lock): a claim is the due mail outside `exclude`; the caps and the breaker are the scheduler's. */
  async claim({ tenant, now, limit, exclude }: ClaimRequest): Promise<Claim> {
    return this.#guard('reading due mail', () => {
      const seqs = this.#stmt.due.all(tenant, now, limit + exclude.size) as number[];
      return { seqs: seqs.filter((seq) => !exclude.has(seq)).slice(0, limit) };
    });
  }

  /** Nothing to give back: claims live in the scheduler's memory. */
  async release(_seqs: readonly number[]): Promise<void> {}

  /** The scheduler's own breaker is the only one. */
  async reportHealth(_tenant: string, _report: HealthReport): Promise<number | undefined> {
    return undefined;
  }

  /** No other instance shares this spool: nothing ever wakes. */
  onWake(_fn: (tenant: string) => void): () => void {
    return () => undefined;
  }

  async nextDue(tenant: string, exclude: ReadonlySet<number>): Promise<number | undefined> {
    return this.#guard('reading when mail is due', () => {
      const rows = this.#stmt.next.all(tenant, exclude.size + 1) as { seq: number; next_attempt_at: number }[];
      return rows.find((r) => !exclude.has(r.seq))?.next_attempt_at;
    });
  }

  async get(seq: number): Promise<SpoolRecord | undefined> {
    return this.#guard('reading a message', () => {
      const r = this.#stmt.get.get(seq) as Row | undefined;
      return r && fromRow(r, this.#dataDir);
    });
  }

  /** Every message in seq order, `limit` at a time after `afterSeq`: the whole spool read page by page (migrate-spool). */
  async page(afterSeq: number, limit: number): Promise<SpoolRecord[]> {
    return this.#guard('reading messages', () => (this.#stmt.page.all(afterSeq, limit) as Row[]).map((r) => fromRow(r, this.#dataDir)));
  }

  async getByEventId(tenant: string | undefined, eventId: string): Promise<SpoolRecord | undefined> {
    return this.#guard('looking an event up', () => {
      const r = (tenant === undefined ? this.#stmt.getByEventAnyTenant.get(eventId) : this.#stmt.getByEvent.get(tenant, eventId)) as Row | undefined;
      return r && fromRow(r, this.#dataDir);
    });
  }

  async reschedule(tenant: string, at: number): Promise<void> {
    this.#guard('rescheduling a tenant', () => this.#stmt.reschedule.run(at, tenant, at));
  }

  async rebase(now: number, latest: number): Promise<{ tenant: string; count: number }[]> {
    const far = this.#stmt.farAhead.all(latest) as { tenant: string; count: number }[];
    if (far.length > 0) this.#stmt.rebase.run(now, latest);
    return far;
  }

  async recordAttempts(outcomes: readonly AttemptWrite[]): Promise<void> {
    const started = performance.now();
    this.#guard('recording attempts', () => this.#recordAll(outcomes));
    this.#observer?.wrote('attempt', (performance.now() - started) / 1000);
  }

  /**
   * One transaction for the lot: one commit, so many attempts share one WAL write. Each writes its
   * log line and outcome line with it; the tenants' totals, last success and last failure are
   * written once per tenant for the lot.
   */
  readonly #recordAll = (outcomes: readonly AttemptWrite[]): void =>
    this.#db.transaction(() => {
      const now = Date.now();
      const tenants = new Map<string, TenantLot>();
      for (const { seq, outcome: o } of outcomes) {
        const cur = this.#stmt.recipients.get(seq) as { tenant: string; delivered: string; failed: string } | undefined;
        if (!cur) continue;
        this.#stmt.update.run({
          seq,
          state: o.state,
          pending: JSON.stringify(o.pending),
          delivered: o.deliveredNow.length === 0 ? cur.delivered : JSON.stringify([...JSON.parse(cur.delivered), ...o.deliveredNow]),
          failed: o.failedNow.length === 0 ? cur.failed : JSON.stringify([...JSON.parse(cur.failed), ...o.failedNow]),
          attempts: o.attempts,
          nextAttemptAt: o.nextAttemptAt,
          now,
          lastError: o.lastError ?? null,
          lastErrorCode: o.lastErrorCode ?? null,
        });
        if (o.log) {
          this.#log.line(seq, o.log.at, 'attempt', o.log.code ?? null, o.lastError === undefined ? o.log.outcome : `${o.log.outcome}: ${o.lastError}`, JSON.stringify(o.log));
        }
        let t = tenants.get(cur.tenant);
        if (!t) tenants.set(cur.tenant, (t = { succeeded: false, settled: { delivered: 0, failed: 0, partial: 0 } }));
        if (o.deliveredNow.length > 0) t.succeeded = true;
        if (o.lastError !== undefined && (o.failedNow.length > 0 || o.pending.length > 0)) t.failure = { code: o.lastErrorCode ?? null, message: o.lastError };
        if (o.state !== 'queued') {
          this.#log.outcome(seq, o.state, now, o.lastErrorCode);
          countSettled(t.settled, o.state);
        }
      }
      this.#log.tenants(tenants, now);
    })();

  async list(q: ListQuery): Promise<SpoolRecord[]> {
    return this.#guard('listing messages', () => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.tenant !== undefined) (where.push('tenant = ?'), args.push(q.tenant));
      if (q.states) where.push(`state IN (${q.states.map(() => '?').join(', ')})`), args.push(...q.states);
      if (q.attempted !== undefined) where.push(q.attempted ? 'attempts > 0' : 'attempts = 0');
      if (q.seqs) where.push(`seq IN (${q.seqs.map(() => '?').join(', ') || 'NULL'})`), args.push(...q.seqs);
      if (q.before !== undefined) (where.push('created_at < ?'), args.push(q.before));
      const skip = q.excludeSeqs ?? new Set<number>();
      const sql = `SELECT * FROM messages${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, seq DESC LIMIT ?`;
      const rows = this.#db.prepare(sql).all(...args, q.limit + skip.size) as Row[];
      return rows.filter((r) => !skip.has(r.seq)).slice(0, q.limit).map((r) => fromRow(r, this.#dataDir));
    });
  }

  async log(seq: number): Promise<StoredLogEntry[]> {
    return this.#guard('reading a delivery log', () => this.#log.read(seq));
  }

  async revive(seq: number, now: number): Promise<SpoolRecord | undefined> {
    return this.#guard('retrying a message', () =>
      this.#db.transaction(() => {
        const cur = this.#stmt.get.get(seq) as Row | undefined;
        if (!cur) return undefined;
        if (cur.state === 'queued') {
          this.#stmt.dueNow.run(now, seq);
        } else if (cur.state === 'failed' || cur.state === 'partial') {
          this.#stmt.revive.run({ seq, now, pending: JSON.stringify([...JSON.parse(cur.pending), ...JSON.parse(cur.failed)]) });
        } else {
          return undefined;
        }
        this.#log.line(seq, now, 'operator', null, cur.state === 'queued' ? 'retry: due now' : `retry: revived from ${cur.state}`);
        return fromRow(this.#stmt.get.get(seq) as Row, this.#dataDir);
      })(),
    );
  }

  async discard(seq: number, now: number, reason: string): Promise<string[] | undefined> {
    return this.#guard('discarding a message', () =>
      this.#db.transaction(() => {
        const cur = this.#stmt.get.get(seq) as Row | undefined;
        if (!cur || cur.state === 'delivered' || cur.state === 'discarded') return undefined;
        const pending = JSON.parse(cur.pending) as string[];
        this.#stmt.discard.run({ seq, now, reason, failed: JSON.stringify([...JSON.parse(cur.failed), ...pending]) });
        this.#log.line(seq, now, 'operator', 'DISCARDED', 'discard');
        // A settled message (failed, partial) was counted when it settled; a queued one settles now.
        if (cur.state === 'queued') this.#log.settle(seq, cur.tenant, 'discarded', now, 'DISCARDED');
        else this.#log.outcome(seq, 'discarded', now, 'DISCARDED');
        return pending;
      })(),
    );
  }

  async settledFailedSince(tenant: string, since: number): Promise<number[]> {
    return this.#guard('listing failed messages', () => this.#stmt.failedSince.all(tenant, since) as number[]);
  }

  async depth(): Promise<TenantDepth[]> {
    return this.#guard('counting messages', () => this.#stmt.depth.all() as TenantDepth[]);
  }

  async totals(): Promise<TenantTotals[]> {
    return this.#guard('reading totals', () => this.#log.totals());
  }

  async refuse(r: StoredRefusal): Promise<void> {
    if (this.#closed) return;
    try {
      this.#db.transaction(() => this.#log.refuse(r))();
    } catch {
      // A refusal the disk cannot take (it is full, say) is still answered and logged by the host; the record is best effort.
    }
  }

  async refusals(q: { tenant?: string; limit: number }): Promise<StoredRefusal[]> {
    return this.#guard('reading refusals', () => this.#log.refusals(q));
  }

  async purge(deliveredBefore: number, failedBefore: number): Promise<number> {
    this.#guard('purging old refusals', () => this.#log.purgeRefusals(failedBefore));
    let total = 0;
    for (;;) {
      const rows = this.#guard('purging old records', () => {
        const found = this.#stmt.purgeable.all(deliveredBefore, failedBefore) as { seq: number; files_dir: string | null }[];
        this.#db.transaction(() =>
          found.forEach((r) => {
            this.#stmt.delete.run(r.seq);
            this.#log.forget(r.seq);
          }),
        )();
        return found;
      });
      if (rows.length === 0) return total;
      for (const r of rows) if (r.files_dir) await this.#files.remove(path.join(this.#dataDir, r.files_dir));
      total += rows.length;
    }
  }

  async counts(): Promise<Record<StoredState, number>> {
    return this.#guard('counting messages', () => {
      const out: Record<StoredState, number> = { queued: 0, delivered: 0, partial: 0, failed: 0, discarded: 0 };
      for (const r of this.#stmt.counts.all() as { state: StoredState; n: number }[]) out[r.state] = r.n;
      return out;
    });
  }

  async stateStats(): Promise<StateStats[]> {
    return this.#guard('counting messages', () => this.#stmt.stateStats.all() as StateStats[]);
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  get files(): AttachmentStore {
    if (!this.#files) throw new PluginError('SPOOL_FAILURE', `the spool in ${this.#dataDir} is open read-only`);
    return this.#files;
  }

  async sweepOrphans(): Promise<number> {
    const keep = new Set<string>();
    for (const name of await fs.promises.readdir(this.#files.root)) {
      const dir = path.join(this.#files.root, name);
      if (this.#guard('sweeping orphaned copies', () => this.#stmt.fileOwner.get(this.#relative(dir))) !== undefined) keep.add(dir);
    }
    return this.#files.sweep(keep);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#flushing) {
      clearImmediate(this.#flushing);
      this.#flush();
    }
    this.#closed = true;
    this.#db.close();
    if (this.#accept !== this.#db) this.#accept.close();
  }

  /**
   * Opens a stopped (or running) host's spool for reading only: no lock, no migration, nothing
   * written; refuses a layout other than the current one (SPOOL_FAILURE) and a missing spool.
   */
  static openReadOnly(dataDir: string): SqliteSpool {
    return new SqliteSpool(dataDir, { readOnly: true });
  }
}
