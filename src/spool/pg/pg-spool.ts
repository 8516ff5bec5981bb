import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../../errors';
import type {
  AttemptWrite,
  Claim,
  ClaimRequest,
  HealthReport,
  ListQuery,
  LogLimits,
  NewRecord,
  Spool,
  SpoolRecord,
  StoredAttachment,
  StoredLogEntry,
  StoredRefusal,
  StoredState,
  TenantDepth,
  TenantDue,
  TenantTotals,
} from '../spool';
import type { SpoolObserver, StateStats } from '../observer';
import { countSettled, DEFAULT_LOG_LIMITS, recordFromRow as fromRow, type MessageRow as Row, type TenantLot } from '../rows';
import { DB_NOW, ident, PgDb, type Query } from './pg-db';
import { migratePg } from './pg-schema';
import { PgLogTables } from './pg-log-tables';
import { PgFiles } from './pg-files';
import { PgWake } from './pg-wake';

/** Stored attachment copies no message names are deleted once older than this: another node may be accepting the event right now. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;
/** As the config validates spool.postgres.schema: an unquoted lower-case identifier, which is also the NOTIFY channel. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** How PgSpool.open connects, and how this node takes part. */
export interface PgSpoolOptions {
  /** libpq-style URL or key/value string (a secret: never logged). */
  connectionString: string;
  /** The schema the plugin owns in that database (validated by the config: ^[a-z_][a-z0-9_]{0,62}$). Also the LISTEN/NOTIFY channel's name. */
  schema: string;
  /** Connections in the pool (one more is kept for LISTEN). */
  poolSize: number;
  /** How long a claim holds a message for this node without a heartbeat (ms); another node takes it over after. */
  leaseMs: number;
  /** This node's dataDir: the local cache of attachment copies lives in `<dataDir>/files`. */
  dataDir: string;
  /** This instance's id in leases, unique in the cluster (e.g. `hostname:pid:random`). */
  owner: string;
  observer?: SpoolObserver;
  limits?: LogLimits;
  /** Hears of errors no caller is there to receive: a dropped idle connection, a failed lease heartbeat, a lost LISTEN connection (then made again). */
  onBackgroundError?: (doing: string, e: Error) => void;
}


/** What importMessages did with one message. */
export interface ImportedMessage {
  /** `skipped`: a message of that tenant and event id was here already, and is left as it is. */
  outcome: 'copied' | 'skipped';
  /** Attachment copies streamed into the database, and their bytes. */
  files: number;
  bytes: number;
  /** Attachments the record names whose copy was gone at the source: named still, stored nowhere (the courier sends without them and says so). */
  missing: number;
  /** Delivery log lines written. */
  logLines: number;
}

interface Waiting {
  record: NewRecord;
  resolve(v: 'queued' | 'duplicate'): void;
  reject(e: unknown): void;
}

/**
 * The spool of a cluster: PostgreSQL, shared by every node. Claims are leases on the database
 * clock, renewed by a heartbeat and taken over by another node once they run out; the number of a
 * tenant's leases across the cluster is capped by perTenant, and by one while its shared breaker
 * (tenant_breakers) is half-open; NOTIFY on the schema's channel wakes the other nodes' lanes.
 * Accepts are group-committed (what arrives in one event-loop turn shares one transaction).
 */
export class PgSpool implements Spool {
  readonly shared = true;
  readonly #db: PgDb;
  readonly #s: string;
  readonly #channel: string;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #dataDir: string;
  readonly #log: PgLogTables;
  readonly #files: PgFiles;
  readonly #wake: PgWake;
  readonly #observer: SpoolObserver | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #batch: Waiting[] = [];
  #flushing: NodeJS.Immediate | undefined;
  /** The batch being committed: the next waits for it (one accept transaction at a time, so batches grow under load). */
  #inFlight: Promise<void> | undefined;
  /**
   * Each seq this node holds a lease on, with its `attempts` when claimed: an outcome is written only
   * onto the row it was claimed as. A lot retried after its COMMIT went through unacknowledged (the
   * connection dropped) then finds the row changed and writes nothing twice.
   */
  readonly #claimed = new Map<number, number>();
  #closed = false;
  #closing: Promise<void> | undefined;
  limits: LogLimits;
  /** The last error no caller was there to receive (a dropped idle connection, a failed heartbeat). */
  lastBackgroundError: Error | undefined;
  readonly #onBackgroundError: PgSpoolOptions['onBackgroundError'];

