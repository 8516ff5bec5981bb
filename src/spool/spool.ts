import type * as fs from 'node:fs';
import type { KindEvent } from '../kinds';
import type { StateStats } from './observer';

/** Durable copies of attachments, one directory per accepted event. */
export interface AttachmentStore {
  /** A new, empty directory for one event's copies. */
  createDir(eventId: string): Promise<string>;
  /** Streams an open file into `dir/name`, synced to disk; returns the copy's path. */
  copyIn(from: fs.promises.FileHandle, dir: string, name: string): Promise<string>;
  /** Deletes a directory made by createDir (a shared store: this instance's local copies only; the stored files go with their message at purge). */
  remove(dir: string): Promise<void>;
  /**
   * Makes every attachment's `path` a readable local file before a delivery attempt: a no-op
   * where the copies are local; a shared store streams them out of the database in chunks into
   * this instance's dataDir, once. A copy that is gone everywhere stays missing (the courier
   * sends the mail without it and says so).
   */
  materialise(attachments: readonly StoredAttachment[]): Promise<void>;
}

/** A file copied into the spool, owned by one message. */
export interface StoredAttachment {
  /** Absolute path inside the spool as handed out; stored relative to dataDir, so a moved dataDir keeps its files. */
  path: string;
  contentType: string;
  size: number;
  /** Which FileRef of the event it came from: its kind's attachment role (`recording`, `document`, …). */
  role: string;
  /** The name the PBX suggested, neutralised. */
  filename?: string;
}

/**
 * A message's state as stored. `queued` covers everything not settled (the operations API tells
 * queued, deferred and sending apart by attempts and what is in flight); `partial`: delivered to
 * some recipients, failed for the others; `discarded`: given up by an operator.
 */
export type StoredState = 'queued' | 'delivered' | 'partial' | 'failed' | 'discarded';

/** One event's mail as the spool keeps it until it is delivered or failed. */
export interface SpoolRecord {
  seq: number;
  eventId: string;
  tenant: string;
  /** The event type: a registered kind. */
  type: string;
  /** The neutralised event. */
  event: KindEvent;
  attachments: StoredAttachment[];
  /** Addresses still to deliver to. */
  pending: string[];
  delivered: string[];
  failed: string[];
  state: StoredState;
  /** Attempts since the accept or since an operator's last retry of it. */
  attempts: number;
  /** Epoch ms when the event was accepted. */
  createdAt: number;
  /** Epoch ms delivery.retry.maxAgeMs counts from: the accept, or an operator's retry of a settled message. */
  ageFrom: number;
  /** Epoch ms of the last change. */
  updatedAt: number;
  /** Epoch ms of the next delivery attempt. */
  nextAttemptAt: number;
  lastError?: string;
  /** The ERROR_CATALOG code lastError is about. */
  lastErrorCode?: string;
  messageId: string;
  /** A shared store: the instance (its owner id) whose unexpired claim holds the message right now; the operations API shows it as sending. */
  claimedBy?: string;
}

/** One attempt as the delivery log stores it (AttemptRecord in src/ops hands it out with an ISO time). */
export interface StoredAttempt {
  /** 1-based, counted as `MessageSummary.attempts` (so it restarts at 1 after a `retry`). */
  attempt: number;
  /** Epoch ms when the attempt ended. */
  at: number;
  /** The tenant's SMTP server (smtp.host) the session went to; absent when no session was made (tenant unconfigured, compose failure). */
  host?: string;
  /** The negotiated TLS protocol, e.g. `TLSv1.3`; absent for a plaintext session or one that never got that far. */
  tlsVersion?: string;
  /** The server's final reply to the transaction (250 …) or the reply that ended it (550 …, 535 …). */
  replyCode?: number;
  /** That reply's text, one line, credentials redacted, at most 300 characters. */
  replyText?: string;
  outcome: 'delivered' | 'partial' | 'deferred' | 'failed';
  /** The ERROR_CATALOG code of the failure, when the attempt did not deliver to everyone. */
  code?: string;
  /** Each envelope recipient of this attempt: accepted by the server or rejected (with its RCPT/DATA reply); empty when the session ended before RCPT TO (connection, TLS, AUTH). */
  recipients: { address: string; status: 'accepted' | 'rejected'; replyCode?: number; replyText?: string }[];
}

/** One row of a message's delivery log. */
export interface StoredLogEntry {
  at: number;
  kind: 'attempt' | 'outcome' | 'operator';
  code?: string;
  detail?: string;
  attempt?: StoredAttempt;
}

