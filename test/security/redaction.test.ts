import * as crypto from 'node:crypto';
import { expect } from 'chai';
import { activate, type EmailNotifyPlugin } from '../../src';
import { sendOnce } from '../../src/delivery/smtp-transport';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { OAuthServer, startXOAuth2Smtp } from '../helpers/oauth-server';
import { TestSmtp, testCa } from '../helpers/smtp';

const PW = 'pw-Kq93-LeakCanary-password';
const CS = 'cs-Vb71-LeakCanary-clientsecret';
const RT = 'rt-Hn52-LeakCanary-refreshtoken';
const PG = 'pg-Wd64-LeakCanary-dbpassword';
const DKIM_KEY = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** Everything a thing could show a reader: own enumerable fields, message, stack, cause chain. */
function dump(x: unknown, depth = 0): string {
  if (depth > 5 || x === null || x === undefined) return String(x);
  if (typeof x !== 'object') return String(x);
  const parts: string[] = [];
  if (x instanceof Error) parts.push(x.message, x.stack ?? '', dump((x as { cause?: unknown }).cause, depth + 1));
  try {
    parts.push(JSON.stringify(x));
  } catch {
    // circular: the fields below still count
  }
  for (const v of Object.values(x)) parts.push(dump(v, depth + 1));
  return parts.join('\n');
}

/** The secrets (and their base64 and URL-encoded forms) found in `things`. */
function leaks(secrets: string[], ...things: unknown[]): string[] {
  const text = things.map((t) => dump(t)).join('\n');
  const found: string[] = [];
  for (const s of secrets) {
    for (const form of [s, Buffer.from(s).toString('base64'), encodeURIComponent(s), s.slice(4, 20)]) if (text.includes(form)) found.push(`${s} as ${form}`);
  }
  return found;
}

async function errorOf(p: Promise<unknown>): Promise<Error & Record<string, any>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, any>;
  }
  throw new Error('expected a rejection');
}

