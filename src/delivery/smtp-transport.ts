import * as net from 'node:net';
import * as os from 'node:os';
import type { Readable } from 'node:stream';
import type { SecureContext, TLSSocket } from 'node:tls';
import MailComposer from 'nodemailer/lib/mail-composer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TokenSource } from '../auth';
import type { EffectiveTenant } from '../config';
import { isPluginError, PluginError } from '../errors';
import { Redactor } from '../security';
import { signMessage, type DkimKey } from './dkim-signer';

/** A composed message, ready for one SMTP session. */
export interface OutgoingMail {
  from: string;
  replyTo?: string;
  /** The To header: every recipient of the event. */
  to: { name: string; address: string }[];
  /** The SMTP envelope sender (the address in `from`). */
  envelopeFrom: string;
  /** The SMTP envelope recipients: those still pending. */
  envelopeTo: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  date: Date;
  headers: Record<string, string>;
  attachments: { filename: string; contentType: string; path: string }[];
}

/** What one send needs beyond the tenant's settings and the message. */
export interface SendContext {
  /** The tenant's OAuth2 access tokens; required when smtp.auth is oauth2. */
  tokens?: TokenSource;
  /** A private directory where a DKIM-signed message larger than 1 MB is kept while it is signed and sent, instead of memory. */
  tempDir?: string;
  /** The tenant's DKIM key, when it signs its mail (kept out of OutgoingMail, which hooks see). */
  dkim?: DkimKey;
  /** The tenant's reusable TLS client context (trust store built once; see TlsContexts). */
  secureContext?: SecureContext;
}

export interface SendResult {
  accepted: string[];
  /** Recipients the server refused, each with nodemailer's error (responseCode, response). */
  rejected: { address: string; error: unknown }[];
  response: string;
  /** What the session saw, for the delivery log; also on a thrown error as `session`. */
  session?: SessionInfo;
}

/** What one SMTP session saw: where it went and how it was protected (the replies are in the result or the error). */
export interface SessionInfo {
  host: string;
  /** The negotiated protocol (`TLSv1.3`), when the session was encrypted. */
  tlsVersion?: string;
}

/** The session info a failed send carries (set by sendOnce on the error it rejects with). */
export function sessionOf(e: unknown): SessionInfo | undefined {
  const s = (e as { session?: unknown } | null | undefined)?.session;
  return s && typeof s === 'object' && typeof (s as SessionInfo).host === 'string' ? (s as SessionInfo) : undefined;
}

type Smtp = EffectiveTenant['smtp'];
type PasswordAuth = { user: string; pass: string };
type OAuthAuth = { type: 'OAuth2'; user: string; accessToken: string; provisionCallback: (user: string, renew: boolean, cb: (err: Error | null, token?: string, expires?: number) => void) => void };
type SessionAuth = PasswordAuth | OAuthAuth;

/** How long a session waits for the reply to QUIT before it closes the connection anyway, in milliseconds. */
export const QUIT_TIMEOUT_MS = 2_000;

function passwordAuth(smtp: Smtp): PasswordAuth | undefined {
  return smtp.auth && smtp.auth.type !== 'oauth2' ? { user: smtp.auth.user, pass: smtp.auth.pass } : undefined;
}

/** Whether `name` may be announced in EHLO: a dotted DNS name, neither localhost nor an address literal. */
function isAnnounceable(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (!n.includes('.') || net.isIP(n) !== 0 || n.startsWith('[')) return false;
  if (n === 'localhost' || n.startsWith('localhost.') || n.endsWith('.localhost') || n.endsWith('.local')) return false;
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(n);
}

/**
 * The name announced in EHLO/HELO: `smtp.heloName` when set; else this machine's name when it is
 * fully qualified; else the domain of the envelope sender (the tenant's `from`). Never an address
 * literal such as [127.0.0.1], which servers take for a misconfigured or spamming client.
 */
export function heloName(smtp: Smtp, envelopeFrom: string, machine: string = safeHostname()): string {
  if (smtp.heloName) return smtp.heloName;
  if (isAnnounceable(machine)) return machine.replace(/\.$/, '');
  return envelopeFrom.slice(envelopeFrom.lastIndexOf('@') + 1).toLowerCase();
}

function safeHostname(): string {
  try {
    return os.hostname();
  } catch {
    return '';
  }
}

/** Connection options for one session to one tenant's server: TLS 1.2 or later, nothing pooled. */
export function transportOptions(smtp: Smtp, secureContext?: SecureContext, name?: string) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    ...(name !== undefined && { name }),
    tls: {
      minVersion: 'TLSv1.2' as const,
      rejectUnauthorized: smtp.tls?.rejectUnauthorized ?? true,
      ...(smtp.tls?.ca !== undefined && { ca: smtp.tls.ca }),
      ...(smtp.tls?.servername !== undefined && { servername: smtp.tls.servername }),
      ...(secureContext && { secureContext }),
    },
    connectionTimeout: smtp.connectionTimeoutMs ?? 10_000,
    greetingTimeout: smtp.greetingTimeoutMs ?? 10_000,
    socketTimeout: smtp.socketTimeoutMs ?? 30_000,
    // After QUIT the server closes; one that does not is cut off, so no socket outlives a session for long.
    socketCloseTimeout: 1_000,
    logger: false,
    debug: false,
  };
}

