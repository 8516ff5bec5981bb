import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EffectiveTenant } from '../config';
import type { HookMessage, Hooks } from '../hooks';
import type { Reporter, ReportPayloads, ReportType } from '../report';
import { storageError, storageErrorCode, type AttemptOutcome, type Spool, type SpoolRecord, type StoredAttempt } from '../spool';
import { isPluginError, PluginError, type ErrorCode } from '../errors';
import { neutraliseLine } from '../events';
import { firstTimeZone, safeFilename, type RenderService } from '../templates';
import { classify, type Classification } from './classify';
import { linkedSignal } from './linked-signal';
import { backoffDelay, isExpired, type RetrySettings } from './retry-policy';
import type { Clock } from './clock';
import type { OutcomeJournal } from './outcome-journal';
import type { HostLog } from '../host-api';
import type { KindRegistry } from '../kinds';
import { markMissing, planAttachments } from '../attachments';
import { sendOnce, sessionOf, type OutgoingMail, type SendContext, type SendResult, type SessionInfo } from './smtp-transport';

export interface CourierDeps {
  spool: Spool;
  renderer: Pick<RenderService, 'render'>;
  /** The event kinds: who a message goes to, which files it carries. */
  kinds: KindRegistry;
  reporter: Reporter;
  hooks: Hooks;
  /** The tenant's current settings; undefined when it has no usable SMTP settings now. */
  tenant(id: string): EffectiveTenant | undefined;
  retry(): RetrySettings;
  messageTimeoutMs(): number;
  /** Where outcomes go: straight into the spool, or held and retried when the spool refuses them. */
  journal: OutcomeJournal;
  log: HostLog;
  /** @default systemClock */
  clock?: Clock;
  send?: (smtp: EffectiveTenant['smtp'], mail: OutgoingMail, signal: AbortSignal, ctx?: SendContext) => Promise<SendResult>;
  /** Converts the message's files for sending (recording to MP3, fax to PDF); resolves with the record to compose. Rejects only when `signal` aborts. */
  prepare?(rec: SpoolRecord, tenant: EffectiveTenant, signal: AbortSignal): Promise<SpoolRecord>;
  /** What a send to this tenant needs besides its settings and the mail: OAuth2 tokens, DKIM key, a temp directory. */
  sendContext?(tenant: EffectiveTenant): SendContext;
  /** Sees every SMTP session and every recorded attempt (metrics). */
  observer?: DeliveryObserver;
}

/** What delivery did, for whoever watches. */
export interface DeliveryObserver {
  /** One SMTP session ended: `sent` (every recipient taken), `refused` (some refused), `error` (the session failed or was cut off). */
  session(seconds: number, result: 'sent' | 'refused' | 'error'): void;
  /** One attempt's outcome was decided (written to the spool, or waiting in the journal): the message's state after it. */
  attempt(tenant: string, state: AttemptOutcome['state']): void;
}

/** Why an attempt was cut short by us rather than by the server. */
export const SHUTDOWN = 'shutdown';

/** The attempt never talked to the server (tenant unconfigured, abandoned): says nothing about its health. */
export const NO_CONTACT = 'no-contact';

/** The attempt's outcome could not be stored (disk full, I/O error): it waits in the OutcomeJournal. */
export const UNRECORDED = 'unrecorded';

/** The spool could not be read: nothing was sent; the lane backs off. */
export const SPOOL_TROUBLE = 'spool-trouble';

/**
 * Makes one delivery attempt of one spooled message: render, send in its own SMTP session,
 * classify, record the outcome in the spool and report it. Never throws. Returns the
 * classification when the tenant's server itself is in trouble, so the scheduler can hold it.
 */
export class Courier {
  readonly #d: CourierDeps;

  constructor(deps: CourierDeps) {
    this.#d = deps;
  }

