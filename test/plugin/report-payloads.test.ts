import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost, type Emitted } from '../helpers/fake-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';

// CONTRACT.md section 6, exactly.
const KEYS = {
  'email.delivered': ['attempts', 'eventId', 'messageId', 'tenant', 'to'],
  'email.deferred': ['attempts', 'eventId', 'nextAttemptAt', 'reason', 'tenant'],
  'email.failed': ['attempts', 'eventId', 'reason', 'tenant', 'to'],
} as const;

function assertShape(e: Emitted): void {
  expect(Object.keys(e.payload).sort(), e.type).to.deep.equal([...KEYS[e.type as keyof typeof KEYS]]);
  expect(e.payload.eventId).to.be.a('string');
  expect(e.payload.tenant).to.equal(T);
  expect(e.payload.attempts).to.be.a('number').and.at.least(1);
  if (e.type !== 'email.delivered') {
    // A stable code first; a per-recipient reason names the recipient before it.
    expect(e.payload.reason).to.be.a('string').and.match(/^([^\s:]+@[^\s:]+: )?[A-Z]+_[A-Z_]+\b/);
    expect(e.payload.reason).to.not.match(/[\r\n]/);
  }
  if (e.type === 'email.deferred') {
    expect(e.payload.nextAttemptAt).to.be.a('string');
    expect(new Date(e.payload.nextAttemptAt).toISOString()).to.equal(e.payload.nextAttemptAt);
  }
}

describe('reports: email.delivered / email.deferred / email.failed payloads (CONTRACT.md section 6)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(port: number, extra: Record<string, any> = {}) {
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port } }, extra));
    const plugin = await activate(host.context());
    cleanup.push(() => host.cleanup(), () => plugin.deactivate());
    return { host, plugin };
  }

  it('email.deferred (server down) has exactly eventId, tenant, attempts, nextAttemptAt, reason', async () => {
    const { host } = await setup(await refusedPort());
    const e = missed(T);
    await host.send(e);
    await host.until((em) => em.filter((x) => x.type === 'email.deferred').length >= 2);
    const [first, second] = host.of('email.deferred', e.id);
    for (const d of [first!, second!]) assertShape(d);
    expect(first!.payload.reason).to.match(/^SMTP_CONNECT/);
    expect([first!.payload.attempts, second!.payload.attempts]).to.deep.equal([1, 2]);
    expect(Date.parse(first!.payload.nextAttemptAt)).to.be.at.most(Date.parse(second!.payload.nextAttemptAt));
  });

  it('email.failed for a 5xx recipient and email.delivered for the other, each with its exact keys', async () => {
    const server = await TestSmtp.start({ ca: testCa(), rcptErrors: { 'gone@a.example.com': 550 } });
    cleanup.push(() => server.close());
    const { host, plugin } = await setup(server.port);
    const e = voicemail(T, {}, { recipient: { extension: '201', email: ['alice@a.example.com', 'gone@a.example.com'] } });
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.failed') && em.some((x) => x.type === 'email.delivered'));
    for (const x of host.emitted) assertShape(x);
    const failed = host.of('email.failed', e.id);
    expect(failed).to.have.length(1);
    expect(failed[0]!.payload.reason).to.match(/SMTP_PERMANENT/).and.contain('gone@a.example.com');
    const delivered = host.of('email.delivered', e.id)[0]!;
    expect(delivered.payload.to).to.deep.equal(['alice@a.example.com']);
    expect(server.mails[0]!.to).to.deep.equal(['alice@a.example.com']);
    expect(host.of('email.deferred')).to.deep.equal([]);
    expect((await plugin.status()).counts.queued).to.equal(0);
  });

  it('email.failed for every recipient refused with 5xx: the record is a dead letter', async () => {
    const server = await TestSmtp.start({ ca: testCa(), rcptErrors: { 'bob@a.example.com': 550 } });
    cleanup.push(() => server.close());
    const { host, plugin } = await setup(server.port);
    const e = missed(T);
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.failed'));
    assertShape(host.of('email.failed', e.id)[0]!);
    expect(host.emitted.map((x) => x.type)).to.deep.equal(['email.failed']);
    expect((await plugin.status()).counts).to.deep.include({ queued: 0, failed: 1 });
    expect((await plugin.lookup(e.id))!.state).to.equal('failed');
  });

  it('a 4xx recipient is deferred, not failed', async () => {
    const server = await TestSmtp.start({ ca: testCa(), rcptErrors: { 'bob@a.example.com': 450 } });
    cleanup.push(() => server.close());
    const { host } = await setup(server.port);
    const e = missed(T);
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.deferred'));
    const d = host.of('email.deferred', e.id)[0]!;
    assertShape(d);
    expect(d.payload.reason).to.match(/^bob@a\.example\.com: SMTP_TEMPORARY/);
    expect(host.of('email.failed')).to.deep.equal([]);
  });

  it('email.failed past maxAgeMs (MESSAGE_EXPIRED) has exactly eventId, tenant, attempts, reason', async () => {
    const { host } = await setup(await refusedPort(), { delivery: { retry: { initialDelayMs: 50, maxDelayMs: 100, maxAgeMs: 300 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 } });
    const e = missed(T);
    await host.send(e);
    await host.until((em) => em.some((x) => x.type === 'email.failed'));
    const f = host.of('email.failed', e.id);
    expect(f).to.have.length(1);
    assertShape(f[0]!);
    expect(f[0]!.payload.reason).to.match(/^MESSAGE_EXPIRED/);
    for (const d of host.of('email.deferred', e.id)) assertShape(d);
  });
});
