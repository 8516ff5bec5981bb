import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'acme.example.com';

/**
 * A failure that never reached the server (a beforeSend hook that hangs or throws, a mail that
 * cannot be composed) is this message's problem: deferred with its own code, message-scoped. The
 * tenant is not held: its next mail goes out at once. The retry delay is 30 s, so a hold (the old
 * server-scoped SMTP_TIMEOUT / SMTP_CONNECT) would keep the second mail past every deadline here.
 */
describe('delivery: errors before the first byte to the server are message-scoped', function () {
  this.timeout(20_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  const config = (port: number) => {
    const c = tenantConfig(testCa().cert, { [T]: { port } }, { delivery: { retry: { initialDelayMs: 30_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 1000, shutdownTimeoutMs: 300 } });
    return c;
  };
  const held = async () => (await h.plugin.status()).tenants.find((t) => t.tenant === T)?.held ?? false;

  it('a beforeSend hook that never settles: HOOK_TIMEOUT for that message; the tenant’s next mail is delivered right after', async () => {
    const smtp = await h.smtp();
    await h.start(config(smtp.port));
    const first = voicemail(T);
    h.plugin.addHook('beforeSend', ({ event }) => (event.id === first.id ? new Promise<void>(() => undefined) : undefined));
    await h.host.send(first);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === first.id));
    expect(h.host.of('email.deferred', first.id)[0]!.payload.reason).to.equal('HOOK_TIMEOUT: a beforeSend hook did not settle within 1000 ms');
    expect(await held()).to.equal(false);
    const second = voicemail(T);
    await h.deliver(smtp, second);
    expect(h.host.of('email.delivered', second.id)[0]!.payload.attempts).to.equal(1);
    expect(smtp.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([second.id]);
    expect((await h.plugin.lookup(first.id))).to.deep.include({ state: 'queued', attempts: 1 });
  });

  it('a beforeSend hook that throws: that message alone fails, email.failed HOOK_FAILED with the reason (logged, never sent without the hook); the next mail is delivered right after', async () => {
    const smtp = await h.smtp();
    await h.start(config(smtp.port));
    const first = voicemail(T);
    h.plugin.addHook('beforeSend', ({ event }) => {
      if (event.id === first.id) throw new TypeError('integrator bug: cannot read properties of undefined');
    });
    await h.host.send(first);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === first.id));
    expect(h.host.of('email.failed', first.id)[0]!.payload.reason).to.equal('HOOK_FAILED: the beforeSend hook of host threw (TypeError: integrator bug: cannot read properties of undefined)');
    expect(h.host.of('email.deferred', first.id)).to.have.length(0);
    expect((await h.plugin.lookup(first.id))).to.deep.include({ state: 'failed', attempts: 1 });
    expect(h.host.logs.filter((l) => l.level === 'error' && l.fields?.hook === 'beforeSend')).to.have.length(1);
    expect(await held()).to.equal(false);
    const second = voicemail(T);
    await h.deliver(smtp, second);
    expect(smtp.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([second.id]);
  });

  it('a mail that cannot be composed (a TypeError from a damaged spooled event): COMPOSE_FAILED, the tenant not held, its next mail delivered', async () => {
    // First run: the server is down, so the event stays queued in the spool.
    const down = await refusedPort();
    const c = config(down);
    c.delivery.retry.initialDelayMs = 200;
    await h.start(c);
    const first = voicemail(T);
    await h.host.send(first);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === first.id));
    await h.deactivate();
    // The spooled event is damaged (recipient.email no longer a list), as a bad restore or a bug could leave it.
    const db = new Database(path.join(h.host.dataDir, 'spool.db'));
    try {
      const changed = db.prepare(`UPDATE messages SET event = json_set(event, '$.data.recipient.email', 42) WHERE json_extract(event, '$.id') = ?`).run(first.id).changes;
      expect(changed).to.equal(1);
    } finally {
      db.close();
    }
    // Second run, the server up: the damaged message fails to compose, and only it.
    const smtp = await h.smtp();
    const up = config(smtp.port);
    up.delivery.retry.initialDelayMs = 30_000;
    await h.replaceHost(up, { sameDataDir: true });
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === first.id), 10_000);
    expect(h.host.of('email.deferred', first.id)[0]!.payload.reason).to.match(/^COMPOSE_FAILED: the mail could not be built \(TypeError: /);
    expect(await held()).to.equal(false);
    const second = voicemail(T);
    await h.deliver(smtp, second);
    expect(smtp.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([second.id]);
  });
});