  /** One attempt of `seq`. An outcome the spool refused waits in the journal: then `journal.refused(seq)` holds afterwards. */
  async attempt(seq: number, shutdown: AbortSignal): Promise<Classification | typeof NO_CONTACT | typeof UNRECORDED | typeof SPOOL_TROUBLE | undefined> {
    if (this.#d.journal.holds(seq)) return UNRECORDED;
    let rec: SpoolRecord | undefined;
    try {
      rec = await this.#d.spool.get(seq);
      // A shared spool keeps the files in the database: this instance fetches local copies first.
      if (rec?.state === 'queued') await this.#d.spool.files.materialise(rec.attachments);
    } catch (e) {
      this.#d.log.error('could not read a queued message from the spool', { code: storageError(e, 'reading a queued message').code, seq, error: storageErrorCode(e), detail: (e as Error).message });
      return SPOOL_TROUBLE;
    }
    if (!rec || rec.state !== 'queued') return NO_CONTACT;
    return this.#attempt(rec, shutdown);
  }

  async #attempt(rec: SpoolRecord, shutdown: AbortSignal): Promise<Classification | typeof NO_CONTACT | undefined> {
    const tenant = this.#d.tenant(rec.tenant);
    if (!tenant) {
      // Temporary, as classified: retried until maxAgeMs, so a tenant briefly missing from the configuration loses nothing.
      this.#finish(rec, { kind: 'temporary', scope: 'server', code: 'TENANT_NOT_CONFIGURED', reason: 'TENANT_NOT_CONFIGURED: the tenant has no usable SMTP settings now' }, NO_SESSION, [], rec.pending);
      return NO_CONTACT;
    }
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('deadline')), this.#d.messageTimeoutMs());
    const link = linkedSignal(shutdown, deadline.signal);
    const signal = link.signal;
    let stage: Stage = 'compose';
    const hooks = this.#d.hooks;
    const attempt = rec.attempts + 1;
    /** The record as this attempt sends it: a beforeSend hook may have re-routed it. */
    let target = rec;
    try {
      let view: Record<string, unknown> = {};
      if (hooks.has('beforeRender')) {
        stage = 'beforeRender';
        await untilAborted(hooks.runOrThrow('beforeRender', { event: rec.event, tenant: rec.tenant, attempt, view }), signal);
        view = plainView(view);
        stage = 'compose';
      }
      const present = await this.#withoutVanishedFiles(rec);
      const mail = await this.#compose(this.#d.prepare ? await this.#d.prepare(present, tenant, signal) : present, tenant, view);
      if (hooks.has('beforeSend')) {
        // The hook edits a copy; what it leaves is checked and taken back (see applyHookMessage).
        const message: HookMessage = { from: mail.from, to: [...mail.envelopeTo], subject: mail.subject, text: mail.text, html: mail.html, headers: { ...mail.headers }, attachments: mail.attachments.map((a) => ({ ...a })) };
        stage = 'beforeSend';
        await untilAborted(hooks.runOrThrow('beforeSend', { event: rec.event, tenant: rec.tenant, attempt, message }), signal);
        const rerouted = applyHookMessage(mail, message);
        if (rerouted) {
          this.#d.log.info('a beforeSend hook changed the recipients of a message', { tenant: rec.tenant, eventId: rec.eventId, from: rec.pending, to: mail.envelopeTo });
          target = { ...rec, pending: mail.envelopeTo };
        }
      }
      stage = 'send';
      const result = await this.#timed(() => (this.#d.send ?? sendOnce)(tenant.smtp, mail, signal, this.#d.sendContext?.(tenant)));
      return this.#settle(target, result);
    } catch (e) {
      rec = target;
      if (shutdown.aborted) return NO_CONTACT; // abandoned (shutdown, or the tenant settings changed): stays queued, no attempt counted
      const c = failure(stage, e, deadline.signal.aborted, this.#d.messageTimeoutMs());
      const perRecipient = (e as { rejectedErrors?: { recipient?: string }[] }).rejectedErrors;
      const session = stage === 'send' ? sessionOf(e) : undefined;
      if (perRecipient?.length) {
        return this.#settle(rec, { accepted: [], rejected: perRecipient.map((err) => ({ address: err.recipient ?? '', error: err })), response: '', ...(session && { session }) });
      }
      this.#finish(rec, c, failedSession(rec.pending, e, session), c.kind === 'permanent' ? rec.pending : [], c.kind === 'permanent' ? [] : rec.pending);
      return c.scope === 'server' ? c : undefined;
    } finally {
      clearTimeout(timer);
      link.dispose();
    }
  }

