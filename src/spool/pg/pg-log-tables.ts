import type { LogLimits, StoredLogEntry, StoredRefusal, StoredState, TenantTotals } from '../spool';
import { countSettled, logEntryFromRow, refusalFromRow, totalsFromRow, type LogRow, type RefusalRow, type TenantLot, type TotalsRow } from '../rows';
import type { Query } from './pg-db';

/**
 * The delivery log, refusals and per-tenant totals in PostgreSQL, as DeliveryLogTables keeps them
 * in SQLite: every write goes through the caller's query (its transaction), so a message's state
 * and its log lines never disagree. Bounded by `limits()`.
 */
export class PgLogTables {
  readonly #s: string;
  readonly #limits: () => LogLimits;

  /** `s`: the quoted schema. */
  constructor(s: string, limits: () => LogLimits) {
    this.#s = s;
    this.#limits = limits;
  }

  /** Adds a line to a message's log, keeping the latest maxAttemptsPerMessage lines of its kind. */
  async line(q: Query, seq: number, at: number, kind: StoredLogEntry['kind'], code: string | null, detail: string, attempt: string | null = null): Promise<void> {
    await q(`INSERT INTO ${this.#s}.delivery_log (message_seq, at, kind, code, detail, attempt) VALUES ($1, $2, $3, $4, $5, $6)`, [seq, at, kind, code, detail, attempt]);
    // Deletes what is older than the newest `keep` lines of a kind; nothing (a NULL bound) while there are no more than `keep`.
    await q(
      `DELETE FROM ${this.#s}.delivery_log WHERE message_seq = $1 AND kind = $2 AND id <= (SELECT id FROM ${this.#s}.delivery_log WHERE message_seq = $1 AND kind = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)`,
      [seq, kind, this.#limits().maxAttemptsPerMessage],
    );
  }

  /** The outcome line of a message that was just settled. */
  outcome(q: Query, seq: number, state: StoredState, at: number, code: string | undefined): Promise<void> {
    return this.line(q, seq, at, 'outcome', state === 'delivered' ? null : (code ?? null), state);
  }

  /** The outcome line of a message settled on its own (not in a lot), and its tenant's totals. */
  async settle(q: Query, seq: number, tenant: string, state: StoredState, at: number, code: string | undefined): Promise<void> {
    await this.outcome(q, seq, state, at, code);
    const settled = { delivered: 0, failed: 0, partial: 0 };
    countSettled(settled, state);
    await this.#settled(q, tenant, settled);
  }

  #settled(q: Query, tenant: string, t: TenantLot['settled']): Promise<unknown> {
    return q(
      `INSERT INTO ${this.#s}.tenant_totals AS t (tenant, delivered, failed, partial) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant) DO UPDATE SET delivered = t.delivered + excluded.delivered, failed = t.failed + excluded.failed, partial = t.partial + excluded.partial`,
      [tenant, t.delivered, t.failed, t.partial],
    );
  }

  /** Adds accepted events to tenants' totals (in the accepts' transaction: they count exactly what was queued). Tenants in order: concurrent accepts lock their rows in one order. */
  async accepted(q: Query, per: ReadonlyMap<string, number>): Promise<void> {
    if (per.size === 0) return;
    const tenants = [...per.keys()].sort();
    await q(
      `INSERT INTO ${this.#s}.tenant_totals AS t (tenant, accepted) SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
       ON CONFLICT (tenant) DO UPDATE SET accepted = t.accepted + excluded.accepted`,
      [tenants, tenants.map((t) => per.get(t)!)],
    );
  }

  /** Each tenant's totals, last success and last failure after a lot of attempts (tenants in order, one lock order for every node). */
  async tenants(q: Query, lots: ReadonlyMap<string, TenantLot>, at: number): Promise<void> {
    for (const tenant of [...lots.keys()].sort()) {
      const t = lots.get(tenant)!;
      if (t.succeeded) {
        await q(`INSERT INTO ${this.#s}.tenant_totals (tenant, last_success_at) VALUES ($1, $2) ON CONFLICT (tenant) DO UPDATE SET last_success_at = excluded.last_success_at`, [tenant, at]);
      }
      if (t.failure) {
        await q(
          `INSERT INTO ${this.#s}.tenant_totals (tenant, last_failure_at, last_failure_code, last_failure_message) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant) DO UPDATE SET last_failure_at = excluded.last_failure_at, last_failure_code = excluded.last_failure_code, last_failure_message = excluded.last_failure_message`,
          [tenant, at, t.failure.code, t.failure.message],
        );
      }
      if (t.settled.delivered + t.settled.failed + t.settled.partial > 0) await this.#settled(q, tenant, t.settled);
    }
  }

  /** A message's log, oldest first. */
  async read(q: Query, seq: number): Promise<StoredLogEntry[]> {
    const rows = (await q<LogRow>(`SELECT at, kind, code, detail, attempt FROM ${this.#s}.delivery_log WHERE message_seq = $1 ORDER BY id`, [seq])).rows;
    return rows.map(logEntryFromRow);
  }

  /** Deletes purged messages' logs. */
  async forget(q: Query, seqs: readonly number[]): Promise<void> {
    await q(`DELETE FROM ${this.#s}.delivery_log WHERE message_seq = ANY($1::bigint[])`, [seqs]);
  }

  async totals(q: Query): Promise<TenantTotals[]> {
    // COLLATE "C": the byte order SQLite sorts text in.
    const rows = (await q<TotalsRow>(`SELECT * FROM ${this.#s}.tenant_totals ORDER BY tenant COLLATE "C"`)).rows;
    return rows.map(totalsFromRow);
  }

  /** Records a refusal, keeping the latest maxRefusals. */
  async refuse(q: Query, r: StoredRefusal): Promise<void> {
    await q(`INSERT INTO ${this.#s}.refusals (at, tenant, event_id, event_type, code, field, message) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      r.at,
      r.tenant ?? null,
      r.eventId ?? null,
      r.eventType ?? null,
      r.code,
      r.field ?? null,
      r.message,
    ]);
    await this.#trimRefusals(q);
  }

  // Ids only grow and only the oldest rows are deleted, so the newest `max` are those above id - max.
  #trimRefusals(q: Query): Promise<unknown> {
    return q(`DELETE FROM ${this.#s}.refusals WHERE id <= (SELECT MAX(id) FROM ${this.#s}.refusals) - $1`, [this.#limits().maxRefusals]);
  }

  async refusals(q: Query, f: { tenant?: string; limit: number }): Promise<StoredRefusal[]> {
    const rows = (
      f.tenant === undefined
        ? await q<RefusalRow>(`SELECT * FROM ${this.#s}.refusals ORDER BY id DESC LIMIT $1`, [f.limit])
        : await q<RefusalRow>(`SELECT * FROM ${this.#s}.refusals WHERE tenant = $1 ORDER BY id DESC LIMIT $2`, [f.tenant, f.limit])
    ).rows;
    return rows.map(refusalFromRow);
  }

  /** Deletes refusals older than `before`, and any beyond maxRefusals. */
  async purgeRefusals(q: Query, before: number): Promise<void> {
    await q(`DELETE FROM ${this.#s}.refusals WHERE at < $1`, [before]);
    await this.#trimRefusals(q);
  }
}
