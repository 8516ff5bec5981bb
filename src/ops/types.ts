/**
 * The operations API of a plugin instance: the delivery log and the queue operations
 * (Postfix's mailq / postqueue -f / postsuper -r / postsuper -d), named the same way in the
 * instance, the reference host's HTTP API and the queue CLI.
 *
 * Terminology:
 * - a **message** is one accepted event's mail, identified by (tenant, eventId): event ids are
 *   unique per tenant only, so every operation names both.
 * - an **attempt** is one SMTP session for a message, to the recipients still pending.
 * - an **outcome** settles a message: every recipient delivered (`delivered`), some delivered and
 *   the others failed (`partial`), none delivered (`failed`), or given up by an operator
 *   (`discarded`, a dead letter kept for `spool.retainFailedMs`).
 * - a **hold** is a tenant's breaker: after its server failed (connection, TLS, credentials), no
 *   session starts for it before the next probe; `flush` ends it.
 *
 * Times are ISO 8601 strings (UTC); durations are milliseconds.
 */
import type { StoredAttempt, StoredRefusal } from '../spool';

/**
 * Where a message is:
 * - `queued`: accepted, not attempted yet;
 * - `deferred`: attempted, some recipients still pending, waiting for `nextAttemptAt`;
 * - `sending`: an SMTP session for it is running right now (or its outcome is being written);
 * - `delivered`, `partial`, `failed`, `discarded`: settled (see the terminology above).
 */
export type MessageState = 'queued' | 'deferred' | 'sending' | 'delivered' | 'partial' | 'failed' | 'discarded';

/** Every MessageState, in the order above (for tables and counters). */
export const MESSAGE_STATES: readonly MessageState[] = ['queued', 'deferred', 'sending', 'delivered', 'partial', 'failed', 'discarded'];

/** A coded reason: `code` is one of ERROR_CATALOG's, `message` one line, secrets redacted. */
export interface CodedReason {
  code: string;
  message: string;
}

/** One message as listed by `messages()`. */
export interface MessageSummary {
  tenant: string;
  eventId: string;
  eventType: string;
  state: MessageState;
  /** Attempts since it was accepted, or since an operator last revived it (`retry` resets the count). */
  attempts: number;
  acceptedAt: string;
  /** When its state last changed. */
  updatedAt: string;
  /** When the next attempt is due; only for `queued` and `deferred`. */
  nextAttemptAt?: string;
  /** The last failure (temporary or permanent), when there was one. */
  lastError?: CodedReason;
  /** Every recipient address of the event's mail. */
  recipients: string[];
}

/** One attempt as the delivery log keeps it (the stored attempt, with its time as ISO 8601). */
export interface AttemptRecord extends Omit<StoredAttempt, 'at'> {
  at: string;
}

/** One line of a message's delivery log. */
export interface LogEntry {
  at: string;
  /**
   * - `accepted`: the event was durably queued;
   * - `refused`: (refusals() only) the event was refused, nothing queued;
   * - `attempt`: an attempt ended (its detail in `attemptsLog`);
   * - `outcome`: the message was settled (`detail` is the state, `code` the reason's code);
   * - `operator`: an operation (`detail`: retry, discard, flush, retry-failed).
   */
  kind: 'accepted' | 'refused' | 'attempt' | 'outcome' | 'operator';
  code?: string;
  field?: string;
  detail?: string;
}

/** One message with its whole delivery log, oldest entry first. */
export interface MessageDetail extends MessageSummary {
  /** At most `spool.log.maxAttemptsPerMessage` attempts, the latest ones. */
  attemptsLog: AttemptRecord[];
  log: LogEntry[];
}

/** An event the handler refused (nothing queued): the stored refusal, with its time as ISO 8601. */
export interface RefusalRecord extends Omit<StoredRefusal, 'at'> {
  at: string;
}

/** One tenant as `status()` shows it (idle tenants, those configured with nothing queued, included). */
export interface TenantOpsStatus {
  tenant: string;
  /** Messages by state (settled ones until their retention ends). */
  depth: Record<MessageState, number>;
  /** Age of the oldest `queued`, `deferred` or `sending` message; absent when there is none. */
  oldestQueuedAgeMs?: number;
  /** The breaker is open: no session starts before `nextProbeAt`. */
  held: boolean;
  /** Why it is held (the failure that opened the breaker). */
  holdReason?: CodedReason;
  /** When the held tenant's next probe session may start. */
  nextProbeAt?: string;
  /** The last attempt that delivered to at least one recipient. */
  lastSuccessAt?: string;
  /** The last attempt that failed or deferred, with its reason. */
  lastFailure?: { at: string; code: string; message: string };
  /** Since the spool was created (not reduced by retention). Settlements: a message retried and settled again counts again; `failed` includes discarded ones. */
  totals: { accepted: number; delivered: number; failed: number; partial: number };
  /** Sessions running now (also in the pre-ops status). */
  active: number;
  /** Consecutive server-level failures of the breaker (also in the pre-ops status). */
  failures: number;
}