  /** The SMTP session, timed for the observer. */
  async #timed(send: () => Promise<SendResult>): Promise<SendResult> {
    const started = performance.now();
    const seen = (result: 'sent' | 'refused' | 'error') => this.#d.observer?.session((performance.now() - started) / 1000, result);
    try {
      const r = await send();
      seen(r.rejected.length === 0 ? 'sent' : 'refused');
      return r;
    } catch (e) {
      seen('error');
      throw e;
    }
  }

  /**
   * A test send: composes `rec` (a sample, not spooled) for `tenant` and sends it in one session
   * to its pending addresses, within the per-message deadline. Records nothing, reports nothing,
   * runs no hook; never throws.
   */
  async trial(rec: SpoolRecord, tenant: EffectiveTenant, shutdown: AbortSignal): Promise<{ delivered: boolean; code?: ErrorCode; reason?: string; session: Session }> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('deadline')), this.#d.messageTimeoutMs());
    const link = linkedSignal(shutdown, deadline.signal);
    let stage: Stage = 'compose';
    try {
      const mail = await this.#compose(rec, tenant);
      stage = 'send';
      const r = await (this.#d.send ?? sendOnce)(tenant.smtp, mail, link.signal, this.#d.sendContext?.(tenant));
      const session = settledSession(r);
      if (r.rejected.length === 0) return { delivered: true, session };
      const c = classify(r.rejected[0]!.error);
      return { delivered: false, code: c.code, reason: c.reason, session };
    } catch (e) {
      const c = failure(stage, e, deadline.signal.aborted, this.#d.messageTimeoutMs());
      return { delivered: false, code: c.code, reason: c.reason, session: failedSession(rec.pending, e, stage === 'send' ? sessionOf(e) : undefined) };
    } finally {
      clearTimeout(timer);
      link.dispose();
    }
  }

  #settle(rec: SpoolRecord, r: SendResult): Classification | undefined {
    const failed: string[] = [];
    const deferred: string[] = [];
    let temporary: Classification | undefined;
    let permanent: Classification | undefined;
    for (const { address, error } of r.rejected) {
      const c = classify(error);
      (c.kind === 'permanent' ? failed : deferred).push(address);
      const reason = { ...c, reason: `${address}: ${c.reason}` };
      if (c.kind === 'permanent') permanent ??= reason;
      else temporary ??= reason;
    }
    // email.failed carries the permanent reason, email.deferred (and lastError) the temporary one.
    this.#finish(rec, temporary ?? permanent, settledSession(r), failed, deferred, r.accepted, permanent);
    return undefined;
  }

  /**
   * Writes the attempt's outcome and reports it. `failed` are given up, `deferred` retried,
   * `delivered` done. Past maxAgeMs this attempt was the last: what it could not deliver fails as
   * MESSAGE_EXPIRED (expiry is only ever decided here, after an attempt, so a clock that jumped
   * forward costs each message one more try, never the message).
   */
  #finish(rec: SpoolRecord, c: Classification | undefined, session: Session, failed: string[], deferred: string[] = [], delivered: string[] = [], failedBecause = c): void {
    const attempts = rec.attempts + 1;
    const now = this.#d.clock?.wall() ?? Date.now();
    const retry = this.#d.retry();
    let pending = rec.pending.filter((a) => deferred.includes(a) || (!failed.includes(a) && !delivered.includes(a)));
    let lastError = c?.reason;
    let lastErrorCode: string | undefined = c?.code;
    if (pending.length > 0 && isExpired(rec.ageFrom, now, retry)) {
      const expired: Classification = { kind: 'permanent', scope: 'message', code: 'MESSAGE_EXPIRED', reason: `MESSAGE_EXPIRED: undeliverable for longer than ${retry.maxAgeMs} ms; last: ${c?.reason ?? 'none'}` };
      failed = [...failed, ...pending];
      pending = [];
      failedBecause = expired;
      lastError = expired.reason;
      lastErrorCode = expired.code;
    }
    const held = c?.code === 'SMTP_AUTH' ? retry.authFailureDelayMs : 0;
    const anyDelivered = delivered.length > 0 || rec.delivered.length > 0;
    const anyFailed = failed.length > 0 || rec.failed.length > 0;
    const log: StoredAttempt = {
      attempt: attempts,
      at: now,
      ...session,
      outcome: delivered.length > 0 ? (delivered.length === rec.pending.length ? 'delivered' : 'partial') : pending.length > 0 ? 'deferred' : 'failed',
      ...(delivered.length < rec.pending.length && (lastErrorCode ?? failedBecause?.code) !== undefined && { code: (lastErrorCode ?? failedBecause?.code)! }),
    };
    const outcome: AttemptOutcome = {
      state: pending.length > 0 ? 'queued' : !anyFailed ? 'delivered' : anyDelivered ? 'partial' : 'failed',
      pending,
      deliveredNow: delivered,
      failedNow: failed,
      attempts,
      nextAttemptAt: now + Math.max(backoffDelay(attempts, retry), held),
      ...(lastError !== undefined && { lastError }),
      ...(lastErrorCode !== undefined && { lastErrorCode }),
      log,
    };
    this.#d.observer?.attempt(rec.tenant, outcome.state);
    // Reports follow the write: what the host hears about is what the spool holds.
    this.#d.journal.record(rec.seq, rec.tenant, outcome, () => {
      const base = { eventId: rec.eventId, tenant: rec.tenant, attempts };
      const report = <T extends ReportType>(type: T, payload: ReportPayloads[T]) => {
        this.#d.reporter.report(type, payload);
        if (this.#d.hooks.has('afterDelivery')) void this.#d.hooks.run('afterDelivery', { event: rec.event, tenant: rec.tenant, type, payload });
      };
      if (delivered.length > 0) report('email.delivered', { ...base, to: delivered, messageId: rec.messageId });
      if (failed.length > 0) report('email.failed', { ...base, to: failed, reason: failedBecause?.reason ?? 'failed' });
      if (pending.length > 0) {
        report('email.deferred', { ...base, nextAttemptAt: new Date(outcome.nextAttemptAt).toISOString(), reason: c?.reason ?? 'deferred' });
      }
      if (outcome.state === 'delivered' && rec.attachments.length > 0) {
        void this.#d.spool.files.remove(path.dirname(rec.attachments[0]!.path)).catch(() => undefined);
      }
    });
  }

  /**
   * The record as it can be sent: a spooled copy that is gone (a cleanup script deleted it) is
   * marked missing, and the mail goes without it and says so, as for a file above
   * attachments.maxBytes, instead of being retried until maxAgeMs for a file that will not return.
   */
  async #withoutVanishedFiles(rec: SpoolRecord): Promise<SpoolRecord> {
    if (rec.attachments.length === 0) return rec;
    const present = await Promise.all(rec.attachments.map((a) => fs.promises.stat(a.path).then((st) => st.isFile(), (e: NodeJS.ErrnoException) => e.code !== 'ENOENT' && e.code !== 'ENOTDIR')));
    if (present.every(Boolean)) return rec;
    for (const [i, a] of rec.attachments.entries()) {
      if (!present[i]) this.#d.log.warn('a spooled attachment vanished; sending the mail without it', { code: 'ATTACHMENT_MISSING', tenant: rec.tenant, eventId: rec.eventId, role: a.role, file: a.path });
    }
    return { ...rec, attachments: rec.attachments.map((a, i) => (present[i] ? a : markMissing(a))) };
  }

  async #compose(rec: SpoolRecord, tenant: EffectiveTenant, view: Record<string, unknown> = {}): Promise<OutgoingMail> {
    const r = await this.#d.renderer.render(rec, tenant, { view });
    const kind = this.#d.kinds.get(rec.type);
    const recipient = this.#d.kinds.recipientOf(rec.event);
    return {
      from: tenant.from,
      envelopeFrom: tenant.fromAddress,
      ...(tenant.replyTo !== undefined && { replyTo: tenant.replyTo }),
      to: recipient.email.map((address) => ({ name: recipient.name ?? '', address })),
      envelopeTo: rec.pending,
      subject: r.subject,
      text: r.text,
      html: r.html,
      messageId: rec.messageId,
      date: new Date(rec.createdAt),
      headers: {
        'Auto-Submitted': 'auto-generated',
        'X-Auto-Response-Suppress': 'All',
        'Content-Language': r.language,
        'X-PBX-Event-Id': rec.eventId.replace(/[^\x21-\x7e]/g, ''),
      },
      // Named in the reader's time, as the mail's text shows it.
      attachments: planAttachments(rec, tenant, kind).attached.map((a) => ({ filename: safeFilename(rec, a, kind, firstTimeZone([recipient.timeZone, tenant.timeZone])), contentType: a.contentType, path: a.path })),
    };
  }
}

