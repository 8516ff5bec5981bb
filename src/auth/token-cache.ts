import * as crypto from 'node:crypto';
import type { SmtpOAuth2Auth } from '../generated/schema-types';

/** An OAuth2 access token and its lifetime. */
export interface AccessToken {
  value: string;
  /** Epoch ms after which the token must not be offered. */
  expiresAt: number;
  /** Epoch ms when the token endpoint issued it. */
  fetchedAt: number;
}

/** One tenant's access tokens, as a transport sees them. */
export interface TokenSource {
  /** The cached token, or a fresh one when there is none or it expires soon. */
  get(): Promise<AccessToken>;
  /** The server refused `stale`: forget it (unless a newer one replaced it already) and return a fresh one. */
  renew(stale: string): Promise<AccessToken>;
  /** Every secret this source holds (client secret, refresh tokens, access tokens), for redaction. */
  secrets(): string[];
}

/** An OAuth2 credential set whose token URL (and scope) the provider preset may have filled in. */
export type OAuth2Credentials = SmtpOAuth2Auth & { tokenUrl: string };

export interface TokenCacheOptions {
  /**
   * How long before its expiry a token is replaced, in milliseconds (at most half its lifetime).
   * @default 120_000
   */
  refreshBeforeMs?: number;
  /**
   * Deadline of one token request, in milliseconds.
   * @default 10_000
   */
  requestTimeoutMs?: number;
  /** The fetch implementation (Node's global fetch by default). */
  fetch?: typeof fetch;
}

/** Errors of the token endpoint, shaped like nodemailer's so classify() sees them: EAUTH is the tenant's configuration. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: 'EAUTH' | 'ECONNECTION';
  readonly command = 'OAUTH2 TOKEN';

  constructor(code: 'EAUTH' | 'ECONNECTION', message: string) {
    super(message);
    this.code = code;
  }
}

// OAuth2 error codes (RFC 6749 5.2) that no retry will cure: the credentials are wrong or revoked.
const REFUSALS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_request', 'unsupported_grant_type']);

interface Entry {
  token?: AccessToken;
  inflight?: Promise<AccessToken>;
  /** A refresh token the endpoint rotated to, kept in memory only. */
  rotated?: string;
  readonly tenant: string;
}

/**
 * OAuth2 access tokens of one plugin instance, cached per tenant and credential set for their
 * lifetime, so one token serves many per-message SMTP sessions. Concurrent sessions share one
 * request; a token is never shared between tenants (the key starts with the tenant id) or between
 * credential sets. dispose() aborts requests in flight.
 */
export class OAuthTokenCache {
  readonly #entries = new Map<string, Entry>();
  /** Requests in flight, each with its own controller: dispose() aborts them; no listener sits on a long-lived signal. */
  readonly #requests = new Set<AbortController>();
  #closed = false;
  readonly #refreshBeforeMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(opts: TokenCacheOptions = {}) {
    this.#refreshBeforeMs = opts.refreshBeforeMs ?? 120_000;
    this.#timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** The token source of one tenant's credentials. */
  source(tenant: string, auth: OAuth2Credentials): TokenSource {
    const key = `${tenant}\0${crypto
      .createHash('sha256')
      .update(JSON.stringify([auth.tokenUrl, auth.clientId, auth.clientSecret, auth.refreshToken, auth.scope ?? '', auth.user]))
      .digest('hex')}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { tenant };
      // Credentials of a tenant changed: the old entry's tokens are of no use any more.
      for (const [k, e] of this.#entries) if (e.tenant === tenant) this.#entries.delete(k);
      this.#entries.set(key, entry);
    }
    const e = entry;
    return {
      get: () => this.#get(e, auth),
      renew: (stale) => {
        if (e.token?.value === stale) delete e.token;
        return this.#get(e, auth);
      },
      secrets: () => [auth.clientSecret, auth.refreshToken, ...(e.rotated ? [e.rotated] : []), ...(e.token ? [e.token.value] : [])],
    };
  }

  dispose(): void {
    this.#closed = true;
    for (const r of this.#requests) r.abort(new Error('plugin deactivated'));
    this.#requests.clear();
    this.#entries.clear();
  }

  #get(e: Entry, auth: OAuth2Credentials): Promise<AccessToken> {
    const t = e.token;
    if (t) {
      const margin = Math.min(this.#refreshBeforeMs, (t.expiresAt - t.fetchedAt) / 2);
      if (Date.now() < t.expiresAt - margin) return Promise.resolve(t);
    }
    e.inflight ??= this.#request(e, auth).finally(() => delete e.inflight);
    return e.inflight;
  }

  async #request(e: Entry, auth: OAuth2Credentials): Promise<AccessToken> {
    if (this.#closed) throw new TokenError('ECONNECTION', 'token request refused: the plugin is deactivated');
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: e.rotated ?? auth.refreshToken, client_id: auth.clientId, client_secret: auth.clientSecret });
    if (auth.scope) body.set('scope', auth.scope);
    const endpoint = safeUrl(auth.tokenUrl);
    // One controller per request, for the request and its body: AbortSignal.any() over a long-lived
    // signal leaves an entry on it per request (Node 20), and a listener per request would trip
    // MaxListenersExceededWarning once more than ten tenants fetch at once.
    const request = new AbortController();
    const timer = setTimeout(() => request.abort(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    this.#requests.add(request);
    let res: Response;
    let json: Record<string, unknown> = {};
    try {
      try {
        res = await this.#fetch(auth.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
          redirect: 'error',
          signal: request.signal,
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        throw new TokenError('ECONNECTION', `token endpoint ${endpoint} unreachable (${/^[A-Za-z_]{1,40}$/.test(cause) ? cause : 'error'})`);
      }
      try {
        json = (await res.json()) as Record<string, unknown>;
      } catch {
        // Not JSON (or cut off): judged by the status alone.
      }
    } finally {
      clearTimeout(timer);
      this.#requests.delete(request);
    }
    // Only an RFC 6749 error code is ever quoted from the body: error, error_description and the
    // rest are the endpoint's free text, and endpoints echo what they were sent (the refresh token).
    const error = typeof json.error === 'string' && REFUSALS.has(json.error) ? json.error : undefined;
    if (!res.ok) {
      const refused = (res.status === 400 || res.status === 401) && (error !== undefined || typeof json.error !== 'string');
      throw new TokenError(refused ? 'EAUTH' : 'ECONNECTION', `token endpoint ${endpoint} ${refused ? 'refused the refresh token' : 'failed'}: HTTP ${res.status}${error ? ` ${error}` : typeof json.error === 'string' ? ' (error code not quoted: not one of RFC 6749)' : ''}`);
    }
    if (typeof json.access_token !== 'string' || json.access_token.length === 0) {
      throw new TokenError('ECONNECTION', `token endpoint ${endpoint} answered without an access_token`);
    }
    if (typeof json.refresh_token === 'string' && json.refresh_token.length > 0) e.rotated = json.refresh_token;
    const now = Date.now();
    const lifetimeS = Number(json.expires_in);
    const token = { value: json.access_token, fetchedAt: now, expiresAt: now + (Number.isFinite(lifetimeS) && lifetimeS > 0 ? lifetimeS : 3600) * 1000 };
    e.token = token;
    return token;
  }
}

/** The endpoint for messages: origin and path, never a query string. */
function safeUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'tokenUrl';
  }
}
