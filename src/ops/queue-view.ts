import { leadingCode, type SpoolRecord, type StoredLogEntry, type StoredRefusal, type TenantDepth, type TenantTotals } from '../spool';
import type { LaneStatus } from '../delivery';
import { MESSAGE_STATES, type AttemptRecord, type LogEntry, type MessageDetail, type MessageState, type MessageSummary, type RefusalRecord, type TenantOpsStatus } from './types';

const iso = (ms: number) => new Date(ms).toISOString();

/** The operations state of a stored message: queued mail is `sending` while in flight, `deferred` once attempted. */
export function opsState(rec: Pick<SpoolRecord, 'seq' | 'state' | 'attempts' | 'claimedBy'>, inFlight: ReadonlySet<number>): MessageState {
  if (rec.state !== 'queued') return rec.state;
  // In flight here, or claimed by another instance sharing the spool.
  if (inFlight.has(rec.seq) || rec.claimedBy !== undefined) return 'sending';
  return rec.attempts > 0 ? 'deferred' : 'queued';
}

/** Every recipient of the event's mail. */
function recipientsOf(rec: SpoolRecord): string[] {
  const email = (rec.event.data as { recipient?: { email?: unknown } }).recipient?.email;
  return Array.isArray(email) ? email.map(String) : [...rec.delivered, ...rec.failed, ...rec.pending];
}

export function summary(rec: SpoolRecord, inFlight: ReadonlySet<number>): MessageSummary {
  const state = opsState(rec, inFlight);
  return {
    tenant: rec.tenant,
    eventId: rec.eventId,
    eventType: rec.type,
    state,
    attempts: rec.attempts,
    acceptedAt: iso(rec.createdAt),
    updatedAt: iso(rec.updatedAt),
    ...((state === 'queued' || state === 'deferred') && { nextAttemptAt: iso(rec.nextAttemptAt) }),
    ...(rec.lastError !== undefined && { lastError: { code: rec.lastErrorCode ?? leadingCode(rec.lastError) ?? 'UNKNOWN', message: rec.lastError } }),
    recipients: recipientsOf(rec),
  };
}

export function detail(rec: SpoolRecord, inFlight: ReadonlySet<number>, entries: StoredLogEntry[]): MessageDetail {
  const attemptsLog: AttemptRecord[] = [];
  const log: LogEntry[] = [{ at: iso(rec.createdAt), kind: 'accepted' }];
  for (const e of entries) {
    if (e.kind === 'attempt' && e.attempt) attemptsLog.push({ ...e.attempt, at: iso(e.attempt.at) });
    log.push({ at: iso(e.at), kind: e.kind, ...(e.code !== undefined && { code: e.code }), ...(e.detail !== undefined && { detail: e.detail }) });
  }
  return { ...summary(rec, inFlight), attemptsLog, log };
}

export function refusal(r: StoredRefusal): RefusalRecord {
  return { ...r, at: iso(r.at) };
}

const zeroDepth = (): Record<MessageState, number> => Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageState, number>;

export interface StatusInputs {
  now: number;
  /** Tenants listed in the configuration. */
  configured: readonly string[];
  depth: TenantDepth[];
  /** The in-flight messages, as stored (their tenant and attempts). */
  sending: Pick<SpoolRecord, 'tenant' | 'attempts'>[];
  totals: TenantTotals[];
  lanes: LaneStatus[];
}

/** Per-tenant status: every configured tenant, and every tenant the spool or the scheduler knows. */
export function tenantStatuses(i: StatusInputs): TenantOpsStatus[] {
  const names = new Set<string>([...i.configured, ...i.depth.map((d) => d.tenant), ...i.totals.map((t) => t.tenant), ...i.lanes.map((l) => l.tenant)]);
  const out: TenantOpsStatus[] = [];
  for (const tenant of [...names].sort()) {
    const depth = zeroDepth();
    let oldest: number | undefined;
    for (const d of i.depth) {
      if (d.tenant !== tenant) continue;
      if (d.state === 'queued') {
        depth.deferred += d.attempted;
        depth.queued += d.count - d.attempted;
        if (d.oldest !== null) oldest = Math.min(oldest ?? Infinity, d.oldest);
      } else depth[d.state] += d.count;
    }
    for (const s of i.sending) {
      if (s.tenant !== tenant) continue;
      depth.sending++;
      if (s.attempts > 0) depth.deferred--;
      else depth.queued--;
    }
    const lane = i.lanes.find((l) => l.tenant === tenant);
    const t = i.totals.find((x) => x.tenant === tenant);
    out.push({
      tenant,
      depth,
      ...(oldest !== undefined && { oldestQueuedAgeMs: Math.max(0, i.now - oldest) }),
      held: lane?.held ?? false,
      ...(lane?.holdReason && { holdReason: lane.holdReason }),
      ...(lane?.nextProbeAt !== undefined && { nextProbeAt: iso(lane.nextProbeAt) }),
      ...(t?.lastSuccessAt !== undefined && { lastSuccessAt: iso(t.lastSuccessAt) }),
      ...(t?.lastFailure && { lastFailure: { at: iso(t.lastFailure.at), code: t.lastFailure.code, message: t.lastFailure.message } }),
      totals: { accepted: t?.accepted ?? 0, delivered: t?.delivered ?? 0, failed: t?.failed ?? 0, partial: t?.partial ?? 0 },
      active: lane?.active ?? 0,
      failures: lane?.failures ?? 0,
    });
  }
  return out;
}

/** The sum of per-tenant depths. */
export function totalDepth(tenants: TenantOpsStatus[]): Record<MessageState, number> {
  const all = zeroDepth();
  for (const t of tenants) for (const s of MESSAGE_STATES) all[s] += t.depth[s];
  return all;
}