  private constructor(o: PgSpoolOptions, db: PgDb) {
    this.#db = db;
    this.#s = ident(o.schema);
    this.#channel = o.schema;
    this.#owner = o.owner;
    this.#leaseMs = o.leaseMs;
    this.#dataDir = o.dataDir;
    this.#observer = o.observer;
    this.#onBackgroundError = o.onBackgroundError;
    this.limits = o.limits ?? DEFAULT_LOG_LIMITS;
    this.#log = new PgLogTables(this.#s, () => this.limits);
    this.#files = new PgFiles(db, this.#s, o.dataDir);
    this.#wake = new PgWake({
      config: db.clientConfig(o.connectionString),
      channel: this.#channel,
      onError: (e) => this.#background('listening for wake-ups', e),
      // Notifications sent while the connection was down are lost: every lane with work looks again.
      resync: async () => {
        for (const t of await this.tenantsWithWork()) this.#wake.emit(t.tenant);
      },
    });
  }

  /**
   * Connects, creates or migrates the schema (refusing one newer than this code, SPOOL_FAILURE),
   * starts listening and the lease heartbeat. Any storage error rejects with SPOOL_FAILURE.
   */
  static async open(o: PgSpoolOptions): Promise<PgSpool> {
    if (!SCHEMA_NAME.test(o.schema)) throw new PluginError('SPOOL_FAILURE', `PgSpool.open: the schema name must match ${SCHEMA_NAME} (got ${JSON.stringify(o.schema)})`);
    if (!(o.leaseMs > 0) || !(o.poolSize >= 1) || o.owner === '') throw new PluginError('SPOOL_FAILURE', `PgSpool.open: leaseMs and poolSize must be positive and owner non-empty (got ${o.leaseMs}, ${o.poolSize}, ${JSON.stringify(o.owner)})`);
    let spool: PgSpool | undefined;
    const db = new PgDb({ connectionString: o.connectionString, poolSize: o.poolSize, onError: (e) => spool && spool.#background('an idle database connection', e) });
    try {
      await migratePg(db, o.schema);
      spool = new PgSpool(o, db);
      await spool.#wake.start().catch((e) => {
        throw new PluginError('SPOOL_FAILURE', `spool: listening on the PostgreSQL channel ${o.schema}: ${(e as Error).message}`, { cause: e });
      });
    } catch (e) {
      if (spool) await spool.#wake.close();
      await db.end().catch(() => undefined);
      throw e;
    }
    spool.#heartbeat = setInterval(() => void spool!.#renew(), Math.max(1, Math.floor(o.leaseMs / 3)));
    spool.#heartbeat.unref();
    return spool;
  }

  /** Extends this node's leases; a failure is kept for whoever looks (the lease may run out and another node take over: at least once). */
  async #renew(): Promise<void> {
    try {
      await this.#db.query('renewing leases', `UPDATE ${this.#s}.messages SET lease_until = ${DB_NOW} + $2 WHERE lease_owner = $1 AND state = 'queued'`, [this.#owner, this.#leaseMs]);
    } catch (e) {
      this.#background('renewing leases', e as Error);
    }
  }

  #background(doing: string, e: Error): void {
    this.lastBackgroundError = e;
    this.#onBackgroundError?.(doing, e);
  }

  #fromRow(r: Row): SpoolRecord {
    return fromRow(r, this.#dataDir);
  }

  /** A path inside dataDir as stored: relative, with '/' separators. */
  #relative(abs: string): string {
    const rel = path.relative(this.#dataDir, abs);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new PluginError('SPOOL_FAILURE', `${abs} is not inside the spool's dataDir ${this.#dataDir}`);
    return rel.split(path.sep).join('/');
  }

  #notify(q: Query, tenants: Iterable<string>): Promise<unknown> {
    return q('SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t', [this.#channel, [...new Set(tenants)]]);
  }

  enqueue(record: NewRecord): Promise<'queued' | 'duplicate'> {
    if (this.#closed) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the spool is closed'));
    return new Promise((resolve, reject) => {
      this.#batch.push({ record, resolve, reject });
      this.#flushing ??= setImmediate(() => void this.#flush());
    });
  }

  /** One transaction, one commit, for every accept that arrived since the last; after the one in flight. */
  async #flush(): Promise<void> {
    this.#flushing = undefined;
    while (this.#inFlight) await this.#inFlight;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    const run = this.#commit(batch);
    this.#inFlight = run;
    await run;
    this.#inFlight = undefined;
  }

  async #commit(batch: Waiting[]): Promise<void> {
    const started = performance.now();
    let results: ('queued' | 'duplicate')[];
    try {
      const rows = batch.map(({ record: r }) => ({
        filesDir: r.attachments.length > 0 ? this.#relative(path.dirname(r.attachments[0]!.path)) : null,
        attachments: JSON.stringify(r.attachments.map((a) => ({ ...a, path: this.#relative(a.path) }))),
      }));
      const now = Date.now();
      results = await this.#db.tx('could not store the event', async (q) => {
        const inserted = await q<{ tenant: string; event_id: string }>(
          `INSERT INTO ${this.#s}.messages (event_id, tenant, type, event, attachments, files_dir, pending, state, created_at, age_from, next_attempt_at, updated_at, message_id)
           SELECT e, t, ty, ev, a, f, p, 'queued', $8, $8, $8, $8, m
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[]) WITH ORDINALITY AS x(e, t, ty, ev, a, f, p, m, i)
           ORDER BY i
           ON CONFLICT (tenant, event_id) DO NOTHING
           RETURNING event_id, tenant`,
          [
            batch.map((w) => w.record.eventId),
            batch.map((w) => w.record.tenant),
            batch.map((w) => w.record.type),
            batch.map((w) => JSON.stringify(w.record.event)),
            rows.map((r) => r.attachments),
            rows.map((r) => r.filesDir),
            batch.map((w) => JSON.stringify(w.record.pending)),
            now,
            batch.map((w) => w.record.messageId),
          ],
        );
        // The first of a (tenant, event id) in the batch is the one inserted; any other is a duplicate.
        const fresh = new Set(inserted.rows.map((r) => JSON.stringify([r.tenant, r.event_id])));
        const out = batch.map(({ record: r }): 'queued' | 'duplicate' => (fresh.delete(JSON.stringify([r.tenant, r.eventId])) ? 'queued' : 'duplicate'));
        const per = new Map<string, number>();
        batch.forEach((w, i) => out[i] === 'queued' && per.set(w.record.tenant, (per.get(w.record.tenant) ?? 0) + 1));
        await this.#log.accepted(q, per);
        if (per.size > 0) await this.#notify(q, per.keys());
        return out;
      });
    } catch (e) {
      for (const w of batch) w.reject(e);
      return;
    }
    this.#observer?.wrote('accept', (performance.now() - started) / 1000);
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  /**
   * Copies messages of another spool (migrate-spool: a stopped node's SQLite spool) with their
   * fields as they are (state, recipients, attempts, due time, ageFrom, last error and code,
   * message id; the seq is this database's) and their delivery logs. The attachments, whose `path`
   * must be readable files (the source's copies), are streamed into this spool's store first, chunk
   * by chunk (PgFiles.copyIn, never a whole file in memory); then the lot's messages and logs in one
   * transaction, which wakes the cluster's lanes for queued ones. A message of that tenant and event
   * id already here is left as it is (`skipped`, its copies neither stored nor kept), so a second
   * run after an interruption copies only what is missing; copies stored by an interrupted run
   * belong to no message and are swept like a crashed accept's. Totals and refusals are importTotals'.
   */
  async importMessages(lot: readonly { record: SpoolRecord; log: readonly StoredLogEntry[] }[]): Promise<ImportedMessage[]> {
    const skipped = (): ImportedMessage => ({ outcome: 'skipped', files: 0, bytes: 0, missing: 0, logLines: 0 });
    const key = (tenant: string, eventId: string) => JSON.stringify([tenant, eventId]);
    const there = new Set(
      (
        await this.#db.query<{ tenant: string; event_id: string }>(
          'looking events up',
          `SELECT m.tenant, m.event_id FROM ${this.#s}.messages m JOIN unnest($1::text[], $2::text[]) AS x(t, e) ON m.tenant = x.t AND m.event_id = x.e`,
          [lot.map((l) => l.record.tenant), lot.map((l) => l.record.eventId)],
        )
      ).rows.map((r) => key(r.tenant, r.event_id)),
    );
    const out = lot.map(skipped);
    const todo: { i: number; rec: SpoolRecord; dir: string | undefined; attachments: StoredAttachment[] }[] = [];
    for (const [i, { record: rec }] of lot.entries()) {
      if (there.has(key(rec.tenant, rec.eventId))) continue;
      out[i]!.outcome = 'copied';
      const dir = rec.attachments.length > 0 ? await this.#files.createDir(rec.eventId) : undefined;
      const attachments: StoredAttachment[] = [];
      for (const a of rec.attachments) {
        const name = path.basename(a.path);
        attachments.push({ ...a, path: path.join(dir!, name) });
        const copied = await this.#copyFrom(a.path, dir!, name, rec);
        if (copied === undefined) out[i]!.missing++;
        else (out[i]!.files++, (out[i]!.bytes += copied));
      }
      todo.push({ i, rec, dir, attachments });
    }
    if (todo.length === 0) return out;
    const inserted = await this.#db.tx('importing messages', async (q) => {
      const col = <T>(f: (t: (typeof todo)[number]) => T) => todo.map(f);
      const rows = (
        await q<{ seq: number; tenant: string; event_id: string }>(
          `INSERT INTO ${this.#s}.messages (event_id, tenant, type, event, attachments, files_dir, pending, delivered, failed, state, attempts, created_at, age_from, next_attempt_at, updated_at, last_error, last_error_code, message_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[])
           ON CONFLICT (tenant, event_id) DO NOTHING RETURNING seq, tenant, event_id`,
          [
            col((t) => t.rec.eventId),
            col((t) => t.rec.tenant),
            col((t) => t.rec.type),
            col((t) => JSON.stringify(t.rec.event)),
            col((t) => JSON.stringify(t.attachments.map((a) => ({ ...a, path: this.#relative(a.path) })))),
            col((t) => (t.dir === undefined ? null : this.#relative(t.dir))),
            col((t) => JSON.stringify(t.rec.pending)),
            col((t) => JSON.stringify(t.rec.delivered)),
            col((t) => JSON.stringify(t.rec.failed)),
            col((t) => t.rec.state),
            col((t) => t.rec.attempts),
            col((t) => t.rec.createdAt),
            col((t) => t.rec.ageFrom),
            col((t) => t.rec.nextAttemptAt),
            col((t) => t.rec.updatedAt),
            col((t) => t.rec.lastError ?? null),
            col((t) => t.rec.lastErrorCode ?? null),
            col((t) => t.rec.messageId),
          ],
        )
      ).rows;
      const seqs = new Map(rows.map((r) => [key(r.tenant, r.event_id), r.seq]));
      // Each log in the source's order: the ids grow with it, as a log is read back (ORDER BY id).
      const lines = todo.flatMap((t) => {
        const seq = seqs.get(key(t.rec.tenant, t.rec.eventId));
        return seq === undefined ? [] : lot[t.i]!.log.map((l) => ({ seq, l }));
      });
      if (lines.length > 0) {
        await q(
          `INSERT INTO ${this.#s}.delivery_log (message_seq, at, kind, code, detail, attempt)
           SELECT seq, at, kind, code, detail, attempt FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS x(seq, at, kind, code, detail, attempt, i) ORDER BY i`,
          [
            lines.map((x) => x.seq),
            lines.map((x) => x.l.at),
            lines.map((x) => x.l.kind),
            lines.map((x) => x.l.code ?? null),
            lines.map((x) => x.l.detail ?? null),
            lines.map((x) => (x.l.attempt === undefined ? null : JSON.stringify(x.l.attempt))),
          ],
        );
      }
      const woken = todo.filter((t) => t.rec.state === 'queued' && seqs.has(key(t.rec.tenant, t.rec.eventId))).map((t) => t.rec.tenant);
      if (woken.length > 0) await this.#notify(q, woken);
      return seqs;
    });
    for (const t of todo) {
      if (inserted.has(key(t.rec.tenant, t.rec.eventId))) {
        out[t.i]!.logLines = lot[t.i]!.log.length;
        continue;
      }
      // Another run got there between the look-up and the INSERT: its copies stay, these go.
      out[t.i] = skipped();
      if (t.dir !== undefined) await this.#files.remove(t.dir);
    }
    return out;
  }

  /** Streams the file at `from` into the store as `dir/name`; its size, or undefined when it is gone. */
  async #copyFrom(from: string, dir: string, name: string, rec: SpoolRecord): Promise<number | undefined> {
    let h: fs.promises.FileHandle;
    try {
      h = await fs.promises.open(from, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new PluginError('SPOOL_FAILURE', `spool: reading the attachment ${from} of ${rec.tenant} ${rec.eventId}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const { size } = await h.stat();
      await this.#files.copyIn(h, dir, name);
      return size;
    } finally {
      await h.close();
    }
  }

  /**
   * Adds another spool's per-tenant totals (counts added; last success and last failure the later
   * of the two) and its refusals (given newest first, as refusals() lists them), once: in one
   * transaction with a marker in `meta` named by a digest of what is added, so a second run of the
   * same migration adds nothing and answers `skipped`. Nothing to add is `copied` at once.
   */
  async importTotals(totals: readonly TenantTotals[], refusals: readonly StoredRefusal[]): Promise<'copied' | 'skipped'> {
    if (totals.length === 0 && refusals.length === 0) return 'copied';
    const digest = crypto.createHash('sha256').update(JSON.stringify({ totals, refusals })).digest('hex').slice(0, 32);
    return this.#db.tx('importing totals and refusals', async (q) => {
      const marked = await q(`INSERT INTO ${this.#s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key`, [`imported:${digest}`, new Date().toISOString()]);
      if (marked.rows.length === 0) return 'skipped';
      for (const t of [...totals].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0))) {
        await q(
          `INSERT INTO ${this.#s}.tenant_totals AS t (tenant, accepted, delivered, failed, partial, last_success_at, last_failure_at, last_failure_code, last_failure_message)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (tenant) DO UPDATE SET accepted = t.accepted + excluded.accepted, delivered = t.delivered + excluded.delivered,
             failed = t.failed + excluded.failed, partial = t.partial + excluded.partial,
             last_success_at = GREATEST(t.last_success_at, excluded.last_success_at),
             last_failure_at = GREATEST(t.last_failure_at, excluded.last_failure_at),
             last_failure_code = CASE WHEN excluded.last_failure_at > COALESCE(t.last_failure_at, -1) THEN excluded.last_failure_code ELSE t.last_failure_code END,
             last_failure_message = CASE WHEN excluded.last_failure_at > COALESCE(t.last_failure_at, -1) THEN excluded.last_failure_message ELSE t.last_failure_message END`,
          [t.tenant, t.accepted, t.delivered, t.failed, t.partial, t.lastSuccessAt ?? null, t.lastFailure?.at ?? null, t.lastFailure?.code ?? null, t.lastFailure?.message ?? null],
        );
      }
      if (refusals.length > 0) {
        const old = [...refusals].reverse();
        await q(
          `INSERT INTO ${this.#s}.refusals (at, tenant, event_id, event_type, code, field, message)
           SELECT at, tenant, event_id, event_type, code, field, message FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS x(at, tenant, event_id, event_type, code, field, message, i) ORDER BY i`,
          [
            old.map((r) => r.at),
            old.map((r) => r.tenant ?? null),
            old.map((r) => r.eventId ?? null),
            old.map((r) => r.eventType ?? null),
            old.map((r) => r.code),
            old.map((r) => r.field ?? null),
            old.map((r) => r.message),
          ],
        );
      }
      return 'copied';
    });
  }

  async tenantsWithWork(): Promise<TenantDue[]> {
    return (await this.#db.query<TenantDue>('listing tenants with queued mail', `SELECT tenant, MIN(next_attempt_at) AS "nextDue" FROM ${this.#s}.messages WHERE state = 'queued' GROUP BY tenant ORDER BY tenant COLLATE "C"`)).rows;
  }

  /**
   * One transaction: the tenant's breaker row, locked, serialises the tenant's claims across the
   * cluster; then as many due, unleased messages as perTenant (one while half-open) leaves room
   * for, leased to this node on the database clock.
   */
  async claim(req: ClaimRequest): Promise<Claim> {
    if (req.limit <= 0) return { seqs: [] };
    const { claim, attempts } = await this.#claim(req);
    attempts.forEach((n, seq) => this.#claimed.set(seq, n));
    return claim;
  }

  /** One round trip: the schema's claim_due function (pg-schema.ts) does the claim's work under the tenant's breaker row lock. */
  async #claim(req: ClaimRequest): Promise<{ claim: Claim; attempts: Map<number, number> }> {
    const rows = (
      await this.#db.query<{ c_seq: number | null; c_due: number | null; c_attempts: number | null; c_wait: number | null; c_code: string | null; c_message: string | null }>(
        'claiming due mail',
        `SELECT * FROM ${this.#s}.claim_due($1, $2, $3, $4, $5, $6, $7::bigint[])`,
        [req.tenant, this.#owner, this.#leaseMs, req.now, req.limit, req.perTenant, [...req.exclude]],
      )
    ).rows;
    const wait = rows.find((r) => r.c_wait !== null);
    if (wait) return { claim: { seqs: [], waitMs: wait.c_wait!, ...(wait.c_code !== null && { hold: { code: wait.c_code, message: wait.c_message ?? '' } }) }, attempts: new Map() };
    return { claim: { seqs: rows.map((r) => r.c_seq!) }, attempts: new Map(rows.map((r) => [r.c_seq!, r.c_attempts!])) };
  }

  async release(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    for (const seq of seqs) this.#claimed.delete(seq);
    await this.#db.query(
      'releasing claims',
      `WITH r AS (UPDATE ${this.#s}.messages SET lease_owner = NULL, lease_until = NULL WHERE seq = ANY($1::bigint[]) AND lease_owner = $2 RETURNING tenant)
       SELECT pg_notify($3, t) FROM (SELECT DISTINCT tenant AS t FROM r) AS d`,
      [seqs, this.#owner, this.#channel],
    );
  }

  async nextDue(tenant: string, exclude: ReadonlySet<number>): Promise<number | undefined> {
    const r = await this.#db.query<{ due: number | null }>(
      'reading when mail is due',
      `WITH now AS (SELECT ${DB_NOW} AS t)
       SELECT MIN(GREATEST(next_attempt_at, CASE WHEN lease_owner IS NOT NULL AND lease_until > now.t THEN lease_until ELSE 0 END)) AS due
       FROM ${this.#s}.messages, now
       WHERE tenant = $1 AND state = 'queued' AND seq <> ALL($2::bigint[]) AND NOT (lease_owner IS NOT DISTINCT FROM $3 AND lease_until > now.t)`,
      [tenant, [...exclude], this.#owner],
    );
    return r.rows[0]?.due ?? undefined;
  }

  async get(seq: number): Promise<SpoolRecord | undefined> {
    const r = (await this.#db.query<Row>('reading a message', `SELECT * FROM ${this.#s}.messages WHERE seq = $1`, [seq])).rows[0];
    return r && this.#fromRow(r);
  }

  async getByEventId(tenant: string | undefined, eventId: string): Promise<SpoolRecord | undefined> {
    const r = (
      tenant === undefined
        ? await this.#db.query<Row>('looking an event up', `SELECT * FROM ${this.#s}.messages WHERE event_id = $1 ORDER BY seq LIMIT 1`, [eventId])
        : await this.#db.query<Row>('looking an event up', `SELECT * FROM ${this.#s}.messages WHERE tenant = $1 AND event_id = $2`, [tenant, eventId])
    ).rows[0];
    return r && this.#fromRow(r);
  }

  async reschedule(tenant: string, at: number): Promise<void> {
    await this.#db.tx('rescheduling a tenant', async (q) => {
      const r = await q(`UPDATE ${this.#s}.messages SET next_attempt_at = $1 WHERE state = 'queued' AND tenant = $2 AND next_attempt_at > $1`, [at, tenant]);
      if ((r.rowCount ?? 0) > 0) await this.#notify(q, [tenant]);
    });
  }

  async rebase(now: number, latest: number): Promise<{ tenant: string; count: number }[]> {
    return (
      await this.#db.query<{ tenant: string; count: number }>(
        'rebasing due times',
        `WITH u AS (UPDATE ${this.#s}.messages SET next_attempt_at = $1 WHERE state = 'queued' AND next_attempt_at > $2 RETURNING tenant)
         SELECT tenant, COUNT(*)::int AS count FROM u GROUP BY tenant ORDER BY tenant COLLATE "C"`,
        [now, latest],
      )
    ).rows;
  }

  async recordAttempts(outcomes: readonly AttemptWrite[]): Promise<void> {
    if (outcomes.length === 0) return;
    const started = performance.now();
    await this.#db.tx('recording attempts', (q) => this.#recordAll(q, outcomes));
    for (const { seq } of outcomes) this.#claimed.delete(seq);
    this.#observer?.wrote('attempt', (performance.now() - started) / 1000);
  }

  /**
   * One transaction for the lot, as SqliteSpool: each outcome with its log and outcome lines, the
   * tenants' totals once per tenant; the leases end, and each tenant's lanes elsewhere are woken.
   */
  async #recordAll(q: Query, outcomes: readonly AttemptWrite[]): Promise<void> {
    const now = Date.now();
    const tenants = new Map<string, TenantLot>();
    // A seq twice in one lot: its second outcome follows its first (this.#claimed changes only after COMMIT).
    const lot = new Map<number, number | undefined>();
    // Rows locked in seq order: two nodes' lots never wait on each other in a circle.
    const cur = new Map<number, { tenant: string; delivered: string; failed: string; attempts: number }>();
    for (const r of (await q<{ seq: number; tenant: string; delivered: string; failed: string; attempts: number }>(`SELECT seq, tenant, delivered, failed, attempts FROM ${this.#s}.messages WHERE seq = ANY($1::bigint[]) ORDER BY seq FOR UPDATE`, [outcomes.map((o) => o.seq)])).rows) {
      cur.set(r.seq, r);
    }
    for (const { seq, outcome: o } of outcomes) {
      const c = cur.get(seq);
      if (!c) continue;
      const claimedAt = lot.has(seq) ? lot.get(seq) : this.#claimed.get(seq);
      if (claimedAt !== undefined && c.attempts !== claimedAt) {
        // Written already (this lot's earlier COMMIT went through unacknowledged), or an operator changed it since the claim.
        await q(`UPDATE ${this.#s}.messages SET lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND lease_owner = $2`, [seq, this.#owner]);
        continue;
      }
      const delivered = o.deliveredNow.length === 0 ? c.delivered : JSON.stringify([...JSON.parse(c.delivered), ...o.deliveredNow]);
      const failed = o.failedNow.length === 0 ? c.failed : JSON.stringify([...JSON.parse(c.failed), ...o.failedNow]);
      // A seq twice in one lot sees its own first write, as in SQLite.
      cur.set(seq, { ...c, delivered, failed });
      lot.set(seq, claimedAt === undefined ? undefined : o.attempts);
      await q(
        `UPDATE ${this.#s}.messages SET state = $2, pending = $3, delivered = $4, failed = $5, attempts = $6, next_attempt_at = $7, updated_at = $8,
         last_error = $9, last_error_code = $10, lease_owner = NULL, lease_until = NULL WHERE seq = $1`,
        [seq, o.state, JSON.stringify(o.pending), delivered, failed, o.attempts, o.nextAttemptAt, now, o.lastError ?? null, o.lastErrorCode ?? null],
      );
      if (o.log) {
        await this.#log.line(q, seq, o.log.at, 'attempt', o.log.code ?? null, o.lastError === undefined ? o.log.outcome : `${o.log.outcome}: ${o.lastError}`, JSON.stringify(o.log));
      }
      let t = tenants.get(c.tenant);
      if (!t) tenants.set(c.tenant, (t = { succeeded: false, settled: { delivered: 0, failed: 0, partial: 0 } }));
      if (o.deliveredNow.length > 0) t.succeeded = true;
      if (o.lastError !== undefined && (o.failedNow.length > 0 || o.pending.length > 0)) t.failure = { code: o.lastErrorCode ?? null, message: o.lastError };
      if (o.state !== 'queued') {
        await this.#log.outcome(q, seq, o.state, now, o.lastErrorCode);
        countSettled(t.settled, o.state);
      }
    }
    await this.#log.tenants(q, tenants, now);
    if (tenants.size > 0) await this.#notify(q, tenants.keys());
  }

  /**
   * The shared breaker. A success closes it; a failure opens it for `holdFor(failures)` on the
   * database clock and makes the next claim a single probe. A failure while a hold is already
   * running (a sibling session's, on this node or another) keeps that hold and is not counted again.
   */
  async reportHealth(tenant: string, report: HealthReport): Promise<number | undefined> {
    if ('reset' in report) {
      // Every instance holding the tenant looks again: the hold is over, the next claim is the probe.
      await this.#db.query(
        'resetting a tenant breaker',
        `WITH b AS (INSERT INTO ${this.#s}.tenant_breakers AS b (tenant) VALUES ($1)
                    ON CONFLICT (tenant) DO UPDATE SET failures = 0, probing = true, hold_until = NULL, code = NULL, message = NULL RETURNING tenant)
         SELECT pg_notify($2, tenant) FROM b`,
        [tenant, this.#channel],
      );
      return undefined;
    }
    if (report.ok) {
      await this.#db.query(
        'closing a tenant breaker',
        `INSERT INTO ${this.#s}.tenant_breakers AS b (tenant, failures, probing, hold_until) VALUES ($1, 0, false, NULL)
         ON CONFLICT (tenant) DO UPDATE SET failures = 0, probing = false, hold_until = NULL, code = NULL, message = NULL
         WHERE b.failures <> 0 OR b.probing OR b.hold_until IS NOT NULL`,
        [tenant],
      );
      return undefined;
    }
    return this.#db.tx('opening a tenant breaker', async (q) => {
      await q(`INSERT INTO ${this.#s}.tenant_breakers (tenant) VALUES ($1) ON CONFLICT (tenant) DO NOTHING`, [tenant]);
      const b = (await q<{ failures: number; hold_until: number | null; now: number }>(`SELECT failures, hold_until, ${DB_NOW} AS now FROM ${this.#s}.tenant_breakers WHERE tenant = $1 FOR UPDATE`, [tenant])).rows[0]!;
      if (b.hold_until !== null && b.hold_until > b.now) return undefined;
      const failures = b.failures + 1;
      const hold = Math.max(0, Math.round(report.holdFor(failures)));
      await q(`UPDATE ${this.#s}.tenant_breakers SET failures = $2, probing = true, hold_until = $3, code = $4, message = $5 WHERE tenant = $1`, [
        tenant,
        failures,
        b.now + hold,
        report.code,
        report.message,
      ]);
      return hold;
    });
  }

  onWake(fn: (tenant: string) => void): () => void {
    return this.#wake.on(fn);
  }

  /** True while the LISTEN connection is up (a lost one is being made again). */
  get listening(): boolean {
    return this.#wake.connected;
  }

  async purge(deliveredBefore: number, failedBefore: number): Promise<number> {
    await this.#db.tx('purging old refusals', (q) => this.#log.purgeRefusals(q, failedBefore));
    let total = 0;
    for (;;) {
      const rows = await this.#db.tx('purging old records', async (q) => {
        const found = (
          await q<{ seq: number; files_dir: string | null }>(
            `DELETE FROM ${this.#s}.messages WHERE seq IN (
               SELECT seq FROM ${this.#s}.messages WHERE (state = 'delivered' AND updated_at < $1) OR (state IN ('failed', 'partial', 'discarded') AND updated_at < $2) LIMIT 1000 FOR UPDATE SKIP LOCKED)
             RETURNING seq, files_dir`,
            [deliveredBefore, failedBefore],
          )
        ).rows;
        await this.#log.forget(q, found.map((r) => r.seq));
        await this.#files.forget(q, found.flatMap((r) => (r.files_dir ? [path.posix.basename(r.files_dir)] : [])));
        return found;
      });
      if (rows.length === 0) return total;
      for (const r of rows) if (r.files_dir) await fs.promises.rm(path.join(this.#dataDir, r.files_dir), { recursive: true, force: true });
      total += rows.length;
    }
  }

  async counts(): Promise<Record<StoredState, number>> {
    const out: Record<StoredState, number> = { queued: 0, delivered: 0, partial: 0, failed: 0, discarded: 0 };
    for (const r of (await this.#db.query<{ state: StoredState; n: number }>('counting messages', `SELECT state, COUNT(*)::int AS n FROM ${this.#s}.messages GROUP BY state`)).rows) out[r.state] = r.n;
    return out;
  }

  async list(q: ListQuery): Promise<SpoolRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => (args.push(v), `$${args.length}`);
    if (q.tenant !== undefined) where.push(`tenant = ${arg(q.tenant)}`);
    if (q.states) where.push(`state = ANY(${arg([...q.states])}::text[])`);
    if (q.attempted !== undefined) where.push(q.attempted ? 'attempts > 0' : 'attempts = 0');
    if (q.seqs) where.push(`seq = ANY(${arg([...q.seqs])}::bigint[])`);
    if (q.excludeSeqs && q.excludeSeqs.size > 0) where.push(`seq <> ALL(${arg([...q.excludeSeqs])}::bigint[])`);
    if (q.before !== undefined) where.push(`created_at < ${arg(q.before)}`);
    const sql = `SELECT * FROM ${this.#s}.messages${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, seq DESC LIMIT ${arg(q.limit)}`;
    return (await this.#db.query<Row>('listing messages', sql, args)).rows.map((r) => this.#fromRow(r));
  }

  async log(seq: number): Promise<StoredLogEntry[]> {
    return this.#db.withClient('reading a delivery log', (q) => this.#log.read(q, seq));
  }

  async revive(seq: number, now: number): Promise<SpoolRecord | undefined> {
    return this.#db.tx('retrying a message', async (q) => {
      const cur = (await q<Row>(`SELECT * FROM ${this.#s}.messages WHERE seq = $1 FOR UPDATE`, [seq])).rows[0];
      if (!cur) return undefined;
      if (cur.state === 'queued') {
        await q(`UPDATE ${this.#s}.messages SET next_attempt_at = $1 WHERE seq = $2 AND state = 'queued'`, [now, seq]);
      } else if (cur.state === 'failed' || cur.state === 'partial') {
        await q(`UPDATE ${this.#s}.messages SET state = 'queued', pending = $2, failed = '[]', attempts = 0, age_from = $3, next_attempt_at = $3, updated_at = $3 WHERE seq = $1`, [
          seq,
          JSON.stringify([...JSON.parse(cur.pending), ...JSON.parse(cur.failed)]),
          now,
        ]);
      } else {
        return undefined;
      }
      await this.#log.line(q, seq, now, 'operator', null, cur.state === 'queued' ? 'retry: due now' : `retry: revived from ${cur.state}`);
      await this.#notify(q, [cur.tenant]);
      return this.#fromRow((await q<Row>(`SELECT * FROM ${this.#s}.messages WHERE seq = $1`, [seq])).rows[0]!);
    });
  }

  async discard(seq: number, now: number, reason: string): Promise<string[] | undefined> {
    return this.#db.tx('discarding a message', async (q) => {
      const cur = (await q<Row>(`SELECT * FROM ${this.#s}.messages WHERE seq = $1 FOR UPDATE`, [seq])).rows[0];
      if (!cur || cur.state === 'delivered' || cur.state === 'discarded') return undefined;
      const pending = JSON.parse(cur.pending) as string[];
      await q(`UPDATE ${this.#s}.messages SET state = 'discarded', pending = '[]', failed = $2, updated_at = $3, last_error = $4, last_error_code = 'DISCARDED' WHERE seq = $1`, [
        seq,
        JSON.stringify([...JSON.parse(cur.failed), ...pending]),
        now,
        reason,
      ]);
      await this.#log.line(q, seq, now, 'operator', 'DISCARDED', 'discard');
      // A settled message (failed, partial) was counted when it settled; a queued one settles now.
      if (cur.state === 'queued') await this.#log.settle(q, seq, cur.tenant, 'discarded', now, 'DISCARDED');
      else await this.#log.outcome(q, seq, 'discarded', now, 'DISCARDED');
      return pending;
    });
  }

  async settledFailedSince(tenant: string, since: number): Promise<number[]> {
    const r = await this.#db.query<{ seq: number }>('listing failed messages', `SELECT seq FROM ${this.#s}.messages WHERE state IN ('failed', 'partial') AND tenant = $1 AND updated_at >= $2 ORDER BY seq`, [tenant, since]);
    return r.rows.map((x) => x.seq);
  }

  async depth(): Promise<TenantDepth[]> {
    return (
      await this.#db.query<TenantDepth>(
        'counting messages',
        `SELECT tenant, state, COUNT(*)::int AS count, SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END)::int AS attempted,
                MIN(CASE WHEN state = 'queued' THEN created_at END) AS oldest
         FROM ${this.#s}.messages GROUP BY tenant, state ORDER BY tenant COLLATE "C", state COLLATE "C"`,
      )
    ).rows;
  }

  async totals(): Promise<TenantTotals[]> {
    return this.#db.withClient('reading totals', (q) => this.#log.totals(q));
  }

  async refuse(r: StoredRefusal): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#db.tx('recording a refusal', (q) => this.#log.refuse(q, r));
    } catch {
      // A refusal the database cannot take (it is unreachable, say) is still answered and logged by the host; the record is best effort.
    }
  }

  async refusals(q: { tenant?: string; limit: number }): Promise<StoredRefusal[]> {
    return this.#db.withClient('reading refusals', (c) => this.#log.refusals(c, q));
  }

  async stateStats(): Promise<StateStats[]> {
    return (
      await this.#db.query<StateStats>(
        'counting messages',
        `SELECT * FROM (
           SELECT CASE WHEN state = 'queued' AND attempts > 0 THEN 'deferred' ELSE state END AS state, COUNT(*)::int AS count, MIN(created_at) AS "oldestCreatedAt"
           FROM ${this.#s}.messages GROUP BY 1) AS s
         ORDER BY state COLLATE "C"`,
      )
    ).rows;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  get files(): PgFiles {
    return this.#files;
  }

  /**
   * Empties this node's local copies (a cache: they are fetched again when needed) and deletes
   * stored copies no message names, older than an hour. Resolves with how many of those orphans
   * went: the cache's directories are no orphans (a restart with queued mail leaves them), and
   * counting them would have the plugin log them as copies a crash left unqueued.
   */
  async sweepOrphans(): Promise<number> {
    try {
      await this.#files.sweepLocal();
    } catch (e) {
      throw new PluginError('SPOOL_FAILURE', `spool: emptying ${this.#files.root}: ${(e as Error).message}`, { cause: e });
    }
    return this.#files.sweepStored(Date.now() - ORPHAN_GRACE_MS);
  }

  /** Commits a pending accept batch, stops the heartbeat, gives this node's leases back (best effort), and ends every connection. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#flushing) {
      clearImmediate(this.#flushing);
      await this.#flush();
    }
    while (this.#inFlight) await this.#inFlight;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.#wake.close();
    try {
      await this.#db.query(
        'releasing claims',
        `WITH r AS (UPDATE ${this.#s}.messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 RETURNING tenant)
         SELECT pg_notify($2, t) FROM (SELECT DISTINCT tenant AS t FROM r) AS d`,
        [this.#owner, this.#channel],
      );
    } catch {
      // Unreachable: the leases run out on their own.
    }
    await this.#db.end().catch(() => undefined);
  }
}
