import { expect } from 'chai';
import { PROVIDER_PRESETS } from '../../src/auth';
import { missed, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { OAuthServer, startXOAuth2Smtp, type XOAuth2Log } from '../helpers/oauth-server';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { RetryTicker, TICK_TENANT } from '../helpers/ticker';
import { waitFor } from '../helpers/wait';

const CREDS = { clientId: 'client-0f3a', clientSecret: 'cs-Zx81-client-secret-value', refreshToken: 'rt-Q7e2-refresh-token-value' };
const USER = 'pbx@a.example.com';

/** A tenant that names only the provider and its credentials; host, port and tokenUrl point at loopback stand-ins. */
function m365Tenant(port: number, tokenUrl: string, user = USER) {
  return {
    from: `PBX <${user}>`,
    smtp: {
      provider: 'microsoft365',
      host: '127.0.0.1',
      port,
      tls: { ca: testCa().cert, servername: 'localhost' },
      auth: { type: 'oauth2', user, ...CREDS, tokenUrl },
      connectionTimeoutMs: 2000,
      greetingTimeoutMs: 2000,
      socketTimeoutMs: 3000,
    },
  };
}

function config(tenants: Record<string, unknown>) {
  return { delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 60_000, authFailureDelayMs: 60_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 }, tenants };
}