/**
 * Sends one message in its own SMTP session: a new TCP connection and a fresh TLS handshake
 * (STARTTLS or implicit) every time, ended with QUIT; nothing is pooled, no TLS session or ticket
 * is offered for resumption. `signal` aborts the session (the overall deadline, or shutdown).
 * Whatever fails before the first byte to the server rejects with a coded PluginError
 * (COMPOSE_FAILED, DKIM_FAILED); everything else is nodemailer's error, for classify().
 */
export async function sendOnce(smtp: Smtp, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext = {}): Promise<SendResult> {
  const auth = smtp.auth;
  const redact = new Redactor([auth?.type === 'oauth2' ? auth.clientSecret : auth?.pass, ctx.dkim?.privateKey], auth?.user);
  if (auth?.type === 'oauth2') redact.add(auth.refreshToken, auth.user);
  const seen: SessionInfo = { host: smtp.host };
  try {
    const r = auth?.type === 'oauth2' ? await sendWithToken(smtp, mail, signal, ctx, redact, seen) : await session(smtp, passwordAuth(smtp), mail, signal, ctx, seen);
    return { ...r, response: redact.text(r.response), rejected: r.rejected.map((x) => ({ address: x.address, error: redact.error(x.error) })), session: { ...seen } };
  } catch (e) {
    for (const s of ctx.tokens?.secrets() ?? []) redact.add(s, auth?.user);
    throw Object.assign(redact.error(e), { session: { ...seen } });
  }
}

/**
 * XOAUTH2 with the tenant's cached access token. A token the server refuses (334 then 535, or
 * 535 at once) is replaced: within the session through nodemailer's provisionCallback, or, when
 * the server closed the exchange, in one more session with a fresh token. A token fetched for
 * this very send is not retried: the refusal is then the tenant's configuration (SMTP_AUTH).
 */
async function sendWithToken(smtp: Smtp, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext, redact: Redactor, seen: SessionInfo): Promise<SendResult> {
  const tokens = ctx.tokens;
  const user = smtp.auth!.user;
  if (!tokens) throw Object.assign(new Error('OAuth2 is configured but no token source was given'), { code: 'EAUTH', command: 'API' });
  const started = Date.now();
  let token = await abortable(tokens.get(), signal);
  redact.add(token.value, user);
  let renewed = false;
  const auth = (): OAuthAuth => ({
    type: 'OAuth2',
    user,
    accessToken: token.value,
    provisionCallback: (_user, _renew, cb) => {
      renewed = true;
      tokens.renew(token.value).then(
        (t) => {
          token = t;
          redact.add(t.value, user);
          cb(null, t.value, t.expiresAt);
        },
        (e: Error) => cb(e),
      );
    },
  });
  try {
    return await session(smtp, auth(), mail, signal, ctx, seen);
  } catch (e) {
    const err = e as { code?: string; responseCode?: number };
    const refused = err.code === 'EAUTH' && typeof err.responseCode === 'number' && err.responseCode >= 500;
    if (!refused || renewed || token.fetchedAt >= started || signal.aborted) throw e;
    token = await abortable(tokens.renew(token.value), signal);
    redact.add(token.value, user);
    return await session(smtp, auth(), mail, signal, ctx, seen);
  }
}

/** nodemailer's message options for a composed mail: what goes on the wire (the DKIM signature is added after composing). */
export function messageOptions(mail: OutgoingMail) {
  return {
    from: mail.from,
    ...(mail.replyTo !== undefined && { replyTo: mail.replyTo }),
    to: mail.to,
    envelope: { from: mail.envelopeFrom, to: mail.envelopeTo },
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    date: mail.date,
    headers: mail.headers,
    attachments: mail.attachments,
    disableUrlAccess: true,
  };
}

/** `p`, or a rejection as soon as `signal` aborts (a token request outlives a session that gave up). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(Object.assign(new Error('aborted while waiting for an OAuth2 token'), { code: 'EABORT' }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(Object.assign(new Error('aborted while waiting for an OAuth2 token'), { code: 'EABORT' }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The message as it goes out in DATA, readable once per session. */
interface Prepared {
  stream(): Readable;
  dispose(): Promise<void>;
}

/**
 * Composes (and, for a signing tenant, signs) the message before any connection is made, so a
 * failure here never reaches the server and is the message's problem: COMPOSE_FAILED for a mail
 * that cannot be built, DKIM_FAILED for one that cannot be signed (never sent unsigned).
 */
async function prepare(mail: OutgoingMail, ctx: SendContext): Promise<Prepared> {
  try {
    const node = new MailComposer(messageOptions(mail)).compile();
    if (!ctx.dkim) return { stream: () => node.createReadStream(), dispose: async () => undefined };
    return await signMessage(node.createReadStream(), ctx.dkim, ctx.tempDir);
  } catch (e) {
    // DKIM_FAILED, or an attachment that could not be read (ESTREAM, classified like one during DATA), stay as they are.
    if (isPluginError(e) || (e as { code?: string })?.code === 'ESTREAM') throw e;
    throw composeFailed(e);
  }
}

