import { expect } from 'chai';
import { activate } from '../../src';
import { TestCa } from '../../src/host/demo/test-ca';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 't.example.com';

/**
 * One tenant, one server, one event; returns what the server saw and what the plugin reported
 * for the event's first attempt (delivered or deferred).
 */
async function attempt(server: TestSmtp, smtp: Record<string, unknown>): Promise<{ host: FakeHost; outcome: { type: string; payload: Record<string, any> } }> {
  const cfg = tenantConfig(testCa().cert, { [T]: { port: server.port } }) as Record<string, any>;
  cfg.tenants[T].smtp = { host: '127.0.0.1', port: server.port, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000, ...smtp };
  const host = new FakeHost(cfg);
  const plugin = await activate(host.context());
  try {
    const e = missed(T);
    await host.send(e);
    await host.until((em) => em.some((x) => x.payload.eventId === e.id && (x.type === 'email.delivered' || x.type === 'email.deferred' || x.type === 'email.failed')));
    return { host, outcome: host.emitted.find((x) => x.payload.eventId === e.id)! };
  } finally {
    await plugin.deactivate();
    host.cleanup();
  }
}

/** Counts MAIL FROM commands, so "gets nothing" covers the envelope, not only completed messages. */
function mailFromCounter(): { count: number; extra: { onMailFrom: (a: unknown, s: unknown, cb: () => void) => void } } {
  const c = { count: 0, extra: { onMailFrom: (_a: unknown, _s: unknown, cb: () => void) => (c.count++, cb()) } };
  return c;
}