/** What an attempt's log line says about its session: server, TLS, reply, per-recipient results. */
type Session = Pick<StoredAttempt, 'host' | 'tlsVersion' | 'replyCode' | 'replyText' | 'recipients'>;

/** An attempt that never opened a session (the tenant unconfigured). */
const NO_SESSION: Session = { recipients: [] };

/** The reply code and text of a nodemailer error or response, one line. */
function reply(e: unknown): { replyCode?: number; replyText?: string } {
  const x = (e ?? {}) as { responseCode?: unknown; response?: unknown };
  const text = typeof x.response === 'string' && x.response !== '' ? oneLine(x.response) : undefined;
  const code = typeof x.responseCode === 'number' ? x.responseCode : text && /^[2-5]\d\d\b/.test(text) ? Number(text.slice(0, 3)) : undefined;
  return { ...(code !== undefined && { replyCode: code }), ...(text !== undefined && { replyText: text }) };
}

/** A session that ended with a result: the final reply, accepted recipients, and each refused one with its reply. */
function settledSession(r: SendResult): Session {
  const final = r.response !== '' ? reply({ response: r.response }) : reply(r.rejected[0]?.error);
  return {
    ...(r.session && { host: r.session.host, ...(r.session.tlsVersion !== undefined && { tlsVersion: r.session.tlsVersion }) }),
    ...final,
    recipients: [
      ...r.accepted.map((address) => ({ address, status: 'accepted' as const })),
      ...r.rejected.map(({ address, error }) => ({ address, status: 'rejected' as const, ...reply(error) })),
    ],
  };
}

