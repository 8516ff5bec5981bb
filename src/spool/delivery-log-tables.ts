import type Database from 'better-sqlite3';
import type { LogLimits, StoredLogEntry, StoredRefusal, StoredState, TenantTotals } from './spool';
import { countSettled, logEntryFromRow, refusalFromRow, totalsFromRow, type LogRow, type RefusalRow, type TenantLot, type TotalsRow } from './rows';

/**
 * The spool's delivery log, refusals and per-tenant totals (tables `delivery_log`, `refusals`,
 * `tenant_totals`): written through the spool's own connection, inside the spool's transactions
 * (the caller's), so a message's state and its log lines never disagree. Bounded by `limits()`.
 */
export class DeliveryLogTables {
  readonly #limits: () => LogLimits;
  readonly #stmt;

  constructor(db: Database.Database, limits: () => LogLimits) {
    this.#limits = limits;
    this.#stmt = {
      insert: db.prepare('INSERT INTO delivery_log (message_seq, at, kind, code, detail, attempt) VALUES (?, ?, ?, ?, ?, ?)'),
      // Deletes what is older than the newest `keep` lines of a kind; nothing (a NULL bound) while there are no more than `keep`.
      trim: db.prepare(
        'DELETE FROM delivery_log WHERE message_seq = @seq AND kind = @kind AND id <= (SELECT id FROM delivery_log WHERE message_seq = @seq AND kind = @kind ORDER BY id DESC LIMIT 1 OFFSET @keep)',
      ),
      read: db.prepare('SELECT at, kind, code, detail, attempt FROM delivery_log WHERE message_seq = ? ORDER BY id'),
      forget: db.prepare('DELETE FROM delivery_log WHERE message_seq = ?'),
      settled: db.prepare(
        `INSERT INTO tenant_totals (tenant, delivered, failed, partial) VALUES (@tenant, @delivered, @failed, @partial)
         ON CONFLICT (tenant) DO UPDATE SET delivered = delivered + excluded.delivered, failed = failed + excluded.failed, partial = partial + excluded.partial`,
      ),
      success: db.prepare('INSERT INTO tenant_totals (tenant, last_success_at) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET last_success_at = excluded.last_success_at'),
      failure: db.prepare(
        `INSERT INTO tenant_totals (tenant, last_failure_at, last_failure_code, last_failure_message) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant) DO UPDATE SET last_failure_at = excluded.last_failure_at, last_failure_code = excluded.last_failure_code, last_failure_message = excluded.last_failure_message`,
      ),
      totals: db.prepare('SELECT * FROM tenant_totals ORDER BY tenant'),
      refuse: db.prepare('INSERT INTO refusals (at, tenant, event_id, event_type, code, field, message) VALUES (@at, @tenant, @eventId, @eventType, @code, @field, @message)'),
      refusals: db.prepare('SELECT * FROM refusals ORDER BY id DESC LIMIT ?'),
      tenantRefusals: db.prepare('SELECT * FROM refusals WHERE tenant = ? ORDER BY id DESC LIMIT ?'),
      // Ids only grow and only the oldest rows are deleted, so the newest `max` are those above id - max.
      trimRefusals: db.prepare('DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - ?'),
      purgeRefusals: db.prepare('DELETE FROM refusals WHERE at < ?'),
    };
  }

  /** Adds a line to a message's log, keeping the latest maxAttemptsPerMessage lines of its kind. */
  line(seq: number, at: number, kind: StoredLogEntry['kind'], code: string | null, detail: string, attempt: string | null = null): void {
    this.#stmt.insert.run(seq, at, kind, code, detail, attempt);
    this.#stmt.trim.run({ seq, kind, keep: this.#limits().maxAttemptsPerMessage });
  }

  /** The outcome line of a message that was just settled. */
  outcome(seq: number, state: StoredState, at: number, code: string | undefined): void {
    this.line(seq, at, 'outcome', state === 'delivered' ? null : (code ?? null), state);
  }

  /** The outcome line of a message settled on its own (not in a lot), and its tenant's totals. */
  settle(seq: number, tenant: string, state: StoredState, at: number, code: string | undefined): void {
    this.outcome(seq, state, at, code);
    const settled = { delivered: 0, failed: 0, partial: 0 };
    countSettled(settled, state);
    this.#stmt.settled.run({ tenant, ...settled });
  }

  /** Each tenant's totals, last success and last failure after a lot of attempts. */
  tenants(lots: ReadonlyMap<string, TenantLot>, at: number): void {
    for (const [tenant, t] of lots) {
      if (t.succeeded) this.#stmt.success.run(tenant, at);
      if (t.failure) this.#stmt.failure.run(tenant, at, t.failure.code, t.failure.message);
      if (t.settled.delivered + t.settled.failed + t.settled.partial > 0) this.#stmt.settled.run({ tenant, ...t.settled });
    }
  }

  /** A message's log, oldest first. */
  read(seq: number): StoredLogEntry[] {
    return (this.#stmt.read.all(seq) as LogRow[]).map(logEntryFromRow);
  }

  /** Deletes a purged message's log. */
  forget(seq: number): void {
    this.#stmt.forget.run(seq);
  }

  totals(): TenantTotals[] {
    return (this.#stmt.totals.all() as TotalsRow[]).map(totalsFromRow);
  }

  /** Records a refusal, keeping the latest maxRefusals. */
  refuse(r: StoredRefusal): void {
    this.#stmt.refuse.run({ at: r.at, tenant: r.tenant ?? null, eventId: r.eventId ?? null, eventType: r.eventType ?? null, code: r.code, field: r.field ?? null, message: r.message });
    this.#stmt.trimRefusals.run(this.#limits().maxRefusals);
  }

  refusals(q: { tenant?: string; limit: number }): StoredRefusal[] {
    return ((q.tenant === undefined ? this.#stmt.refusals.all(q.limit) : this.#stmt.tenantRefusals.all(q.tenant, q.limit)) as RefusalRow[]).map(refusalFromRow);
  }

  /** Deletes refusals older than `before`, and any beyond maxRefusals. */
  purgeRefusals(before: number): void {
    this.#stmt.purgeRefusals.run(before);
    this.#stmt.trimRefusals.run(this.#limits().maxRefusals);
  }
}