function composeFailed(e: unknown): PluginError {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new PluginError('COMPOSE_FAILED', `COMPOSE_FAILED: the mail could not be built (${what.replace(/[\r\n]+/g, ' ').slice(0, 200)})`, { cause: e });
}

async function session(smtp: Smtp, auth: SessionAuth | undefined, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext, seen: SessionInfo): Promise<SendResult> {
  const aborted = () => Object.assign(new Error('SMTP session aborted before connecting'), { code: 'EABORT' });
  if (signal.aborted) throw aborted();
  const message = await prepare(mail, ctx);
  try {
    if (signal.aborted) throw aborted();
    return await converse(smtp, auth, { from: mail.envelopeFrom, to: mail.envelopeTo }, message, signal, ctx, seen);
  } finally {
    await message.dispose();
  }
}

/** The XOAUTH2 token generator SMTPConnection asks (getToken(renew)); renewals go to the tenant's token source. */
function xoauth2(a: OAuthAuth) {
  let token = a.accessToken;
  return {
    getToken(renew: boolean, cb: (err: Error | null, token?: string) => void) {
      if (!renew) return cb(null, token);
      a.provisionCallback(a.user, true, (err, t) => {
        if (err || !t) return cb(err ?? new Error('no token'));
        token = t;
        cb(null, t);
      });
    },
    buildXOAuth2Token: (t: string) => Buffer.from(`user=${a.user}\x01auth=Bearer ${t}\x01\x01`, 'utf8').toString('base64'),
  };
}

/**
 * One SMTP session on its own connection: greeting, EHLO, STARTTLS, AUTH, the transaction, and
 * QUIT. QUIT is sent, and its reply awaited for at most QUIT_TIMEOUT_MS, after every orderly end:
 * delivery, a refused recipient, message or login. A session that broke (connection lost, a
 * timeout, a DATA stream that failed halfway, an abort) is closed without it.
 */
function converse(smtp: Smtp, auth: SessionAuth | undefined, envelope: { from: string; to: string[] }, message: Prepared, signal: AbortSignal, ctx: SendContext, seen: SessionInfo): Promise<SendResult> {
  let conn: SMTPConnection;
  try {
    conn = new SMTPConnection(transportOptions(smtp, ctx.secureContext, heloName(smtp, envelope.from)));
  } catch (e) {
    return Promise.reject(composeFailed(e));
  }
  return new Promise<SendResult>((resolve, reject) => {
    let settled = false;
    // SMTPConnection emits 'error' only for a broken session (socket, timeout, TLS, protocol), and
    // closes it right after: no QUIT then.
    let broken = false;
    const finish = (err: (Error & { code?: string }) | null, result?: SendResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      const protocol = conn.secure && conn._socket ? (conn._socket as TLSSocket).getProtocol?.() : undefined;
      if (protocol) seen.tlsVersion = protocol;
      const done = () => (err ? reject(err) : resolve(result!));
      const orderly = !broken && !signal.aborted && !conn.destroyed && err?.code !== 'ESTREAM' && err?.code !== 'EABORT';
      if (orderly) quit(conn, signal).then(done);
      else {
        conn.close();
        done();
      }
    };
    const onAbort = () => finish(Object.assign(new Error('SMTP session aborted'), { code: 'EABORT' }));
    signal.addEventListener('abort', onAbort, { once: true });
    // Stays attached for the whole life of the connection: a late socket error must not go unhandled.
    conn.on('error', (e: Error) => {
      broken = true;
      finish(e);
    });
    const transact = () => {
      conn.send(envelope, message.stream(), (err, info) => {
        if (err) return finish(err);
        const rejectedErrors = (info.rejectedErrors ?? []) as { recipient?: string }[];
        finish(null, {
          accepted: (info.accepted ?? []).map(String),
          rejected: (info.rejected ?? []).map(String).map((address) => ({
            address,
            error: rejectedErrors.find((e) => e.recipient === address) ?? { responseCode: 550, response: 'rejected' },
          })),
          response: String(info.response ?? ''),
        });
      });
    };
    conn.connect((err) => {
      if (err) return finish(err);
      if (!auth || !conn.allowsAuth) return transact();
      const login = 'pass' in auth ? { user: auth.user, credentials: { user: auth.user, pass: auth.pass } } : { type: 'OAUTH2', user: auth.user, method: 'XOAUTH2', oauth2: xoauth2(auth) };
      conn.login(login as Parameters<SMTPConnection['login']>[0], (e) => (e ? finish(e) : transact()));
    });
  });
}

/** Sends QUIT and waits for the server's reply (after which SMTPConnection closes), or QUIT_TIMEOUT_MS, or an abort. */
function quit(conn: SMTPConnection, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', cut);
      conn.close();
      resolve();
    };
    const cut = () => done();
    if (conn.destroyed) return done();
    conn.once('end', done);
    timer = setTimeout(done, QUIT_TIMEOUT_MS);
    signal.addEventListener('abort', cut, { once: true });
    conn.quit();
  });
}
