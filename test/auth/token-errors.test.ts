import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { missed } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { OAuthServer, startXOAuth2Smtp } from '../helpers/oauth-server';
import { testCa } from '../helpers/smtp';

const CS = 'cs-Wm40-EchoCanary-clientsecret';
const RT = 'rt-Pz18-EchoCanary-refreshtoken';
const USER = 'pbx@a.example.com';

/** Every 8-character piece of each secret that occurs in `text`. */
function fragments(text: string, ...secrets: string[]): string[] {
  const out = new Set<string>();
  for (const s of secrets) for (let i = 0; i + 8 <= s.length; i++) if (text.includes(s.slice(i, i + 8))) out.add(s.slice(i, i + 8));
  return [...out];
}

/** Everything the data directory holds on disk (spool.db, its WAL, anything else), as text. */
function dataDirText(dir: string): string {
  const parts: string[] = [];
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) parts.push(fs.readFileSync(path.join(e.parentPath ?? (e as { path: string }).path, e.name)).toString('latin1'));
  }
  return parts.join('\n');
}

describe('OAuth2 token endpoint errors: only RFC 6749 codes are quoted', function () {
  this.timeout(20_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  async function start(mode: OAuthServer['mode']) {
    const oauth = await OAuthServer.start({ clientId: 'cid', clientSecret: CS, refreshToken: RT });
    h.defer(() => oauth.close());
    const { smtp } = await startXOAuth2Smtp(testCa(), oauth, USER);
    h.defer(() => smtp.close());
    oauth.mode = mode;
    await h.start({
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 200, authFailureDelayMs: 100, maxAgeMs: 60_000 }, messageTimeoutMs: 5000 },
      tenants: { 'a.example.com': { from: USER, smtp: { host: '127.0.0.1', port: smtp.port, tls: { ca: testCa().cert, servername: 'localhost' }, auth: { type: 'oauth2', user: USER, clientId: 'cid', clientSecret: CS, refreshToken: RT, tokenUrl: oauth.url } } } },
    });
    return oauth;
  }

  it('an error field that echoes the refresh token and client secret: no 8-character piece of either in logs, email.deferred or the spool', async () => {
    const oauth = await start('echo-error');
    const e = missed('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.filter((x) => x.type === 'email.deferred' && x.payload.eventId === e.id).length >= 2);
    expect(oauth.requests.length).to.be.greaterThan(1);
    const reason = h.host.of('email.deferred', e.id)[0]!.payload.reason as string;
    // Not a code RFC 6749 knows: judged as a failing endpoint (temporary), and not quoted.
    expect(reason).to.equal(`SMTP_CONNECT (OAUTH2 TOKEN): token endpoint ${oauth.url} failed: HTTP 400 (error code not quoted: not one of RFC 6749)`);
    await h.deactivate();
    const seen = [JSON.stringify(h.host.logs), JSON.stringify(h.host.emitted), dataDirText(h.host.dataDir)].join('\n');
    expect(fragments(seen, RT, CS)).to.deep.equal([]);
  });

  it('an RFC 6749 error code is quoted, its free-text description is not', async () => {
    await start('echo');
    const e = missed('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e.id));
    const reason = h.host.of('email.deferred', e.id)[0]!.payload.reason as string;
    expect(reason).to.match(/refused the refresh token: HTTP 400 invalid_grant$/);
    await h.deactivate();
    expect(fragments([JSON.stringify(h.host.logs), JSON.stringify(h.host.emitted), dataDirText(h.host.dataDir)].join('\n'), RT, CS)).to.deep.equal([]);
  });
});
