import nodemailer from 'nodemailer';
import type { SecureContext } from 'node:tls';
import type { TokenSource } from '../auth';
import type { EffectiveTenant } from '../config';
import { Redactor } from '../security';

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
  /** A private directory where a DKIM-signed message larger than 1 MB is spooled while signing, instead of memory. */
  tempDir?: string;
  /** The tenant's DKIM key, when it signs its mail (kept out of OutgoingMail, which hooks see). */
  dkim?: { domainName: string; keySelector: string; privateKey: string };
  /** The tenant's reusable TLS client context (trust store built once; see TlsContexts). */
  secureContext?: SecureContext;
}

export interface SendResult {
  accepted: string[];
  /** Recipients the server refused, each with nodemailer's error (responseCode, response). */
  rejected: { address: string; error: unknown }[];
  response: string;
}

type Smtp = EffectiveTenant['smtp'];
type NodemailerAuth =
  | { user: string; pass: string }
  | { type: 'OAuth2'; user: string; accessToken: string; provisionCallback: (user: string, renew: boolean, cb: (err: Error | null, token?: string, expires?: number) => void) => void };

function passwordAuth(smtp: Smtp): NodemailerAuth | undefined {
  return smtp.auth && smtp.auth.type !== 'oauth2' ? { user: smtp.auth.user, pass: smtp.auth.pass } : undefined;
}

/** nodemailer options for one message to one tenant's server: no pool, TLS 1.2 or later. */
export function transportOptions(smtp: Smtp, auth: NodemailerAuth | undefined = passwordAuth(smtp), secureContext?: SecureContext) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    ...(auth && { auth }),
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
    disableUrlAccess: true,
    logger: false,
    debug: false,
  };
}

/**
 * Sends one message in its own SMTP session: a new transport, a new TCP connection and a fresh
 * TLS handshake (STARTTLS or implicit) every time; nothing is pooled, no TLS session or ticket is
 * offered for resumption. `signal` aborts the session (the overall deadline, or shutdown).
 */
export async function sendOnce(smtp: Smtp, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext = {}): Promise<SendResult> {
  const auth = smtp.auth;
  const redact = new Redactor([auth?.type === 'oauth2' ? auth.clientSecret : auth?.pass, ctx.dkim?.privateKey], auth?.user);
  if (auth?.type === 'oauth2') redact.add(auth.refreshToken, auth.user);
  try {
    const r = auth?.type === 'oauth2' ? await sendWithToken(smtp, mail, signal, ctx, redact) : await session(smtp, passwordAuth(smtp), mail, signal, ctx);
    return { ...r, response: redact.text(r.response), rejected: r.rejected.map((x) => ({ address: x.address, error: redact.error(x.error) })) };
  } catch (e) {
    for (const s of ctx.tokens?.secrets() ?? []) redact.add(s, auth?.user);
    throw redact.error(e);
  }
}

/**
 * XOAUTH2 with the tenant's cached access token. A token the server refuses (334 then 535, or
 * 535 at once) is replaced: within the session through nodemailer's provisionCallback, or, when
 * the server closed the exchange, in one more session with a fresh token. A token fetched for
 * this very send is not retried: the refusal is then the tenant's configuration (SMTP_AUTH).
 */
async function sendWithToken(smtp: Smtp, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext, redact: Redactor): Promise<SendResult> {
  const tokens = ctx.tokens;
  const user = smtp.auth!.user;
  if (!tokens) throw Object.assign(new Error('OAuth2 is configured but no token source was given'), { code: 'EAUTH', command: 'API' });
  const started = Date.now();
  let token = await abortable(tokens.get(), signal);
  redact.add(token.value, user);
  let renewed = false;
  const auth = (): NodemailerAuth => ({
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
    return await session(smtp, auth(), mail, signal, ctx);
  } catch (e) {
    const err = e as { code?: string; responseCode?: number };
    const refused = err.code === 'EAUTH' && typeof err.responseCode === 'number' && err.responseCode >= 500;
    if (!refused || renewed || token.fetchedAt >= started || signal.aborted) throw e;
    token = await abortable(tokens.renew(token.value), signal);
    redact.add(token.value, user);
    return await session(smtp, auth(), mail, signal, ctx);
  }
}

/** nodemailer's message options for a composed mail: what goes on the wire, DKIM-signed when the tenant signs. */
export function messageOptions(mail: OutgoingMail, ctx: SendContext = {}) {
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
    ...(ctx.dkim && { dkim: { ...ctx.dkim, ...(ctx.tempDir !== undefined && { cacheDir: ctx.tempDir, cacheTreshold: 1024 * 1024 }) } }),
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

async function session(smtp: Smtp, auth: NodemailerAuth | undefined, mail: OutgoingMail, signal: AbortSignal, ctx: SendContext): Promise<SendResult> {
  const transporter = nodemailer.createTransport(transportOptions(smtp, auth, ctx.secureContext));
  try {
    const info = await transporter.sendMail({ ...messageOptions(mail, ctx), signal });
    const rejectedErrors = ((info as { rejectedErrors?: { recipient?: string }[] }).rejectedErrors ?? []) as { recipient?: string }[];
    return {
      accepted: (info.accepted as (string | { address: string })[]).map(addr),
      rejected: (info.rejected as (string | { address: string })[]).map(addr).map((address) => ({
        address,
        error: rejectedErrors.find((e) => e.recipient === address) ?? { responseCode: 550, response: 'rejected' },
      })),
      response: String(info.response ?? ''),
    };
  } finally {
    transporter.close();
  }
}

function addr(a: string | { address: string }): string {
  return typeof a === 'string' ? a : a.address;
}