describe('redaction: no secret in a log line, emit payload, error message or error field', () => {
  let plugin: EmailNotifyPlugin | undefined;
  let host: FakeHost | undefined;
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    await plugin?.deactivate();
    plugin = undefined;
    host?.cleanup();
    host = undefined;
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  it('a refused password, even one the server echoes back in its 535 reply', async () => {
    const ca = testCa();
    const smtp = await TestSmtp.start({
      ca,
      auth: { user: 'pbx', pass: 'the-right-one' },
      extra: { onAuth: (a, _s, cb) => cb(Object.assign(new Error(`5.7.8 bad credentials ${a.username}:${a.password} ${Buffer.from(`\0${a.username}\0${a.password}`).toString('base64')}`), { responseCode: 535 })) },
    });
    closers.push(() => smtp.close());
    host = new FakeHost(tenantConfig(ca.cert, { 'a.example.com': { port: smtp.port, auth: { user: 'pbx', pass: PW } } }));
    plugin = await activate(host.context());
    const e = voicemail('a.example.com');
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.deferred'));
    const reason = host.of('email.deferred', e.id)[0]!.payload.reason as string;
    expect(reason).to.match(/^SMTP_AUTH \(AUTH PLAIN\): 535 5\.7\.8 bad credentials pbx:\[redacted\]/);
    expect(leaks([PW], host.logs, host.emitted, await plugin.lookup(e.id), await plugin.status())).to.deep.equal([]);
  });

  it('OAuth2: a token endpoint that echoes the client secret and refresh token, and a server that echoes the access token', async () => {
    const ca = testCa();
    const oauth = await OAuthServer.start({ clientId: 'cid', clientSecret: CS, refreshToken: RT });
    const { smtp } = await startXOAuth2Smtp(ca, oauth, 'pbx@a.example.com', '535', true);
    closers.push(() => smtp.close(), () => oauth.close());
    const tenant = {
      from: 'pbx@a.example.com',
      smtp: { provider: 'google', host: '127.0.0.1', port: smtp.port, tls: { ca: ca.cert, servername: 'localhost' }, auth: { type: 'oauth2', user: 'pbx@a.example.com', clientId: 'cid', clientSecret: CS, refreshToken: RT, tokenUrl: oauth.url } },
    };
    host = new FakeHost({ delivery: { retry: { initialDelayMs: 100, maxDelayMs: 200, authFailureDelayMs: 100 }, messageTimeoutMs: 5000 }, tenants: { 'a.example.com': tenant } });
    plugin = await activate(host.context());
    oauth.mode = 'echo';
    const e1 = missed('a.example.com');
    await host.send(e1);
    await host.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e1.id));
    expect(host.of('email.deferred', e1.id)[0]!.payload.reason).to.match(/^SMTP_AUTH \(OAUTH2 TOKEN\)/);
    // Now a token is issued, and the server refuses it with a reply quoting it.
    oauth.mode = 'ok';
    (smtp as unknown as { mails: unknown[] }).mails.length = 0;
    await host.until((em) => em.filter((x) => x.type === 'email.delivered').length === 1);
    oauth.revoke(oauth.issued[0]!);
    oauth.mode = 'stillborn';
    const e2 = missed('a.example.com');
    await host.send(e2);
    await host.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e2.id));
    expect(host.of('email.deferred', e2.id)[0]!.payload.reason).to.match(/^SMTP_AUTH \(AUTH XOAUTH2\): 535 5\.7\.3 Authentication unsuccessful for token \[redacted\]/);
    expect(leaks([CS, RT, ...oauth.issued], host.logs, host.emitted, plugin.lookup(e1.id), plugin.lookup(e2.id))).to.deep.equal([]);
  });

  it('sendOnce itself: the thrown error (message, response, rejectedErrors) carries no secret', async () => {
    const ca = testCa();
    const smtp = await TestSmtp.start({
      ca,
      auth: { user: 'pbx', pass: 'x' },
      extra: { onAuth: (a, _s, cb) => cb(Object.assign(new Error(`no ${a.password}`), { responseCode: 535 })) },
    });
    closers.push(() => smtp.close());
    const s = { host: '127.0.0.1', port: smtp.port, security: 'starttls' as const, tls: { ca: ca.cert, servername: 'localhost' }, auth: { user: 'pbx', pass: PW } };
    const mail = { from: 'pbx@a.example', to: [{ name: '', address: 'x@a.example' }], envelopeFrom: 'pbx@a.example', envelopeTo: ['x@a.example'], subject: 's', text: 't', html: '<p>t</p>', messageId: '<1@a.example>', date: new Date(), headers: {}, attachments: [] };
    const err = await errorOf(sendOnce(s, mail, new AbortController().signal, { dkim: { domainName: 'a.example', keySelector: 's1', privateKey: DKIM_KEY } }));
    expect(err.code).to.equal('EAUTH');
    expect(err.responseCode).to.equal(535);
    expect(leaks([PW, DKIM_KEY.split('\n')[1]!], err)).to.deep.equal([]);
  });

  it('CONFIG_INVALID never echoes a secret, at activation or on a refused config change', async () => {
    const bad = {
      spool: { store: 'postgres', postgres: { connectionString: `postgresql://pbx:${PG}@[db/pbx?password=${PG}`, extra: PG } },
      tenants: {
        a: { from: 'pbx@a.example', smtp: { host: 'h', auth: { user: 'u', pass: PW, extra: RT } } },
        b: { from: 'pbx@b.example', smtp: { host: 'h', auth: { type: 'oauth2', user: 'u', clientId: 1, clientSecret: CS, refreshToken: RT, tokenUrl: `not a url ${CS}` } } },
        c: { from: 'pbx@c.example', smtp: { host: 'h', auth: { user: 'u', pass: 12345678 } }, dkim: { domainName: 'c.example', keySelector: 's', privateKey: `garbage ${PW}` } },
        d: { from: 'pbx@d.example', smtp: { host: 'h', auth: { type: 'oauth2', user: 'u', clientId: 'x', clientSecret: CS, refreshToken: RT } } },
        e: { from: 'pbx@e.example', smtp: { host: 'h' }, dkim: { domainName: 'e.example', keySelector: 's', privateKey: DKIM_KEY.replace('MII', 'XXX') } },
      },
    };
    host = new FakeHost(bad);
    const err = await errorOf(activate(host.context()));
    expect(err.code).to.equal('CONFIG_INVALID');
    const paths = (err.problems as { path: string }[]).map((p) => p.path);
    for (const t of ['a', 'b', 'c', 'd', 'e']) expect(paths.some((p) => p.startsWith(`/tenants/${t}/`)), t).to.equal(true);
    expect(paths).to.include.members(['/spool/postgres/connectionString', '/spool/postgres/extra']);
    expect(leaks([PW, CS, RT, PG, DKIM_KEY.split('\n')[2]!], err, host.logs)).to.deep.equal([]);
    host.cleanup();

    const ca = testCa();
    host = new FakeHost(tenantConfig(ca.cert, { 'a.example.com': { port: 1 } }));
    plugin = await activate(host.context());
    host.changeConfig(bad);
    const refusal = host.logs.find((l) => l.msg.startsWith('configuration change refused'));
    expect(refusal?.fields?.code).to.equal('CONFIG_INVALID');
    expect(leaks([PW, CS, RT, PG, DKIM_KEY.split('\n')[2]!], host.logs, host.emitted)).to.deep.equal([]);
  });
});