/** An event the handler refused (nothing queued). Never the event itself: its envelope's ids, and why. */
export interface StoredRefusal {
  /** Epoch ms of the refusal. */
  at: number;
  /** The envelope's fields when they were readable strings (an event may be refused for lacking them). */
  tenant?: string;
  eventId?: string;
  eventType?: string;
  code: string;
  /** JSON pointer of the offending field, e.g. `/data/recording/path`. */
  field?: string;
  message: string;
}

/** Per tenant: totals since the spool was created, and the last success and failure. */
export interface TenantTotals {
  tenant: string;
  accepted: number;
  delivered: number;
  failed: number;
  partial: number;
  lastSuccessAt?: number;
  lastFailure?: { at: number; code: string; message: string };
}

/** Per tenant and stored state, how many messages; for `queued`, how many were attempted and the oldest accept. */
export interface TenantDepth {
  tenant: string;
  state: StoredState;
  count: number;
  /** Of the queued ones: attempted at least once (deferred). */
  attempted: number;
  /** Of the queued ones: the earliest createdAt. */
  oldest: number | null;
}

/** A query over the messages, newest first. */
export interface ListQuery {
  tenant?: string;
  states?: readonly StoredState[];
  /** Queued ones only: attempted (true) or not (false). */
  attempted?: boolean;
  /** Only these seqs (those in flight). */
  seqs?: readonly number[];
  /** Leave these out (those in flight). */
  excludeSeqs?: ReadonlySet<number>;
  /** createdAt strictly before this (epoch ms). */
  before?: number;
  limit: number;
}

/** How much of the delivery log is kept. */
export interface LogLimits {
  maxAttemptsPerMessage: number;
  maxRefusals: number;
}

export type NewRecord = Pick<SpoolRecord, 'eventId' | 'tenant' | 'type' | 'event' | 'attachments' | 'pending' | 'messageId'>;

/** What an attempt changed; applied atomically. */
export interface AttemptOutcome {
  state: StoredState;
  pending: string[];
  deliveredNow: string[];
  failedNow: string[];
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
  lastErrorCode?: string;
  /** The attempt for the delivery log, written in the same transaction. */
  log?: StoredAttempt;
}

/** One attempt's outcome for `recordAttempts`. */
export interface AttemptWrite {
  seq: number;
  outcome: AttemptOutcome;
}

export interface TenantDue {
  tenant: string;
  /** Earliest nextAttemptAt of the tenant's queued mail. */
  nextDue: number;
}

/** A request to claim due mail of one tenant for delivery by this instance. */
export interface ClaimRequest {
  tenant: string;
  /** Wall clock, epoch ms: mail due at or before it may be claimed. */
  now: number;
  /** At most this many (what this instance's lane can start). */
  limit: number;
  /** Seqs this instance already holds (in flight, or with an outcome on its way): never claimed again. */
  exclude: ReadonlySet<number>;
  /** The tenant's cap on concurrent sessions (delivery.concurrency.perTenant); a shared store enforces it across every instance. */
  perTenant: number;
}

/** What a claim got: seqs to deliver, oldest due first; or, from a shared store, why none and until when. */
export interface Claim {
  seqs: number[];
  /**
   * A shared store only: nothing claimable for a cluster-wide reason (the tenant's sessions are all
   * in use on other instances, or its shared breaker holds it); try again after this many ms, or
   * earlier on a wake-up (onWake).
   */
  waitMs?: number;
  /** The shared breaker holds the tenant: the failure that opened it. */
  hold?: { code: string; message: string };
}

/**
 * A tenant server's health as one delivery attempt saw it, for the breaker a shared store keeps for
 * every instance; or `reset`: an operator's flush or new settings end the hold, and the next
 * session (anywhere in the cluster) is a probe.
 */
export type HealthReport =
  | { ok: true }
  | { ok: false; code: string; message: string; /** The hold after the breaker's `failures`th consecutive failure (ms). */ holdFor: (failures: number) => number }
  | { reset: true };

/**
 * The durable queue. Implementations survive `kill -9` at any point. `enqueue` resolves only once
 * the record is on stable storage. Every method is asynchronous (a shared store answers over the
 * network); a storage error rejects with a coded PluginError (SPOOL_FAILURE, SPOOL_CORRUPT).
 *
 * Two implementations: SqliteSpool (one machine; `shared` false: this instance is the only one,
 * claims are in its memory, the breaker is its scheduler's own) and PgSpool (a cluster; `shared`
 * true: claims are leases in the database, perTenant and the breaker hold across instances).
 */
