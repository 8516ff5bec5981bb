import { ERROR_CATALOG, type ErrorCode } from '../errors';

/**
 * How a failure is handled:
 * - `temporary`: retry with backoff.
 * - `permanent`: fail now (5xx).
 * - `auth`: the tenant's credentials were refused; hold the tenant long, report clearly.
 */
export type FailureKind = 'temporary' | 'permanent' | 'auth';

export interface Classification {
  kind: FailureKind;
  /** `server`: the tenant's server is unusable right now (hold the tenant); `message`: only this message or recipient. */
  scope: 'server' | 'message';
  code: ErrorCode;
  /** One line for reports, free of secrets: the code and the server's reply. */
  reason: string;
}

interface SmtpLikeError {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 300);

/**
 * The one place delivery failures are classified, from nodemailer's `code` and `responseCode`.
 * Connection, timeout and TLS failures, 421 and other 4xx are temporary; 5xx other than 503 is
 * permanent; refused credentials are `auth`.
 */
export function classify(error: unknown): Classification {
  const e = (error ?? {}) as SmtpLikeError;
  const rc = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const reply = e.response ? oneLine(e.response) : oneLine(e.message ?? String(error));
  const at = e.command ? ` (${e.command})` : '';
  const make = (kind: FailureKind, scope: Classification['scope'], code: ErrorCode): Classification => ({
    kind,
    scope,
    code,
    reason: `${code}${at}: ${reply}`,
  });

  if (e.code === 'EAUTH' || e.code === 'ENOAUTH' || e.code === 'EOAUTH2') {
    // A 4xx during AUTH (454 temporary authentication failure) is the server's trouble, not the tenant's config.
    return rc !== undefined && rc >= 400 && rc < 500 ? make('temporary', 'server', 'SMTP_TEMPORARY') : make('auth', 'server', 'SMTP_AUTH');
  }
  if (e.code === 'ETLS' || (e.command === 'STARTTLS' && rc !== undefined) || isTlsFailure(e)) {
    return make('temporary', 'server', 'SMTP_TLS');
  }
  if (e.code === 'ETIMEDOUT' || e.code === 'EABORT' || e.originalCode === 'ETIMEDOUT') return make('temporary', 'server', 'SMTP_TIMEOUT');
  if (rc === 421) return make('temporary', 'server', 'SMTP_TEMPORARY');
  // 530/534/538: the server wants (other) credentials before it takes mail: the tenant's configuration again.
  if (rc === 530 || rc === 534 || rc === 538) return make('auth', 'server', 'SMTP_AUTH');
  if (rc !== undefined) {
    if (rc >= 500 && rc !== 503) return make('permanent', 'message', 'SMTP_PERMANENT');
    return make('temporary', e.command === 'CONN' || e.command === 'EHLO' ? 'server' : 'message', 'SMTP_TEMPORARY');
  }
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return make('temporary', 'message', 'SMTP_TEMPORARY');
  // Not the server's fault: this message could not be built (its spooled attachment unreadable, a
  // template or hook error). Retried until maxAgeMs like any temporary failure, but it must not
  // hold the tenant's other mail.
  if (e.code === 'ESTREAM') return make('temporary', 'message', /ENOENT|EACCES|EISDIR|EPERM/.test(`${e.originalCode ?? ''} ${e.message ?? ''}`) ? 'ATTACHMENT_NOT_FOUND' : 'SMTP_TEMPORARY');
  if (typeof e.code === 'string' && Object.hasOwn(ERROR_CATALOG, e.code)) return make('temporary', 'message', e.code as ErrorCode);
  return make('temporary', 'server', 'SMTP_CONNECT');
}

/**
 * A failed TLS handshake or certificate check. nodemailer reports these as ESOCKET (command CONN)
 * with Node's TLS error as `originalCode`, or, for a peer that hangs up mid-handshake, only in
 * the message.
 */
function isTlsFailure(e: SmtpLikeError): boolean {
  const oc = e.originalCode ?? '';
  if (/^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/.test(oc)) return true;
  return /STARTTLS|secure TLS connection|SSL routines|certificate/i.test(e.message ?? '');
}