describe('TLS modes (CONTRACT.md section 5: starttls | tls | none)', () => {
  const ca = () => testCa();
  const tlsOpts = () => ({ ca: ca().cert, servername: 'localhost' });
  const servers: TestSmtp[] = [];
  const start = async (...a: Parameters<typeof TestSmtp.start>) => {
    const s = await TestSmtp.start(...a);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('starttls (the default when security is omitted) delivers over a verified STARTTLS upgrade', async () => {
    const server = await start({ ca: ca() });
    const { outcome } = await attempt(server, { tls: tlsOpts() });
    expect(outcome.type).to.equal('email.delivered');
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.secure).to.equal(true);
    expect(server.handshakes).to.equal(1);
  });

  it('tls: implicit TLS on connect (smtp-server secure:true) delivers', async () => {
    const server = await start({ ca: ca(), mode: 'tls' });
    const { outcome } = await attempt(server, { security: 'tls', tls: tlsOpts() });
    expect(outcome.type).to.equal('email.delivered');
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.secure).to.equal(true);
  });

  it('none: plaintext delivery when set explicitly, even where STARTTLS is offered', async () => {
    const plain = await start({ ca: ca(), mode: 'none' });
    const a = await attempt(plain, { security: 'none' });
    expect(a.outcome.type).to.equal('email.delivered');
    expect(plain.mails[0]!.secure).to.equal(false);
    const offering = await start({ ca: ca() });
    const b = await attempt(offering, { security: 'none' });
    expect(b.outcome.type).to.equal('email.delivered');
    expect(offering.mails[0]!.secure).to.equal(false);
    expect(offering.handshakes).to.equal(0);
  });

  it('starttls against a server without STARTTLS gets nothing and is deferred with SMTP_TLS (never downgraded)', async () => {
    for (const smtp of [{ security: 'starttls', tls: tlsOpts() }, { tls: tlsOpts() }]) {
      const counter = mailFromCounter();
      const server = await start({ ca: ca(), mode: 'none', extra: counter.extra as never });
      const { outcome } = await attempt(server, smtp);
      expect(outcome.type, JSON.stringify(smtp)).to.equal('email.deferred');
      expect(outcome.payload.reason).to.match(/^SMTP_TLS/);
      expect(server.mails).to.have.length(0);
      expect(counter.count).to.equal(0);
    }
  });

  it('starttls with AUTH against a server without STARTTLS never sends the credentials in the clear', async () => {
    let auths = 0;
    const server = await start({ ca: ca(), mode: 'none', extra: { disabledCommands: ['STARTTLS'], authOptional: true, allowInsecureAuth: true, onAuth: (_a, _s, cb) => (auths++, cb(null, { user: 'x' })) } });
    const { outcome } = await attempt(server, { tls: tlsOpts(), auth: { user: 'pbx', pass: 'secret' } });
    expect(outcome.type).to.equal('email.deferred');
    expect(outcome.payload.reason).to.match(/^SMTP_TLS/);
    expect(auths).to.equal(0);
  });

  it('tls against a server that greets in plaintext is deferred with SMTP_TLS, nothing sent', async () => {
    const counter = mailFromCounter();
    const server = await start({ ca: ca(), extra: counter.extra as never });
    const { outcome } = await attempt(server, { security: 'tls', tls: tlsOpts() });
    expect(outcome.type).to.equal('email.deferred');
    expect(outcome.payload.reason).to.match(/^SMTP_TLS/);
    expect(server.mails).to.have.length(0);
    expect(counter.count).to.equal(0);
  });

  it('a server certificate from an unknown CA (no tenant ca) is deferred with SMTP_TLS, for starttls and tls', async () => {
    const counter = mailFromCounter();
    const starttls = await start({ ca: ca(), extra: counter.extra as never });
    const a = await attempt(starttls, { tls: { servername: 'localhost' } });
    expect(a.outcome.type).to.equal('email.deferred');
    expect(a.outcome.payload.reason).to.match(/^SMTP_TLS/);
    expect(starttls.mails).to.have.length(0);
    expect(counter.count).to.equal(0);
    const implicit = await start({ ca: ca(), mode: 'tls' });
    const b = await attempt(implicit, { security: 'tls', tls: { servername: 'localhost' } });
    expect(b.outcome.type).to.equal('email.deferred');
    expect(b.outcome.payload.reason).to.match(/^SMTP_TLS/);
    expect(implicit.mails).to.have.length(0);
  });

  it("a certificate from another CA than the tenant's ca, or for another name, is deferred with SMTP_TLS", async function () {
    this.timeout(60_000);
    const other = new TestCa('another CA');
    const foreign = await start({ ca: ca(), cert: other.issue() });
    const a = await attempt(foreign, { tls: tlsOpts() });
    expect(a.outcome.type).to.equal('email.deferred');
    expect(a.outcome.payload.reason).to.match(/^SMTP_TLS/);
    const server = await start({ ca: ca() });
    const b = await attempt(server, { tls: { ca: ca().cert, servername: 'smtp.elsewhere.example' } });
    expect(b.outcome.type).to.equal('email.deferred');
    expect(b.outcome.payload.reason).to.match(/^SMTP_TLS/);
    expect([...foreign.mails, ...server.mails]).to.have.length(0);
  });

  it('rejectUnauthorized:false delivers to an unverified server and logs a warning naming the tenant', async () => {
    const server = await start({ ca: ca() });
    const { host, outcome } = await attempt(server, { tls: { rejectUnauthorized: false } });
    expect(outcome.type).to.equal('email.delivered');
    expect(server.mails[0]!.secure).to.equal(true);
    const warns = host.logs.filter((l) => l.level === 'warn' && /certificate verification is off/i.test(l.msg));
    expect(warns).to.have.length(1);
    expect(warns[0]!.fields).to.deep.include({ tenant: T, path: `/tenants/${T}/smtp/tls/rejectUnauthorized` });
  });

  it('no such warning when verification is on', async () => {
    const server = await start({ ca: ca() });
    const { host } = await attempt(server, { tls: tlsOpts() });
    expect(host.logs.filter((l) => /verification is off/i.test(l.msg))).to.deep.equal([]);
  });
});
