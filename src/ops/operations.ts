import * as crypto from 'node:crypto';
import type { TenantDirectory } from '../config';
import type { Courier, LaneStatus, Scheduler } from '../delivery';
import { isPluginError, PluginError } from '../errors';
import type { HostLog } from '../host-api';
import type { EventKind, KindEvent, KindRegistry } from '../kinds';
import type { Reporter } from '../report';
import type { Spool, SpoolRecord, StoredState } from '../spool';
import { previewRecord } from '../templates/samples';
import { detail, opsState, refusal, summary, tenantStatuses, totalDepth } from './queue-view';
import { MESSAGE_STATES, type MessageDetail, type MessagesQuery, type MessageSummary, type OpsApi, type OpsStatus, type RefusalRecord, type TestSendResult } from './types';

export interface OperationsDeps {
  spool: Spool;
  scheduler: Scheduler;
  courier: Courier;
  reporter: Reporter;
  /** The event kinds (their samples, schemas and recipients). */
  kinds: KindRegistry;
  tenants(): TenantDirectory;
  log: HostLog;
  /** Aborts test sends at deactivate(). */
  shutdown: AbortSignal;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** The reason reported in email.failed for a discarded message's recipients. */
export const DISCARDED_REASON = 'DISCARDED: discarded by an operator';

const invalid = (field: string, message: string) => new PluginError('QUERY_INVALID', `${field}: ${message}`, { field });

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '' || v.length > 512) throw invalid(field, `expected a non-empty string of at most 512 characters, got ${JSON.stringify(v)?.slice(0, 80) ?? String(v)}`);
  return v;
}

function time(v: unknown, field: string): number {
  const ms = typeof v === 'string' && /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw invalid(field, `expected an ISO 8601 time such as 2026-12-03T09:00:00Z, got ${JSON.stringify(v)?.slice(0, 80) ?? String(v)}`);
  return ms;
}

function limit(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT) throw invalid('limit', `expected an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(v)?.slice(0, 80) ?? String(v)}`);
  return v;
}

/**
 * The queue operations and the delivery log of one plugin instance (src/ops/types.ts). Reads go
 * to the spool; changes go through the spool first, then tell the scheduler, then report.
 * A message in flight is never changed: its outcome is still to be written.
 */
export class Operations implements OpsApi {
  readonly #d: OperationsDeps;
  readonly #reader: QueueReader;

  constructor(deps: OperationsDeps) {
    this.#d = deps;
    this.#reader = new QueueReader(deps.spool, () => deps.scheduler.inFlight());
  }

  messages(q?: MessagesQuery): Promise<MessageSummary[]> {
    return this.#reader.messages(q);
  }

  message(eventId: string, tenant: string): Promise<MessageDetail | undefined> {
    return this.#reader.message(eventId, tenant);
  }

  refusals(q?: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    return this.#reader.refusals(q);
  }

  async retry(eventId: string, tenant: string): Promise<MessageSummary> {
    const rec = await this.#find(eventId, tenant);
    const inFlight = this.#d.scheduler.inFlight();
    const state = opsState(rec, inFlight);
    if (state === 'sending' || state === 'delivered' || state === 'discarded') {
      throw new PluginError('MESSAGE_NOT_RETRYABLE', `message ${JSON.stringify(eventId)} of ${tenant} is ${state}${state === 'sending' ? ' right now; retry once this attempt has ended' : ': only queued, deferred, failed and partial mail can be retried'}`, { field: 'eventId' });
    }
    const now = Date.now();
    const after = await this.#d.spool.revive(rec.seq, now);
    if (!after) throw new PluginError('MESSAGE_NOT_RETRYABLE', `message ${JSON.stringify(eventId)} of ${tenant} can no longer be retried (it was settled meanwhile)`, { field: 'eventId' });
    this.#d.log.info('message retried by an operator', { tenant: rec.tenant, eventId: rec.eventId, was: state, recipients: after.pending.length });
    this.#d.scheduler.notify(rec.tenant, now);
    return summary(after, inFlight);
  }

