import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PluginError } from '../errors';
import type { AttachmentStore, AttemptOutcome, MessageState, NewRecord, Spool, SpoolRecord, TenantDue } from './spool';
import { FileStore } from './file-store';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  event TEXT NOT NULL,
  attachments TEXT NOT NULL,
  files_dir TEXT,
  pending TEXT NOT NULL,
  delivered TEXT NOT NULL DEFAULT '[]',
  failed TEXT NOT NULL DEFAULT '[]',
  state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_error TEXT,
  message_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (tenant, next_attempt_at, seq) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS messages_done ON messages (state, updated_at) WHERE state != 'queued';
CREATE INDEX IF NOT EXISTS messages_files ON messages (files_dir) WHERE files_dir IS NOT NULL;
`;

interface Row {
  seq: number;
  event_id: string;
  tenant: string;
  type: string;
  event: string;
  attachments: string;
  pending: string;
  delivered: string;
  failed: string;
  state: MessageState;
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  last_error: string | null;
  message_id: string;
}

interface Waiting {
  record: NewRecord;
  resolve(v: 'queued' | 'duplicate'): void;
  reject(e: unknown): void;
}

function fromRow(r: Row): SpoolRecord {
  return {
    seq: r.seq,
    eventId: r.event_id,
    tenant: r.tenant,
    type: r.type as SpoolRecord['type'],
    event: JSON.parse(r.event),
    attachments: JSON.parse(r.attachments),
    pending: JSON.parse(r.pending),
    delivered: JSON.parse(r.delivered),
    failed: JSON.parse(r.failed),
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    nextAttemptAt: r.next_attempt_at,
    ...(r.last_error !== null && { lastError: r.last_error }),
    messageId: r.message_id,
  };
}

/**
 * The default spool: SQLite in WAL mode under dataDir. Accepts are group-committed with
 * synchronous=FULL (every handler resolution is fsynced, many share one fsync); attempt outcomes
 * are written through a second connection with synchronous=NORMAL, which survives kill -9 and at
 * worst repeats a delivery after a power cut (delivery is at least once).
 */
export class SqliteSpool implements Spool {
  readonly #accept: Database.Database;
  readonly #db: Database.Database;
  readonly #files: FileStore;
  #batch: Waiting[] = [];
  #flushing: NodeJS.Immediate | undefined;
  #closed = false;
  readonly #stmt;

  constructor(dataDir: string) {
    this.#files = new FileStore(path.join(dataDir, 'files'));
    const file = path.join(dataDir, 'spool.db');
    this.#accept = new Database(file);
    this.#accept.pragma('journal_mode = WAL');
    this.#accept.pragma('synchronous = FULL');
    this.#accept.exec(SCHEMA);
    this.#db = new Database(file);
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#stmt = {
      insert: this.#accept.prepare(
        `INSERT OR IGNORE INTO messages (event_id, tenant, type, event, attachments, files_dir, pending, state, created_at, next_attempt_at, updated_at, message_id)
         VALUES (@eventId, @tenant, @type, @event, @attachments, @filesDir, @pending, 'queued', @now, @now, @now, @messageId)`,
      ),
      has: this.#db.prepare('SELECT 1 FROM messages WHERE event_id = ?').pluck(),
      tenants: this.#db.prepare("SELECT tenant, MIN(next_attempt_at) AS nextDue FROM messages WHERE state = 'queued' GROUP BY tenant"),
      due: this.#db.prepare("SELECT * FROM messages WHERE state = 'queued' AND tenant = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?"),
      next: this.#db.prepare("SELECT seq, next_attempt_at FROM messages WHERE state = 'queued' AND tenant = ? ORDER BY next_attempt_at, seq LIMIT ?"),
      reschedule: this.#db.prepare("UPDATE messages SET next_attempt_at = ? WHERE state = 'queued' AND tenant = ? AND next_attempt_at > ?"),
      farAhead: this.#db.prepare("SELECT tenant, COUNT(*) AS count FROM messages WHERE state = 'queued' AND next_attempt_at > ? GROUP BY tenant"),
      rebase: this.#db.prepare("UPDATE messages SET next_attempt_at = ? WHERE state = 'queued' AND next_attempt_at > ?"),
      get: this.#db.prepare('SELECT * FROM messages WHERE seq = ?'),
      getByEvent: this.#db.prepare('SELECT * FROM messages WHERE event_id = ?'),
      update: this.#db.prepare(
        `UPDATE messages SET state = @state, pending = @pending, delivered = @delivered, failed = @failed, attempts = @attempts,
         next_attempt_at = @nextAttemptAt, updated_at = @now, last_error = @lastError WHERE seq = @seq`,
      ),
      expire: this.#db.prepare("SELECT * FROM messages WHERE state = 'queued' AND created_at < ? LIMIT ?"),
      fail: this.#db.prepare("UPDATE messages SET state = 'failed', failed = json(@failed), pending = '[]', last_error = @reason, updated_at = @now WHERE seq = @seq"),
      purgeable: this.#db.prepare(
        "SELECT seq, files_dir FROM messages WHERE (state = 'delivered' AND updated_at < ?) OR (state = 'failed' AND updated_at < ?) LIMIT 1000",
      ),
      delete: this.#db.prepare('DELETE FROM messages WHERE seq = ?'),
      counts: this.#db.prepare('SELECT state, COUNT(*) AS n FROM messages GROUP BY state'),
      fileOwner: this.#db.prepare('SELECT 1 FROM messages WHERE files_dir = ?').pluck(),
    };
  }

  has(eventId: string): boolean {
    return this.#stmt.has.get(eventId) !== undefined;
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
    let results: ('queued' | 'duplicate')[];
    try {
      results = this.#accept.transaction(() =>
        batch.map(({ record: r }) => {
          const filesDir = r.attachments.length > 0 ? path.dirname(r.attachments[0]!.path) : null;
          const info = this.#stmt.insert.run({
            eventId: r.eventId,
            tenant: r.tenant,
            type: r.type,
            event: JSON.stringify(r.event),
            attachments: JSON.stringify(r.attachments),
            filesDir,
            pending: JSON.stringify(r.pending),
            now,
            messageId: r.messageId,
          });
          return info.changes === 1 ? 'queued' : 'duplicate';
        }),
      )();
    } catch (e) {
      const err = new PluginError('SPOOL_FAILURE', `could not store the event: ${(e as Error).message}`, { cause: e });
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  tenantsWithWork(): TenantDue[] {
    return this.#stmt.tenants.all() as TenantDue[];
  }

  due(tenant: string, now: number, limit: number, exclude: ReadonlySet<number>): SpoolRecord[] {
    const rows = this.#stmt.due.all(tenant, now, limit + exclude.size) as Row[];
    return rows.filter((r) => !exclude.has(r.seq)).slice(0, limit).map(fromRow);
  }

  nextDue(tenant: string, exclude: ReadonlySet<number>): number | undefined {
    const rows = this.#stmt.next.all(tenant, exclude.size + 1) as { seq: number; next_attempt_at: number }[];
    return rows.find((r) => !exclude.has(r.seq))?.next_attempt_at;
  }

  get(seq: number): SpoolRecord | undefined {
    const r = this.#stmt.get.get(seq) as Row | undefined;
    return r && fromRow(r);
  }

  getByEventId(eventId: string): SpoolRecord | undefined {
    const r = this.#stmt.getByEvent.get(eventId) as Row | undefined;
    return r && fromRow(r);
  }

  reschedule(tenant: string, at: number): void {
    this.#stmt.reschedule.run(at, tenant, at);
  }

  rebase(now: number, latest: number): { tenant: string; count: number }[] {
    const far = this.#stmt.farAhead.all(latest) as { tenant: string; count: number }[];
    if (far.length > 0) this.#stmt.rebase.run(now, latest);
    return far;
  }

  recordAttempt(seq: number, o: AttemptOutcome): void {
    const cur = this.#stmt.get.get(seq) as Row | undefined;
    if (!cur) return;
    this.#stmt.update.run({
      seq,
      state: o.state,
      pending: JSON.stringify(o.pending),
      delivered: JSON.stringify([...JSON.parse(cur.delivered), ...o.deliveredNow]),
      failed: JSON.stringify([...JSON.parse(cur.failed), ...o.failedNow]),
      attempts: o.attempts,
      nextAttemptAt: o.nextAttemptAt,
      now: Date.now(),
      lastError: o.lastError ?? null,
    });
  }

  expire(createdBefore: number, reason: string, limit: number, exclude: ReadonlySet<number>): SpoolRecord[] {
    const rows = (this.#stmt.expire.all(createdBefore, limit + exclude.size) as Row[])
      .filter((r) => !exclude.has(r.seq))
      .slice(0, limit)
      .map(fromRow);
    const now = Date.now();
    this.#db.transaction(() => {
      for (const r of rows) this.#stmt.fail.run({ seq: r.seq, failed: JSON.stringify([...r.failed, ...r.pending]), reason, now });
    })();
    return rows;
  }

  async purge(deliveredBefore: number, failedBefore: number): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = this.#stmt.purgeable.all(deliveredBefore, failedBefore) as { seq: number; files_dir: string | null }[];
      if (rows.length === 0) return total;
      this.#db.transaction(() => rows.forEach((r) => this.#stmt.delete.run(r.seq)))();
      for (const r of rows) if (r.files_dir) await this.#files.remove(r.files_dir);
      total += rows.length;
    }
  }

  counts(): Record<MessageState, number> {
    const out: Record<MessageState, number> = { queued: 0, delivered: 0, failed: 0 };
    for (const r of this.#stmt.counts.all() as { state: MessageState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  get files(): AttachmentStore {
    return this.#files;
  }

  async sweepOrphans(): Promise<number> {
    const keep = new Set<string>();
    for (const name of await fs.promises.readdir(this.#files.root)) {
      const dir = path.join(this.#files.root, name);
      if (this.#stmt.fileOwner.get(dir) !== undefined) keep.add(dir);
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
    this.#accept.close();
  }
}
