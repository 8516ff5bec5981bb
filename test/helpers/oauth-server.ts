import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type * as net from 'node:net';
import type { TestCa } from '../../src/host/demo/test-ca';
import { TestSmtp } from './smtp';

export interface TokenRequest {
  grantType: string | null;
  refreshToken: string | null;
  clientId: string | null;
  clientSecret: string | null;
  scope: string | null;
}

export interface OAuthServerOptions {
  /** The client credentials it accepts. */
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** Lifetime announced in expires_in, in seconds. Default 3600. */
  expiresIn?: number;
}

/**
 * A stand-in OAuth2 token endpoint on loopback (the refresh-token grant of RFC 6749 section 6),
 * recording every request and every token it issued; tokens can be revoked, and the endpoint
 * can be told to refuse (invalid_grant) or fail (HTTP 503), optionally echoing what it was sent.
 */
export class OAuthServer {
  readonly requests: TokenRequest[] = [];
  readonly issued: string[] = [];
  readonly #revoked = new Set<string>();
  /**
   * refuse: 400 invalid_grant; fail: 503; echo: a refusal whose error_description repeats the request body;
   * echo-error: a refusal whose error field itself (not an RFC 6749 code) starts with the refresh token and client secret;
   * stillborn: tokens issued already revoked; hang: never answers.
   */
  mode: 'ok' | 'refuse' | 'fail' | 'echo' | 'echo-error' | 'stillborn' | 'hang' = 'ok';
  /** Requests the client gave up on (connection closed before an answer). */
  abandoned = 0;
  expiresIn: number;
  #server!: http.Server;
  url = '';

  private constructor(readonly opts: OAuthServerOptions) {
    this.expiresIn = opts.expiresIn ?? 3600;
  }

  static async start(opts: OAuthServerOptions): Promise<OAuthServer> {
    const s = new OAuthServer(opts);
    s.#server = http.createServer((req, res) => s.#handle(req, res));
    await new Promise<void>((r) => s.#server.listen(0, '127.0.0.1', r));
    s.url = `http://127.0.0.1:${(s.#server.address() as net.AddressInfo).port}/oauth2/v2.0/token`;
    return s;
  }

  /** True when `token` was issued here and not revoked. */
  valid(token: string): boolean {
    return this.issued.includes(token) && !this.#revoked.has(token);
  }

  revoke(token: string): void {
    this.#revoked.add(token);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const p = new URLSearchParams(body);
      this.requests.push({ grantType: p.get('grant_type'), refreshToken: p.get('refresh_token'), clientId: p.get('client_id'), clientSecret: p.get('client_secret'), scope: p.get('scope') });
      const send = (status: number, json: object) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (this.mode === 'hang') {
        res.on('close', () => this.abandoned++);
        return;
      }
      if (this.mode === 'fail') return send(503, { error: 'temporarily_unavailable' });
      if (this.mode === 'echo-error') return send(400, { error: `${p.get('refresh_token')}${p.get('client_secret')} ${body}`, error_description: body });
      if (this.mode === 'echo') return send(400, { error: 'invalid_grant', error_description: `bad request: ${body} ${p.get('client_secret')} ${p.get('refresh_token')}` });
      const ok = req.method === 'POST' && p.get('grant_type') === 'refresh_token' && p.get('client_id') === this.opts.clientId && p.get('client_secret') === this.opts.clientSecret && p.get('refresh_token') === this.opts.refreshToken;
      if (this.mode === 'refuse' || !ok) return send(400, { error: 'invalid_grant', error_description: 'AADSTS70000: The provided grant is invalid or expired.' });
      const token = `at-${this.issued.length + 1}-${crypto.randomBytes(12).toString('hex')}`;
      this.issued.push(token);
      if (this.mode === 'stillborn') this.#revoked.add(token);
      send(200, { token_type: 'Bearer', access_token: token, expires_in: this.expiresIn, scope: p.get('scope') ?? '' });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}


export interface XOAuth2Log {
  /** Every XOAUTH2 attempt: the user and the token it carried. */
  attempts: { user: string; token: string; ok: boolean }[];
}

/**
 * A real SMTP server (smtp-server) that offers only AUTH XOAUTH2 and accepts a token exactly
 * when `oauth` issued it to `user` and has not revoked it. A refused token is answered the
 * Google way (334 with a JSON error, then 535) or the Microsoft way (535 at once, quoting the
 * token when `echo`, as a hostile server might).
 */
export async function startXOAuth2Smtp(ca: TestCa, oauth: OAuthServer, user: string, refusal: '334' | '535' = '334', echo = false): Promise<{ smtp: TestSmtp; log: XOAuth2Log }> {
  const log: XOAuth2Log = { attempts: [] };
  const smtp = await TestSmtp.start({
    ca,
    auth: { user, pass: 'unused' },
    extra: {
      authMethods: ['XOAUTH2'],
      onAuth: (auth, _session, cb) => {
        const ok = auth.method === 'XOAUTH2' && auth.username === user && oauth.valid(auth.accessToken ?? '');
        log.attempts.push({ user: auth.username ?? '', token: auth.accessToken ?? '', ok });
        if (ok) return cb(null, { user: auth.username });
        if (refusal === '334') return cb(null, { data: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' } } as never);
        const e = new Error(`5.7.3 Authentication unsuccessful${echo ? ` for token ${auth.accessToken}` : ''}`) as Error & { responseCode: number };
        e.responseCode = 535;
        cb(e);
      },
    },
  });
  return { smtp, log };
}
