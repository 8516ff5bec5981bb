import { expect } from 'chai';
import { activate } from '../../src';
import { resolveConfig, SchemaRegistry, TenantDirectory } from '../../src/config';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

describe('config: tenant resolution (defaults overlaid by tenants[id])', () => {
  const schemas = new SchemaRegistry();
  const dir = (raw: unknown) => new TenantDirectory(resolveConfig(raw, schemas));

  it('a tenant not listed uses defaults alone; a listed one overrides key by key', () => {
    const d = dir({
      defaults: { from: 'PBX <pbx@example.com>', smtp: { host: 'smtp.example.com', port: 2525 }, language: 'de', timeZone: 'Europe/Berlin' },
      tenants: { 'a.example.com': { from: 'A <pbx@a.example.com>', language: 'fr' } },
    });
    const other = d.get('unlisted.example.com')!;
    expect(other.from).to.equal('PBX <pbx@example.com>');
    expect(other.smtp.host).to.equal('smtp.example.com');
    expect(other.language).to.equal('de');
    expect(other.domain).to.equal('example.com');
    const a = d.get('a.example.com')!;
    expect(a.from).to.equal('A <pbx@a.example.com>');
    expect(a.fromAddress).to.equal('pbx@a.example.com');
    expect(a.domain).to.equal('a.example.com');
    expect(a.language).to.equal('fr');
    expect(a.timeZone).to.equal('Europe/Berlin');
    expect(a.smtp).to.include({ host: 'smtp.example.com', port: 2525, security: 'starttls' });
  });

  it('smtp is taken whole: defaults.smtp.auth and tls never reach a tenant that sets its own smtp', () => {
    const d = dir({
      defaults: { from: 'pbx@example.com', smtp: { host: 'relay.example.com', auth: { user: 'relay', pass: 'secret' }, tls: { ca: 'X', servername: 'relay' } } },
      tenants: { 'a.example.com': { smtp: { host: 'smtp.a.example.com', security: 'tls' } } },
    });
    const a = d.get('a.example.com')!;
    expect(a.smtp.auth).to.equal(undefined);
    expect(a.smtp.tls).to.equal(undefined);
    expect(a.smtp).to.include({ host: 'smtp.a.example.com', port: 465, security: 'tls' });
    expect(d.get('b.example.com')!.smtp.auth).to.deep.equal({ user: 'relay', pass: 'secret' });
  });

  it('events and templates merge per event type and per part', () => {
    const d = dir({
      defaults: { from: 'pbx@example.com', smtp: { host: 'h' }, events: { 'call.missed': { enabled: false } }, templates: { 'call.missed': { subject: 'D {{caller.number}}', text: 'Dtext' } } },
      tenants: { 'a.example.com': { events: { 'fax.received': { enabled: false } }, templates: { 'call.missed': { subject: 'A' } } } },
    });
    const a = d.get('a.example.com')!;
    expect(a.events).to.deep.equal({ 'call.missed': { enabled: false }, 'fax.received': { enabled: false } });
    expect(a.templates).to.deep.equal({ 'call.missed': { subject: 'A', text: 'Dtext' } });
  });

  it('a tenant id that is an Object.prototype key is not a listed tenant', () => {
    const d = dir({ defaults: { from: 'pbx@example.com', smtp: { host: 'h' } } });
    expect(d.get('constructor')!.smtp.host).to.equal('h');
    expect(d.get('toString')!.from).to.equal('pbx@example.com');
  });

  it('without usable defaults an unlisted tenant resolves to nothing', () => {
    expect(dir({ defaults: { from: 'pbx@example.com' } }).get('x.example.com')).to.equal(undefined);
    expect(dir({}).get('x.example.com')).to.equal(undefined);
  });
});

describe('config: tenant resolution, delivered', () => {
  let server: TestSmtp;
  let other: TestSmtp;
  const auths: string[] = [];

  beforeEach(async () => {
    auths.length = 0;
    const ca = testCa();
    server = await TestSmtp.start({ ca });
    // Offers AUTH but does not require it, and records every AUTH attempt.
    other = await TestSmtp.start({
      ca,
      extra: {
        authOptional: true,
        disabledCommands: [],
        onAuth: (a, _s, cb) => {
          auths.push(a.username ?? '');
          cb(null, { user: a.username });
        },
      },
    });
  });

  afterEach(async () => {
    await Promise.all([server.close(), other.close()]);
  });

  it('a tenant not listed uses defaults alone and its mail arrives', async () => {
    const ca = testCa();
    const base = tenantConfig(ca.cert, {});
    const host = new FakeHost({
      ...base,
      defaults: { from: 'Shared PBX <pbx@shared.example.com>', smtp: { host: '127.0.0.1', port: server.port, tls: { ca: ca.cert, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000 } },
    });
    const plugin = await activate(host.context());
    try {
      const e = voicemail('unlisted.example.com');
      await host.send(e);
      const [m] = await server.waitFor(1);
      expect(m!.to).to.deep.equal(['alice@unlisted.example.com']);
      expect(m!.from).to.equal('pbx@shared.example.com');
      expect(m!.parsed.messageId).to.match(/@shared\.example\.com>?$/);
      await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
      expect(host.of('email.delivered', e.id)[0]!.payload.tenant).to.equal('unlisted.example.com');
    } finally {
      await plugin.deactivate();
      host.cleanup();
    }
  });

  it("defaults.smtp.auth is never offered to a tenant's own server", async () => {
    const ca = testCa();
    const cfg = tenantConfig(ca.cert, { 'own.example.com': { port: other.port } }, {
      defaults: { from: 'pbx@example.com', smtp: { host: '127.0.0.1', port: other.port, auth: { user: 'relay-user', pass: 'relay-secret' }, tls: { ca: ca.cert, servername: 'localhost' } } },
    });
    const host = new FakeHost(cfg);
    const plugin = await activate(host.context());
    try {
      // Control: a tenant that inherits defaults.smtp does authenticate (so the recorder works).
      await host.send(missed('inherits.example.com'));
      await other.waitFor(1);
      expect(auths).to.deep.equal(['relay-user']);
      await host.send(missed('own.example.com'));
      await other.waitFor(2);
      expect(auths).to.deep.equal(['relay-user']);
      expect(other.mails.map((m) => m.from)).to.deep.equal(['pbx@example.com', 'pbx@own.example.com']);
    } finally {
      await plugin.deactivate();
      host.cleanup();
    }
  });
});
