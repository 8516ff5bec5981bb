import { expect } from 'chai';
import { missed } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { OAuthServer, startXOAuth2Smtp } from '../helpers/oauth-server';
import { testCa } from '../helpers/smtp';

const CREDS = { clientId: 'client-77', clientSecret: 'cs-listeners-client-secret', refreshToken: 'rt-listeners-refresh-token' };
const USER = 'pbx@t.example.com';
const TENANTS = Array.from({ length: 20 }, (_, i) => `t${i}.example.com`);

/**
 * With delivery.concurrency.global above 10, twenty OAuth2 tenants fetch their tokens and send at
 * once: no abort listener piles up on a long-lived signal, so Node prints no
 * MaxListenersExceededWarning (the token cache used AbortSignal.any on its own shutdown signal).
 */
describe('OAuth2 token cache under concurrency (global 20)', function () {
  this.timeout(30_000);
  const h = new Harness();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => void warnings.push(w);

  before(() => process.on('warning', onWarning));
  after(async () => {
    process.off('warning', onWarning);
    await h.dispose();
  });

  it('twenty tenants deliver at once and Node emits no warning at all', async () => {
    const oauth = await OAuthServer.start(CREDS);
    h.defer(() => oauth.close());
    const { smtp } = await startXOAuth2Smtp(testCa(), oauth, USER);
    h.defer(() => smtp.close());
    const tenant = () => ({
      from: `PBX <${USER}>`,
      smtp: { host: '127.0.0.1', port: smtp.port, tls: { ca: testCa().cert, servername: 'localhost' }, auth: { type: 'oauth2', user: USER, ...CREDS, tokenUrl: oauth.url } },
    });
    await h.start({
      delivery: { concurrency: { global: 20, perTenant: 2 }, retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 60_000 }, messageTimeoutMs: 10_000, shutdownTimeoutMs: 500 },
      tenants: Object.fromEntries(TENANTS.map((t) => [t, tenant()])),
    });
    const events = TENANTS.flatMap((t) => [missed(t), missed(t)]);
    await Promise.all(events.map((e) => h.host.send(e)));
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length, 25_000);
    // Each tenant fetched its own token: twenty token requests were in flight together.
    expect(oauth.requests).to.have.length(TENANTS.length);
    expect(smtp.mails).to.have.length(events.length);
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).to.deep.equal([]);
  });
});
