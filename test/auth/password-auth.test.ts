import { expect } from 'chai';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const AUTH = { user: 'pbx', pass: 'pw-password-auth-1' };

describe('password auth: PLAIN or LOGIN, as the server offers', () => {
  let smtp: TestSmtp;
  const h = new Harness();
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
    h.defer(() => smtp.close());
    const cfg = tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port, auth } });
    Object.assign(cfg.delivery.retry, retry);
    await h.start(cfg);
  }

  afterEach(() => h.dispose());

  // PLAIN when offered (one round trip), else LOGIN.
  for (const [offer, used] of [[['PLAIN'], 'PLAIN'], [['LOGIN'], 'LOGIN'], [['LOGIN', 'PLAIN'], 'PLAIN']] as const) {
    it(`server offers ${offer.join(' ')}: authenticates with ${used} and delivers`, async () => {
      await start([...offer]);
      await h.host.send(missed('a.example.com'));
      await h.host.until((em) => em.some((e) => e.type === 'email.delivered'));
      expect(methods).to.deep.equal([used]);
    });
  }

  it('type "login" is accepted as password auth', async () => {
    await start(['PLAIN', 'LOGIN'], { type: 'login', ...AUTH });
    await h.host.send(missed('a.example.com'));
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered'));
    expect(methods).to.deep.equal(['PLAIN']);
  });

  it('refused credentials are SMTP_AUTH: deferred, held for authFailureDelayMs rather than the short backoff', async () => {
    await start(['PLAIN'], { ...AUTH, pass: 'wrong-password' }, { authFailureDelayMs: 120_000 });
    const e = missed('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred'));
    const d = h.host.of('email.deferred', e.id)[0]!.payload;
    expect(d.reason).to.match(/^SMTP_AUTH \(AUTH PLAIN\): 535 5\.7\.8 Authentication credentials invalid/);
    expect(Date.parse(d.nextAttemptAt) - Date.now()).to.be.greaterThan(100_000);
    expect(methods).to.have.length(1);
  });
});
