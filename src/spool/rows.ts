import * as path from 'node:path';
import type { LogLimits, SpoolRecord, StoredAttachment, StoredLogEntry, StoredRefusal, StoredState, TenantTotals } from './spool';

/**
 * The spool's rows as both stores keep them (SQLite and PostgreSQL share the layout: epoch-ms
 * integers, JSON as text), and what each row is handed out as. One place for the mapping, so the
 * two stores answer alike.
 */

/** A row of `messages`; a shared store adds its lease. */
export interface MessageRow {
  seq: number;
  event_id: string;
  tenant: string;
  type: string;
  event: string;
  attachments: string;
  pending: string;
  delivered: string;
  failed: string;
  state: StoredState;
  attempts: number;
  created_at: number;
  age_from: number;
  next_attempt_at: number;
  updated_at: number;
  last_error: string | null;
  last_error_code: string | null;
  message_id: string;
  lease_owner?: string | null;
  lease_until?: number | null;
}

export interface LogRow {
  at: number;
  kind: StoredLogEntry['kind'];
  code: string | null;
  detail: string | null;
  attempt: string | null;
}

export interface RefusalRow {
  at: number;
  tenant: string | null;
  event_id: string | null;
  event_type: string | null;
  code: string;
  field: string | null;
  message: string;
}

export interface TotalsRow {
  tenant: string;
  accepted: number;
  delivered: number;
  failed: number;
  partial: number;
  last_success_at: number | null;
  last_failure_at: number | null;
  last_failure_code: string | null;
  last_failure_message: string | null;
}

/** The defaults of spool.log (schemas/config.schema.json). */
export const DEFAULT_LOG_LIMITS: LogLimits = { maxAttemptsPerMessage: 50, maxRefusals: 10_000 };

/** What a lot of attempt outcomes changes for one tenant, written once for the lot. */
export interface TenantLot {
  succeeded: boolean;
  failure?: { code: string | null; message: string };
  settled: { delivered: number; failed: number; partial: number };
}

/** Counts a settled state into a tenant's totals (discarded counts as failed). */
export function countSettled(settled: TenantLot['settled'], state: StoredState): void {
  if (state === 'delivered') settled.delivered++;
  else if (state === 'failed' || state === 'discarded') settled.failed++;
  else if (state === 'partial') settled.partial++;
}

/**
 * A message as handed out. Attachment paths are stored relative to dataDir and handed out absolute
 * under this instance's dataDir (a moved dataDir, or another node of a cluster, finds its own
 * copies); an unexpired lease (as this instance's clock reads it) names the instance delivering it.
 */
export function recordFromRow(r: MessageRow, dataDir: string, now = Date.now()): SpoolRecord {
  return {
    seq: r.seq,
    eventId: r.event_id,
    tenant: r.tenant,
    type: r.type as SpoolRecord['type'],
    event: JSON.parse(r.event),
    attachments: (JSON.parse(r.attachments) as StoredAttachment[]).map((a) => ({ ...a, path: path.join(dataDir, a.path) })),
    pending: JSON.parse(r.pending),
    delivered: JSON.parse(r.delivered),
    failed: JSON.parse(r.failed),
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    ageFrom: r.age_from,
    updatedAt: r.updated_at,
    nextAttemptAt: r.next_attempt_at,
    ...(r.last_error !== null && { lastError: r.last_error }),
    ...(r.last_error_code !== null && { lastErrorCode: r.last_error_code }),
    messageId: r.message_id,
    ...(r.lease_owner != null && r.lease_until != null && r.lease_until > now && { claimedBy: r.lease_owner }),
  };
}

export function logEntryFromRow(r: LogRow): StoredLogEntry {
  return {
    at: r.at,
    kind: r.kind,
    ...(r.code !== null && { code: r.code }),
    ...(r.detail !== null && { detail: r.detail }),
    ...(r.attempt !== null && { attempt: JSON.parse(r.attempt) }),
  };
}

export function totalsFromRow(r: TotalsRow): TenantTotals {
  return {
    tenant: r.tenant,
    accepted: r.accepted,
    delivered: r.delivered,
    failed: r.failed,
    partial: r.partial,
    ...(r.last_success_at !== null && { lastSuccessAt: r.last_success_at }),
    ...(r.last_failure_at !== null && { lastFailure: { at: r.last_failure_at, code: r.last_failure_code ?? 'UNKNOWN', message: r.last_failure_message ?? '' } }),
  };
}

export function refusalFromRow(r: RefusalRow): StoredRefusal {
  return {
    at: r.at,
    ...(r.tenant !== null && { tenant: r.tenant }),
    ...(r.event_id !== null && { eventId: r.event_id }),
    ...(r.event_type !== null && { eventType: r.event_type }),
    code: r.code,
    ...(r.field !== null && { field: r.field }),
    message: r.message,
  };
}
