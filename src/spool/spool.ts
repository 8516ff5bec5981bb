import type * as fs from 'node:fs';
import type { KindEvent } from '../kinds';
import type { StateStats } from './observer';

/** Durable copies of attachments, one directory per accepted event. */
export interface AttachmentStore {
  /** A new, empty directory for one event's copies. */
  createDir(eventId: string): Promise<string>;
  /** Streams an open file into `dir/name`, synced to disk; returns the copy's path. */
  copyIn(from: fs.promises.FileHandle, dir: string, name: string): Promise<string>;
  /** Deletes a directory made by createDir. */
  remove(dir: string): Promise<void>;
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

export type MessageState = 'queued' | 'delivered' | 'failed';

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
  state: MessageState;
  attempts: number;
  /** Epoch ms when the event was accepted. */
  createdAt: number;
  /** Epoch ms of the next delivery attempt. */
  nextAttemptAt: number;
  lastError?: string;
  messageId: string;
}

export type NewRecord = Pick<SpoolRecord, 'eventId' | 'tenant' | 'type' | 'event' | 'attachments' | 'pending' | 'messageId'>;

/** What an attempt changed; applied atomically. */
export interface AttemptOutcome {
  state: MessageState;
  pending: string[];
  deliveredNow: string[];
  failedNow: string[];
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
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

/**
 * The durable queue. Implementations keep nothing but indexes in memory and survive `kill -9`
 * at any point. `enqueue` resolves only once the record is on stable storage.
 */
export interface Spool {
  /** True when the tenant's event id was already accepted (and not yet purged). Event ids are per tenant. */
  has(tenant: string, eventId: string): boolean;
  /** Durably stores a record; 'duplicate' when the tenant's eventId is already there. */
  enqueue(record: NewRecord): Promise<'queued' | 'duplicate'>;
  /** Each tenant with queued mail, and when its earliest is due. */
  tenantsWithWork(): TenantDue[];
  /** The seqs of up to `limit` queued records of a tenant due at `now`, oldest first, skipping `exclude`. */
  due(tenant: string, now: number, limit: number, exclude: ReadonlySet<number>): number[];
  /** When the tenant's next queued record (outside `exclude`) is due; undefined when none. */
  nextDue(tenant: string, exclude: ReadonlySet<number>): number | undefined;
  get(seq: number): SpoolRecord | undefined;
  /** The record of a tenant's event; with no tenant, the oldest record of that id in any tenant. */
  getByEventId(tenant: string | undefined, eventId: string): SpoolRecord | undefined;
  /** Makes every queued record of a tenant due at `at` (after its settings changed). */
  reschedule(tenant: string, at: number): void;
  /** Makes queued records due after `latest` due at `now` (the wall clock moved back); returns how many, per tenant. */
  rebase(now: number, latest: number): { tenant: string; count: number }[];
  /** Records the outcomes of delivery attempts, all or none (one transaction). */
  recordAttempts(outcomes: readonly AttemptWrite[]): void;
  /** Deletes delivered and failed records past their retention, with their files. */
  purge(deliveredBefore: number, failedBefore: number): Promise<number>;
  counts(): Record<MessageState, number>;
  /** Per state: how many records, and when the oldest was accepted (metrics). */
  stateStats(): StateStats[];
  /** False once close() was called. */
  readonly isOpen: boolean;
  /** Where accepted attachments are copied. */
  readonly files: AttachmentStore;
  /** Deletes attachment copies no record owns (left by a crash mid-accept); run before taking events. */
  sweepOrphans(): Promise<number>;
  close(): Promise<void>;
}