export interface Spool {
  /** True when other instances deliver from the same store (claims are leases, the breaker is shared). */
  readonly shared: boolean;
  /** Durably stores a record; 'duplicate' when the tenant's eventId is already there. */
  enqueue(record: NewRecord): Promise<'queued' | 'duplicate'>;
  /** Each tenant with queued mail, and when its earliest is due. */
  tenantsWithWork(): Promise<TenantDue[]>;
  /**
   * Claims up to `limit` queued records of a tenant due at `now`, oldest due first, for this
   * instance to deliver. A shared store leases them (another instance takes them over once the
   * lease runs out: this instance died) and never lets the tenant's leases across the cluster
   * exceed `perTenant`, or one while its shared breaker is half-open.
   */
  claim(req: ClaimRequest): Promise<Claim>;
  /** Gives back claimed records that were not attempted (a lane reset, a shutdown): due again for anyone. */
  release(seqs: readonly number[]): Promise<void>;
  /** When the tenant's next queued record (outside `exclude`, not leased elsewhere) is due; undefined when none. */
  nextDue(tenant: string, exclude: ReadonlySet<number>): Promise<number | undefined>;
  get(seq: number): Promise<SpoolRecord | undefined>;
  /** The record of a tenant's event; with no tenant, the oldest record of that id in any tenant. */
  getByEventId(tenant: string | undefined, eventId: string): Promise<SpoolRecord | undefined>;
  /** Makes every queued record of a tenant due at `at` (after its settings changed). */
  reschedule(tenant: string, at: number): Promise<void>;
  /** Makes queued records due after `latest` due at `now` (the wall clock moved back); returns how many, per tenant. */
  rebase(now: number, latest: number): Promise<{ tenant: string; count: number }[]>;
  /** Records the outcomes of delivery attempts, all or none (one transaction), and ends their claims. */
  recordAttempts(outcomes: readonly AttemptWrite[]): Promise<void>;
  /**
   * A shared store: feeds the tenant's shared breaker (a no-op where the scheduler's own breaker is
   * the only one). Resolves with the hold (ms) when this failure opened it; undefined otherwise (a
   * sibling's failure already holds it, a success, a reset).
   */
  reportHealth(tenant: string, report: HealthReport): Promise<number | undefined>;
  /**
   * A shared store: calls `fn(tenant)` when another instance accepted mail for a tenant, gave
   * claims back or settled a message (its lane may go on). Returns the unsubscribe.
   */
  onWake(fn: (tenant: string) => void): () => void;
  /** Deletes delivered records past their retention, failed, partial and discarded ones past theirs, with their files and log; refusals older than `failedBefore` too. */
  purge(deliveredBefore: number, failedBefore: number): Promise<number>;
  counts(): Promise<Record<StoredState, number>>;
  /** Messages matching `q`, newest first. */
  list(q: ListQuery): Promise<SpoolRecord[]>;
  /** A message's delivery log, oldest first. */
  log(seq: number): Promise<StoredLogEntry[]>;
  /**
   * An operator's retry: a queued message is made due at `now`; a failed or partial one gets its
   * failed recipients back as pending, attempts 0, ageFrom `now`. Returns the record as it is
   * now, or undefined when it is in no state to retry (delivered, discarded).
   */
  revive(seq: number, now: number): Promise<SpoolRecord | undefined>;
  /** An operator's discard: pending recipients become failed, the state `discarded`. Returns the recipients given up, or undefined (delivered or already discarded). */
  discard(seq: number, now: number, reason: string): Promise<string[] | undefined>;
  /** Failed and partial messages of a tenant settled at or after `since`. */
  settledFailedSince(tenant: string, since: number): Promise<number[]>;
  /** Queued mail by tenant and state. */
  depth(): Promise<TenantDepth[]>;
  totals(): Promise<TenantTotals[]>;
  /** Records a refused event (best effort: never rejects). */
  refuse(r: StoredRefusal): Promise<void>;
  /** Refusals, newest first. */
  refusals(q: { tenant?: string; limit: number }): Promise<StoredRefusal[]>;
  /** Bounds of the delivery log (they may change with the configuration). */
  limits: LogLimits;
  /** Per state: how many records, and when the oldest was accepted (metrics). */
  stateStats(): Promise<StateStats[]>;
  /** False once close() was called. */
  readonly isOpen: boolean;
  /** Where accepted attachments are stored. */
  readonly files: AttachmentStore;
  /** Deletes attachment copies no record owns (left by a crash mid-accept); run before taking events. */
  sweepOrphans(): Promise<number>;
  close(): Promise<void>;
}