describe('OAuth2 (XOAUTH2) with the microsoft365 preset', () => {
  let oauth: OAuthServer;
  let smtp: TestSmtp;
  let log: XOAuth2Log;
  const h = new Harness();

  async function start(refusal: '334' | '535' = '334') {
    oauth = await OAuthServer.start(CREDS);
    h.defer(() => oauth.close());
    ({ smtp, log } = await startXOAuth2Smtp(testCa(), oauth, USER, refusal));
    h.defer(() => smtp.close());
    await h.start(config({ 'a.example.com': m365Tenant(smtp.port, oauth.url) }));
  }

  afterEach(() => h.dispose());

  it('fetches one token with the preset scope and delivers many messages with it, each in its own STARTTLS session', async () => {
    await start();
    const events = Array.from({ length: 8 }, (_, i) => (i % 2 ? voicemail('a.example.com') : missed('a.example.com')));
    for (const e of events) await h.host.send(e);
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 8);
    expect(oauth.requests).to.have.length(1);
    expect(oauth.requests[0]).to.deep.equal({ grantType: 'refresh_token', refreshToken: CREDS.refreshToken, clientId: CREDS.clientId, clientSecret: CREDS.clientSecret, scope: PROVIDER_PRESETS.microsoft365.scope });
    expect(smtp.mails).to.have.length(8);
    expect(smtp.connections).to.equal(8);
    expect(smtp.handshakes).to.equal(8);
    for (const m of smtp.mails) expect(m.secure).to.equal(true);
    expect(log.attempts).to.have.length(8);
    expect(new Set(log.attempts.map((a) => a.token))).to.deep.equal(new Set([oauth.issued[0]]));
    expect(h.host.of('email.deferred')).to.have.length(0);
  });

  for (const refusal of ['334', '535'] as const) {
    it(`replaces a revoked token transparently (server refuses with ${refusal})`, async () => {
      await start(refusal);
      await h.host.send(voicemail('a.example.com'));
      await h.host.until((em) => em.some((e) => e.type === 'email.delivered'));
      oauth.revoke(oauth.issued[0]!);
      const later = [voicemail('a.example.com'), missed('a.example.com'), missed('a.example.com')];
      for (const e of later) await h.host.send(e);
      await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 4);
      expect(oauth.requests).to.have.length(2);
      expect(h.host.of('email.deferred')).to.have.length(0);
      for (const e of later) expect(h.host.of('email.delivered', e.id)[0]!.payload.attempts).to.equal(1);
      const refused = log.attempts.filter((a) => !a.ok);
      expect(refused.length).to.be.at.least(1);
      for (const a of refused) expect(a.token).to.equal(oauth.issued[0]);
      // 334: renewed within the same session; 535: the server ended the exchange, so one more session.
      if (refusal === '334') expect(smtp.connections).to.equal(4);
      else expect(smtp.connections, 'one more session per refusal').to.equal(1 + later.length + refused.length);
      expect(log.attempts.filter((a) => a.ok).map((a) => a.token).slice(-3)).to.deep.equal([oauth.issued[1], oauth.issued[1], oauth.issued[1]]);
    });
  }

  it('never shares a token between tenants, even with identical credentials', async () => {
    oauth = await OAuthServer.start(CREDS);
    h.defer(() => oauth.close());
    const b = await startXOAuth2Smtp(testCa(), oauth, 'pbx@b.example.com');
    ({ smtp, log } = await startXOAuth2Smtp(testCa(), oauth, USER));
    h.defer(() => smtp.close());
    await h.start(config({ 'a.example.com': m365Tenant(smtp.port, oauth.url), 'b.example.com': m365Tenant(b.smtp.port, oauth.url, 'pbx@b.example.com') }));
    try {
      for (let i = 0; i < 3; i++) {
        await h.host.send(missed('a.example.com'));
        await h.host.send(missed('b.example.com'));
      }
      await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 6);
      expect(oauth.requests).to.have.length(2);
      const tokensA = new Set(log.attempts.map((x) => x.token));
      const tokensB = new Set(b.log.attempts.map((x) => x.token));
      expect(tokensA.size).to.equal(1);
      expect(tokensB.size).to.equal(1);
      expect([...tokensA][0]).to.not.equal([...tokensB][0]);
    } finally {
      await b.smtp.close();
    }
  });

  it('a refused refresh token is SMTP_AUTH: deferred with a clear reason, held long, never retried hot', async () => {
    const ticker = await RetryTicker.start();
    h.defer(() => ticker.close());
    oauth = await OAuthServer.start(CREDS);
    h.defer(() => oauth.close());
    ({ smtp, log } = await startXOAuth2Smtp(testCa(), oauth, USER));
    h.defer(() => smtp.close());
    await h.start(config({ 'a.example.com': m365Tenant(smtp.port, oauth.url), [TICK_TENANT]: ticker.tenant() }));
    oauth.mode = 'refuse';
    const e = voicemail('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred'));
    const d = h.host.of('email.deferred', e.id)[0]!.payload;
    expect(d.reason).to.match(/^SMTP_AUTH \(OAUTH2 TOKEN\): token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth2\/v2\.0\/token refused the refresh token: HTTP 400 invalid_grant/);
    expect(Date.parse(d.nextAttemptAt) - Date.now()).to.be.greaterThan(50_000);
    // Three retry rounds of another tenant (200 + 400 + 800 ms of backoff) later: still the one token request.
    await ticker.tick(h.host, 3);
    expect(smtp.connections).to.equal(0);
    expect(oauth.requests).to.have.length(1);
    expect(h.host.of('email.deferred', e.id)).to.have.length(1);
  });

  it('an unreachable or failing token endpoint is temporary (SMTP_CONNECT), not the tenant’s credentials', async () => {
    await start();
    oauth.mode = 'fail';
    const e = voicemail('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred'));
    expect(h.host.of('email.deferred', e.id)[0]!.payload.reason).to.match(/^SMTP_CONNECT \(OAUTH2 TOKEN\): .*HTTP 503/);
    oauth.mode = 'ok';
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered'));
  });

  it('deactivate() does not wait for a token endpoint that never answers: the request is abandoned, the mail stays queued', async () => {
    await start();
    oauth.mode = 'hang';
    const e = voicemail('a.example.com');
    await h.host.send(e);
    await waitFor(() => oauth.requests.length === 1, { what: 'the token request at the hanging endpoint', detail: () => oauth.requests.length });
    await h.deactivate();
    await waitFor(() => oauth.abandoned === 1, { what: 'the hanging token request abandoned', detail: () => oauth.abandoned });
    expect(h.host.emitted.filter((x) => x.payload.eventId === e.id)).to.deep.equal([]);
    oauth.mode = 'ok';
    await h.replaceHost(h.host.config, { sameDataDir: true });
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
  });
});
