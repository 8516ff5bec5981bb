import { expect } from 'chai';
import { OAuthTokenCache, type OAuth2Credentials } from '../../src/auth';
import { OAuthServer } from '../helpers/oauth-server';
import { waitFor } from '../helpers/wait';

const CREDS = { clientId: 'cid', clientSecret: 'cs-1234-secret', refreshToken: 'rt-5678-refresh' };

describe('OAuthTokenCache', () => {
  let oauth: OAuthServer;
  let cache: OAuthTokenCache;
  let auth: OAuth2Credentials;

  beforeEach(async () => {
    oauth = await OAuthServer.start(CREDS);
    cache = new OAuthTokenCache();
    auth = { type: 'oauth2', user: 'pbx@a.example', ...CREDS, tokenUrl: oauth.url };
  });

  afterEach(async () => {
    cache.dispose();
    await oauth.close();
  });

  it('serves concurrent sessions with one request, and later ones from the cache', async () => {
    const src = cache.source('a', auth);
    const got = await Promise.all(Array.from({ length: 5 }, () => src.get()));
    expect(new Set(got.map((t) => t.value)).size).to.equal(1);
    expect((await src.get()).value).to.equal(got[0]!.value);
    expect(oauth.requests).to.have.length(1);
  });

  it('replaces a token shortly before it expires (at most half its lifetime early)', async () => {
    oauth.expiresIn = 1;
    const src = cache.source('a', auth);
    const first = await src.get();
    expect(first.expiresAt - first.fetchedAt).to.equal(1000);
    expect((await src.get()).value).to.equal(first.value);
    // Every get() until the replacement returns the first token without a request; the replacement is
    // fetched once, no earlier than half the lifetime, and served from then on.
    let gets = 0;
    const next = await waitFor(
      async () => {
        const t = await src.get();
        gets++;
        return t.value === first.value ? undefined : t;
      },
      { what: 'the token replaced before it expires', timeoutMs: 5_000, intervalMs: 50, detail: () => ({ requests: oauth.requests.length, gets }) },
    );
    expect(next.fetchedAt, 'replaced no earlier than half its lifetime').to.be.at.least(first.fetchedAt + 500);
    expect(next.expiresAt - next.fetchedAt).to.equal(1000);
    expect(oauth.requests).to.have.length(2);
    expect((await src.get()).value).to.equal(next.value);
    expect(oauth.requests).to.have.length(2);
  });

  it('renew(stale) fetches once however many sessions saw the same token refused', async () => {
    const src = cache.source('a', auth);
    const t = await src.get();
    const renewed = await Promise.all([src.renew(t.value), src.renew(t.value), src.renew(t.value)]);
    expect(new Set(renewed.map((x) => x.value)).size).to.equal(1);
    expect(renewed[0]!.value).to.not.equal(t.value);
    expect(oauth.requests).to.have.length(2);
    // A late refusal of the old token does not throw away the new one.
    expect((await src.renew(t.value)).value).to.equal(renewed[0]!.value);
    expect(oauth.requests).to.have.length(2);
  });

  it('keys tokens by tenant and by credentials; new credentials drop the old token', async () => {
    const a = await cache.source('a', auth).get();
    const b = await cache.source('b', auth).get();
    expect(a.value).to.not.equal(b.value);
    const changed = { ...auth, scope: 'other' };
    const a2 = await cache.source('a', changed).get();
    expect(a2.value).to.not.equal(a.value);
    expect(oauth.requests).to.have.length(3);
  });

  it('refused grant -> EAUTH, failing endpoint -> ECONNECTION, neither naming a secret', async () => {
    oauth.mode = 'echo';
    const err1 = await cache.source('a', auth).get().then(() => undefined, (e: unknown) => e as { code: string; message: string });
    expect(err1?.code).to.equal('EAUTH');
    expect(err1!.message).to.not.include(CREDS.clientSecret).and.not.include(CREDS.refreshToken);
    oauth.mode = 'fail';
    const err2 = await cache.source('a', auth).get().then(() => undefined, (e: unknown) => e as { code: string });
    expect(err2?.code).to.equal('ECONNECTION');
    await oauth.close();
    const err3 = await cache.source('a', auth).get().then(() => undefined, (e: unknown) => e as { code: string; message: string });
    expect(err3?.code).to.equal('ECONNECTION');
    expect(err3!.message).to.match(/unreachable/);
    oauth = await OAuthServer.start(CREDS);
  });
});