  async discard(eventId: string, tenant: string): Promise<MessageSummary> {
    const rec = await this.#find(eventId, tenant);
    const inFlight = this.#d.scheduler.inFlight();
    const state = opsState(rec, inFlight);
    if (state === 'sending' || state === 'delivered' || state === 'discarded') {
      throw new PluginError('MESSAGE_NOT_DISCARDABLE', `message ${JSON.stringify(eventId)} of ${tenant} is ${state}${state === 'sending' ? ' right now; discard it once this attempt has ended' : ''}`, { field: 'eventId' });
    }
    const given = await this.#d.spool.discard(rec.seq, Date.now(), DISCARDED_REASON);
    if (!given) throw new PluginError('MESSAGE_NOT_DISCARDABLE', `message ${JSON.stringify(eventId)} of ${tenant} was settled meanwhile`, { field: 'eventId' });
    this.#d.log.info('message discarded by an operator', { tenant: rec.tenant, eventId: rec.eventId, was: state, recipients: given.length });
    if (given.length > 0) this.#d.reporter.report('email.failed', { eventId: rec.eventId, tenant: rec.tenant, attempts: rec.attempts, to: given, reason: DISCARDED_REASON });
    return summary((await this.#d.spool.get(rec.seq)) ?? rec, inFlight);
  }

  async flush(tenant: string): Promise<{ tenant: string; retried: number }> {
    const id = await this.#known(tenant);
    await this.#d.scheduler.flush(id);
    const inFlight = this.#d.scheduler.inFlight();
    const queued = (await this.#d.spool.depth()).find((d) => d.tenant === id && d.state === 'queued')?.count ?? 0;
    const sending = queued === 0 ? 0 : (await this.#d.spool.list({ tenant: id, states: ['queued'], seqs: [...inFlight], limit: inFlight.size || 1 })).length;
    return { tenant: id, retried: queued - sending };
  }

  async retryFailed(q: { tenant: string; since: string }): Promise<{ tenant: string; retried: number }> {
    const id = await this.#known(q?.tenant);
    const since = time(q.since, 'since');
    const now = Date.now();
    let retried = 0;
    for (const seq of await this.#d.spool.settledFailedSince(id, since)) if (await this.#d.spool.revive(seq, now)) retried++;
    this.#d.log.info('failed mail retried by an operator', { tenant: id, since: new Date(since).toISOString(), messages: retried });
    if (retried > 0) this.#d.scheduler.notify(id, now);
    return { tenant: id, retried };
  }

  async testSend(q: { tenant: string; eventType: string; to: string }): Promise<TestSendResult> {
    const tenantId = text(q?.tenant, 'tenant');
    const kind = this.#d.kinds.get(q.eventType);
    if (!kind) throw new PluginError('EVENT_TYPE_UNKNOWN', `eventType: expected one of ${this.#d.kinds.types().join(', ')}, got ${JSON.stringify(q.eventType)?.slice(0, 80)}`, { field: 'eventType' });
    const to = text(q.to, 'to');
    const tenant = this.#d.tenants().get(tenantId);
    if (!tenant) throw new PluginError('TENANT_NOT_CONFIGURED', `tenant: ${JSON.stringify(tenantId)} has no usable SMTP settings (from and smtp.host, in tenants or defaults)`, { field: 'tenant' });
    const event = this.#sample(kind, tenantId, to);
    const rec: SpoolRecord = { ...previewRecord(event, tenantId), attachments: [], pending: [to], messageId: `<${event.id}@${tenant.domain}>` };
    const started = process.hrtime.bigint();
    const r = await this.#d.courier.trial(rec, tenant, this.#d.shutdown);
    const durationMs = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
    const { host, tlsVersion, replyCode, replyText } = r.session;
    this.#d.log.info('test mail sent by an operator', { tenant: tenantId, eventType: q.eventType, outcome: r.delivered ? 'delivered' : 'failed', ...(r.code && { code: r.code }) });
    return {
      tenant: tenantId,
      eventType: q.eventType,
      to,
      outcome: r.delivered ? 'delivered' : 'failed',
      ...(r.code !== undefined && { code: r.code }),
      transcript: { ...(host !== undefined && { host }), ...(tlsVersion !== undefined && { tlsVersion }), ...(replyCode !== undefined && { replyCode }), ...(replyText !== undefined ? { replyText } : r.reason !== undefined && { replyText: r.reason }), durationMs },
    };
  }

  /** Everything status() shows, from the spool and the scheduler. */
  status(): Promise<OpsStatus> {
    const lanes = this.#d.scheduler.status();
    return this.#reader.status(Object.keys(this.#d.tenants().config.tenants), lanes.tenants, lanes.active);
  }

  async #find(eventId: string, tenant: string): Promise<SpoolRecord> {
    const t = text(tenant, 'tenant');
    const rec = await this.#d.spool.getByEventId(t, text(eventId, 'eventId'));
    if (!rec) throw new PluginError('MESSAGE_NOT_FOUND', `no message ${JSON.stringify(eventId)} of tenant ${JSON.stringify(t)} in the spool (never accepted, or purged after its retention)`, { field: 'eventId' });
    return rec;
  }

  /** A tenant listed in the configuration or with mail (or totals) in the spool. */
  async #known(tenant: unknown): Promise<string> {
    const id = text(tenant, 'tenant');
    if (Object.hasOwn(this.#d.tenants().config.tenants, id) || (await this.#d.spool.totals()).some((t) => t.tenant === id) || (await this.#d.spool.depth()).some((d) => d.tenant === id)) return id;
    throw new PluginError('TENANT_UNKNOWN', `tenant: ${JSON.stringify(id)} is neither listed in the configuration nor has mail in the spool`, { field: 'tenant' });
  }

  /**
   * The kind's sample event for `tenant`, without its files, addressed to `to` alone (its
   * `data.recipient.email`, the built-in kinds' recipient), checked as an accepted event is.
   */
  #sample(kind: EventKind, tenant: string, to: string): KindEvent {
    if (!kind.sample) throw invalid('eventType', `the ${kind.type} kind has no sample event to send`);
    const sample = structuredClone(kind.sample.event) as KindEvent & { data: Record<string, unknown> };
    for (const a of kind.attachments) delete sample.data[a.field];
    const recipient = sample.data.recipient;
    if (recipient && typeof recipient === 'object') (recipient as { email?: unknown }).email = [to];
    const raw = { ...sample, id: `test-send-${crypto.randomBytes(8).toString('hex')}`, tenant, occurredAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    try {
      const event = this.#d.kinds.validate(raw);
      this.#d.kinds.recipient(event);
      return event;
    } catch (e) {
      if (isPluginError(e) && e.field?.startsWith('/data/recipient')) throw invalid('to', `expected a mail address, got ${JSON.stringify(to).slice(0, 80)}`);
      throw e;
    }
  }
}

/**
 * The read side of the operations: messages, their delivery log, refusals and status, from a
 * spool and what is in flight. Also what reads a stopped host's spool (OfflineQueue).
 */
export class QueueReader {
  readonly #spool: Spool;
  readonly #inFlight: () => ReadonlySet<number>;

  constructor(spool: Spool, inFlight: () => ReadonlySet<number> = () => new Set()) {
    this.#spool = spool;
    this.#inFlight = inFlight;
  }

  async messages(q: MessagesQuery = {}): Promise<MessageSummary[]> {
    const tenant = q.tenant === undefined ? undefined : text(q.tenant, 'tenant');
    if (q.state !== undefined && !MESSAGE_STATES.includes(q.state)) throw invalid('state', `expected one of ${MESSAGE_STATES.join(', ')}, got ${JSON.stringify(q.state)?.slice(0, 80)}`);
    const n = limit(q.limit, DEFAULT_LIMIT);
    const before = q.before === undefined ? undefined : time(q.before, 'before');
    const inFlight = this.#inFlight();
    const base = { ...(tenant !== undefined && { tenant }), ...(before !== undefined && { before }), limit: n };
    const s = q.state;
    const rows = await (s === undefined
        ? this.#spool.list(base)
        : s === 'sending'
          ? this.#spool.list({ ...base, states: ['queued'], seqs: [...inFlight] })
          : s === 'queued' || s === 'deferred'
            ? this.#spool.list({ ...base, states: ['queued'], attempted: s === 'deferred', excludeSeqs: inFlight })
            : this.#spool.list({ ...base, states: [s as StoredState] }));
    return rows.map((r) => summary(r, inFlight));
  }

  async message(eventId: string, tenant: string): Promise<MessageDetail | undefined> {
    const rec = await this.#spool.getByEventId(text(tenant, 'tenant'), text(eventId, 'eventId'));
    return rec && detail(rec, this.#inFlight(), await this.#spool.log(rec.seq));
  }

  async refusals(q: { tenant?: string; limit?: number } = {}): Promise<RefusalRecord[]> {
    const tenant = q.tenant === undefined ? undefined : text(q.tenant, 'tenant');
    return (await this.#spool.refusals({ ...(tenant !== undefined && { tenant }), limit: limit(q.limit, DEFAULT_LIMIT) })).map(refusal);
  }

  /** Status from the spool, given the configured tenants and the scheduler's lanes (none for a stopped host). */
  async status(configured: readonly string[], lanes: LaneStatus[] = [], active = 0): Promise<OpsStatus> {
    const inFlight = this.#inFlight();
    const sending = inFlight.size === 0 ? [] : await this.#spool.list({ states: ['queued'], seqs: [...inFlight], limit: inFlight.size });
    const [depth0, totals] = await Promise.all([this.#spool.depth(), this.#spool.totals()]);
    const tenants = tenantStatuses({ now: Date.now(), configured, depth: depth0, sending, totals, lanes });
    const depth = totalDepth(tenants);
    return {
      counts: { queued: depth.queued + depth.deferred + depth.sending, delivered: depth.delivered + depth.partial, failed: depth.failed + depth.discarded },
      depth,
      active,
      tenants,
    };
  }
}