/**
 * What `testSend` did: a sample mail of the event type, rendered with the tenant's templates and
 * sent through its real SMTP settings to `to` alone. It is not spooled, not retried, not reported
 * through `emit`, not counted in status() or the delivery log; no beforeSend hook runs. It goes
 * out whether or not the tenant is held (it tests the settings), and carries `X-PBX-Event-Id: test-send-<hex>`.
 */
export interface TestSendResult {
  tenant: string;
  eventType: string;
  to: string;
  outcome: 'delivered' | 'failed';
  /** The ERROR_CATALOG code of the failure. */
  code?: string;
  /** `replyText` is the server's last reply, or, when there was none (connection refused, timeout), the failure's reason. */
  transcript: { host?: string; tlsVersion?: string; replyCode?: number; replyText?: string; durationMs: number };
}

/** The query of `messages()`. */
export interface MessagesQuery {
  tenant?: string;
  state?: MessageState;
  /** @default 100 (at most 1000) */
  limit?: number;
  /** ISO time: only messages accepted strictly before it (newest first, so the last acceptedAt of one page is the next page's `before`). */
  before?: string;
}

/**
 * The operations every plugin instance offers (EmailNotifyPlugin implements it). Every method
 * rejects with a coded PluginError: `QUERY_INVALID` (with `field`) for a malformed argument,
 * `PLUGIN_STOPPED` after deactivate(), and the codes named on each method. Suggested HTTP
 * statuses: MESSAGE_NOT_FOUND and TENANT_UNKNOWN 404; MESSAGE_NOT_RETRYABLE and
 * MESSAGE_NOT_DISCARDABLE 409; QUERY_INVALID 400.
 */
export interface OpsApi {
  /** Messages newest first. @example plugin.messages({ tenant: 'acme.example.com', state: 'failed', limit: 20 }) */
  messages(q?: MessagesQuery): Promise<MessageSummary[]>;
  /** One message with its delivery log; undefined when the spool has no such message (never accepted, or purged). */
  message(eventId: string, tenant: string): Promise<MessageDetail | undefined>;
  /** Refused events, newest first, kept for `spool.retainFailedMs` and at most `spool.log.maxRefusals`. */
  refusals(q?: { tenant?: string; limit?: number }): Promise<RefusalRecord[]>;
  /**
   * Attempt now. `queued`/`deferred`: due now. `failed`/`partial`: revived with its failed
   * recipients pending (never those delivered), attempts reset to 0, maxAgeMs counted afresh, reported again.
   * Rejects MESSAGE_NOT_FOUND, MESSAGE_NOT_RETRYABLE (delivered, discarded, or sending now).
   */
  retry(eventId: string, tenant: string): Promise<MessageSummary>;
  /**
   * Gives a message up: its pending recipients are reported in `email.failed` with the reason
   * code DISCARDED, and it is kept as a dead letter (`discarded`) for spool.retainFailedMs.
   * Rejects MESSAGE_NOT_FOUND, MESSAGE_NOT_DISCARDABLE (delivered, already discarded, or sending now).
   */
  discard(eventId: string, tenant: string): Promise<MessageSummary>;
  /** Ends the tenant's hold, probes its server at once and makes all its queued/deferred mail due now; `retried` counts those. Rejects TENANT_UNKNOWN (neither configured nor in the spool). */
  flush(tenant: string): Promise<{ tenant: string; retried: number }>;
  /** `retry` for every `failed` and `partial` message of the tenant settled at or after `since` (ISO time). Rejects TENANT_UNKNOWN, QUERY_INVALID (field `since`). */
  retryFailed(q: { tenant: string; since: string }): Promise<{ tenant: string; retried: number }>;
  /** See TestSendResult. Rejects TENANT_NOT_CONFIGURED, EVENT_TYPE_UNKNOWN, QUERY_INVALID (field `to`); an SMTP failure resolves with outcome `failed`. */
  testSend(q: { tenant: string; eventType: string; to: string }): Promise<TestSendResult>;
}

/** What `status()` returns. */
export interface OpsStatus {
  /** Coarse counts, kept from before the operations API: queued = queued + deferred + sending, delivered = delivered + partial, failed = failed + discarded. */
  counts: { queued: number; delivered: number; failed: number };
  /** Messages by state over all tenants. */
  depth: Record<MessageState, number>;
  /** SMTP sessions running now. */
  active: number;
  /** Every configured tenant and every tenant with mail in the spool, sorted by name. */
  tenants: TenantOpsStatus[];
}
