import { expect } from 'chai';
import { activate, type EmailNotifyPlugin } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

const AUTH = { user: 'pbx', pass: 'pw-password-auth-1' };

describe('password auth: PLAIN or LOGIN, as the server offers', () => {
  let smtp: TestSmtp;
  let host: FakeHost;
  let plugin: EmailNotifyPlugin;
  let methods: string[];

  async function start(offer: string[], auth: object = AUTH, retry: object = {}) {
    methods = [];
    smtp = await TestSmtp.start({
      ca: testCa(),
      auth: AUTH,
      extra: {
        authMethods: offer,
        onAuth: (a, _s, cb) => {
          methods.push(a.method);
          if (a.username === AUTH.user && a.password === AUTH.pass) return cb(null, { user: a.username });
          cb(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
        },
      },
    });
    const cfg = tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port, auth } });
    Object.assign(cfg.delivery.retry, retry);
    host = new FakeHost(cfg);
    plugin = await activate(host.context());
  }

  afterEach(async () => {
    await plugin.deactivate();
    await smtp.close();
    host.cleanup();
  });

  // PLAIN when offered (one round trip), else LOGIN.
  for (const [offer, used] of [[['PLAIN'], 'PLAIN'], [['LOGIN'], 'LOGIN'], [['LOGIN', 'PLAIN'], 'PLAIN']] as const) {
    it(`server offers ${offer.join(' ')}: authenticates with ${used} and delivers`, async () => {
      await start([...offer]);
      await host.send(missed('a.example.com'));
      await host.until((em) => em.some((e) => e.type === 'email.delivered'));
      expect(methods).to.deep.equal([used]);
    });
  }

  it('type "login" is accepted as password auth', async () => {
    await start(['PLAIN', 'LOGIN'], { type: 'login', ...AUTH });
    await host.send(missed('a.example.com'));
    await host.until((em) => em.some((e) => e.type === 'email.delivered'));
    expect(methods).to.deep.equal(['PLAIN']);
  });

  it('refused credentials are SMTP_AUTH: deferred, held for authFailureDelayMs rather than the short backoff', async () => {
    await start(['PLAIN'], { ...AUTH, pass: 'wrong-password' }, { authFailureDelayMs: 120_000 });
    const e = missed('a.example.com');
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.deferred'));
    const d = host.of('email.deferred', e.id)[0]!.payload;
    expect(d.reason).to.match(/^SMTP_AUTH \(AUTH PLAIN\): 535 5\.7\.8 Authentication credentials invalid/);
    expect(Date.parse(d.nextAttemptAt) - Date.now()).to.be.greaterThan(100_000);
    expect(methods).to.have.length(1);
  });
});