/** Commands whose refusal is about the recipients (the envelope or the message), not the session. */
const RECIPIENT_STAGE = /^(RCPT|DATA|\.|MESSAGE|STREAM)/i;

/** A session that ended with an error: its reply, and the recipients as refused when the refusal came at or after RCPT TO. */
function failedSession(pending: string[], e: unknown, session: SessionInfo | undefined): Session {
  const r = session ? reply(e) : {};
  const command = String((e as { command?: unknown } | null)?.command ?? '');
  const perRecipient = session !== undefined && r.replyCode !== undefined && RECIPIENT_STAGE.test(command);
  return {
    ...(session && { host: session.host, ...(session.tlsVersion !== undefined && { tlsVersion: session.tlsVersion }) }),
    ...r,
    recipients: perRecipient ? pending.map((address) => ({ address, status: 'rejected' as const, ...r })) : [],
  };
}

/** Where an attempt was when it failed: only a failure in `send` may have reached the server. */
type Stage = 'compose' | 'beforeRender' | 'beforeSend' | 'send';

/**
 * What a failed attempt means. Only transport errors go through classify(): a failure while
 * composing or in a beforeSend hook never reached the server, so it is this message's problem
 * (temporary, message-scoped, with its own code) and never holds the tenant. The transport's own
 * refusals before connecting (COMPOSE_FAILED, DKIM_FAILED) are coded PluginErrors and stay so.
 */
function failure(stage: Stage, e: unknown, timedOut: boolean, timeoutMs: number): Classification {
  const own = (code: ErrorCode, reason: string): Classification => ({ kind: 'temporary', scope: 'message', code, reason: `${code}: ${reason}` });
  const what = () => oneLine(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  // A hook's failure is the message's alone, and final: retrying would run the same integrator code again.
  const hook = (code: ErrorCode, reason: string): Classification => ({ kind: 'permanent', scope: 'message', code, reason: reason.startsWith(`${code}:`) ? oneLine(reason) : `${code}: ${oneLine(reason)}` });
  if (stage === 'beforeRender' || stage === 'beforeSend') {
    const name = stage;
    // The message deadline (not the hook's own budget) ran out: a session-time problem, retried like one.
    if (timedOut) return own('HOOK_TIMEOUT', `a ${name} hook did not settle within ${timeoutMs} ms`);
    if (isPluginError(e) && (e.code === 'HOOK_FAILED' || e.code === 'HOOK_TIMEOUT')) return hook(e.code, e.message);
    return hook('HOOK_FAILED', `a ${name} hook threw (${what()})`);
  }
  if (isPluginError(e)) return { kind: 'temporary', scope: 'message', code: e.code, reason: e.message.startsWith(`${e.code}:`) ? oneLine(e.message) : `${e.code}: ${oneLine(e.message)}` };
  if (stage === 'compose') return own('COMPOSE_FAILED', `the mail could not be built (${what()})`);
  if (timedOut) return { ...classify({ code: 'ETIMEDOUT' }), reason: `SMTP_TIMEOUT: no final reply within ${timeoutMs} ms` };
  return classify(e);
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 300);

/** Settles as `p` does, or rejects once `signal` aborts: a hook that never returns must not hold a session past its deadline or shutdown. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What a beforeRender hook put in `view`, as plain data (it crosses to a render worker); anything else fails the message. */
function plainView(view: unknown): Record<string, unknown> {
  if (!view || typeof view !== 'object' || Array.isArray(view)) throw new PluginError('HOOK_FAILED', 'HOOK_FAILED: a beforeRender hook left state.view that is not an object');
  try {
    return structuredClone(view) as Record<string, unknown>;
  } catch (e) {
    throw new PluginError('HOOK_FAILED', `HOOK_FAILED: a beforeRender hook put a value in state.view that is not plain data (${(e as Error).message})`, { cause: e });
  }
}

const ADDRESS = /^[^\s@<>(),;:"\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$/;

/**
 * Takes back what a beforeSend hook left in its message: subject, text and HTML (strings; the
 * subject as one neutralised line), the headers it added (see addedHeaders), attachments it kept
 * or renamed (only files that were composed), and recipients. Returns true when the recipients
 * changed. Throws HOOK_FAILED for what cannot be sent (a body that is not a string, a file that
 * was not composed, recipients that are not 1 to 10 mail addresses). `from` stays as composed.
 */
function applyHookMessage(mail: OutgoingMail, m: HookMessage): boolean {
  const bad = (what: string) => new PluginError('HOOK_FAILED', `HOOK_FAILED: a beforeSend hook left message.${what}`);
  for (const k of ['subject', 'text', 'html'] as const) if (typeof m[k] !== 'string') throw bad(`${k} that is not a string`);
  mail.subject = neutraliseLine(m.subject, 250);
  mail.text = m.text;
  mail.html = m.html;
  mail.headers = { ...addedHeaders(mail.headers, m.headers), ...mail.headers };
  if (!Array.isArray(m.attachments)) throw bad('attachments that is not an array');
  const composed = new Map(mail.attachments.map((a) => [a.path, a]));
  mail.attachments = m.attachments.map((a) => {
    const own = a && typeof a === 'object' ? composed.get(a.path) : undefined;
    if (!own) throw bad(`attachments with a file that was not composed (${JSON.stringify((a as { path?: unknown })?.path)?.slice(0, 100)}): a hook may only drop or rename attachments`);
    return { ...own, filename: typeof a.filename === 'string' && a.filename.trim() ? neutraliseLine(a.filename, 128) : own.filename };
  });
  const to = m.to;
  if (!Array.isArray(to) || to.length < 1 || to.length > 10 || !to.every((a) => typeof a === 'string' && ADDRESS.test(a))) throw bad('to that is not 1 to 10 mail addresses');
  const same = to.length === mail.envelopeTo.length && to.every((a, i) => a === mail.envelopeTo[i]);
  if (same) return false;
  mail.to = [...new Set(to)].map((address) => ({ name: '', address }));
  mail.envelopeTo = [...new Set(to)];
  return true;
}

/** Headers a beforeSend hook may add: new names only, none that addresses, dates, identifies or structures the message, one-line values. */
const RESERVED_HEADER = /^(to|cc|bcc|from|sender|reply-to|subject|date|message-id|in-reply-to|references|mime-version|return-path|received|dkim-signature|content-.*|resent-.*)$/i;
function addedHeaders(own: Record<string, string>, fromHook: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fromHook || typeof fromHook !== 'object') return out;
  const taken = new Set(Object.keys(own).map((k) => k.toLowerCase()));
  for (const [k, v] of Object.entries(fromHook)) {
    if (taken.has(k.toLowerCase()) || RESERVED_HEADER.test(k) || !/^[A-Za-z0-9-]{1,76}$/.test(k)) continue;
    if (typeof v !== 'string' || v.length > 900 || /[\u0000-\u001f\u007f]/.test(v)) continue;
    out[k] = v;
  }
  return out;
}
