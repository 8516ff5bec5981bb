import { expect } from 'chai';
import { tenantConfig, voicemail } from '../helpers/events';
import { FaultServer, refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { describeStores, sqliteOnly } from '../helpers/stores';
import { waitFor } from '../helpers/wait';

const T = 'acme.example.com';

/** Rejects if `p` has not settled within `ms`: a liveness bound, not a timing measurement. */
function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

describeStores('delivery lifecycle: bounded deactivate, config changes', function (store) {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  // On postgres the restart and the dead-port fix (retryNow and the shared breaker) run; the hook deadline,
  // the tarpit and the removed tenant are the scheduler's and the config's, alike on both stores: sqlite
  // only, for npm test's time budget.
  const itSqlite = sqliteOnly(store);

  it('deactivate() with sessions hanging on a blackhole resolves, leaves the mail queued, and a restart delivers it', async () => {
    const blackhole = await FaultServer.blackhole();
    const healthy = await TestSmtp.start({ ca: testCa() });
    h.defer(() => blackhole.close(), () => healthy.close());
    // Timeouts far beyond the test: only deactivate() can end these sessions.
    const c = await store.configure(tenantConfig(testCa().cert, { [T]: { port: blackhole.port } }, {
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 300, maxAgeMs: 600_000 }, messageTimeoutMs: 120_000, shutdownTimeoutMs: 300 },
    }));
    Object.assign(c.tenants[T].smtp, { connectionTimeoutMs: 120_000, greetingTimeoutMs: 120_000, socketTimeoutMs: 120_000 });
    await h.start(c);
    const events = [voicemail(T), voicemail(T), voicemail(T)];
    for (const e of events) await h.host.send(e);
    await waitFor(() => blackhole.open >= 1, { what: 'a session open on the blackhole', detail: () => ({ open: blackhole.open, connections: blackhole.connections }) });

    const first = h.plugin;
    await within(h.deactivate(), 10_000, 'deactivate()');
    await within(first.deactivate(), 1_000, 'a second deactivate()');
    // The abandoned session's socket was closed by us, and nothing was reported for it.
    await waitFor(() => blackhole.open === 0, { what: 'the abandoned sessions closed', detail: () => blackhole.open });
    expect(h.host.emitted.filter((e) => e.type.startsWith('email.'))).to.have.length(0);

    // A fresh instance on the same dataDir (for postgres: the same database), with the tenant's server fixed, delivers all of it.
    c.tenants[T].smtp.port = healthy.port;
    await h.activate();
    expect((await h.plugin.status()).counts.queued).to.equal(events.length);
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length);
    // The abandoned attempt was not counted against the message.
    for (const d of h.host.of('email.delivered')) expect(d.payload.attempts).to.equal(1);
    const ids = await Promise.all(events.map(async (e) => (await h.plugin.lookup(e.id))!.messageId));
    expect(healthy.mails.map((m) => m.parsed.messageId).sort()).to.deep.equal(ids.sort());
  });

  itSqlite('a beforeSend hook that never returns: the message deadline cuts it (deferred, retried) and deactivate() still resolves', async () => {
    const healthy = await h.smtp();
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: healthy.port } }, {
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 200, maxAgeMs: 600_000 }, messageTimeoutMs: 1000, shutdownTimeoutMs: 100 },
    })));
    let calls = 0;
    h.plugin.addHook('beforeSend', () => (++calls === 1 ? new Promise<void>(() => undefined) : undefined));
    const ev = voicemail(T);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id));
    expect(h.host.of('email.deferred', ev.id)[0]!.payload.reason).to.match(/^HOOK_TIMEOUT\b/);
    expect(h.host.of('email.delivered', ev.id)[0]!.payload.attempts).to.equal(2);
    expect(healthy.mails).to.have.length(1);

    h.plugin.addHook('beforeSend', () => new Promise<void>(() => undefined));
    const stuck = voicemail(T);
    await h.host.send(stuck);
    await waitFor(() => calls === 2, { what: 'the never-returning hook called for the second event', detail: () => calls });
    await within(h.deactivate(), 10_000, 'deactivate() with a hook that never returns');
    expect(h.host.of('email.deferred', stuck.id)).to.have.length(0);
  });

  itSqlite('onConfigChange: sessions stuck on the old server (a tarpit) are abandoned and the mail goes out at once with the new settings', async () => {
    const tarpit = await FaultServer.tarpit();
    const healthy = await TestSmtp.start({ ca: testCa() });
    h.defer(() => tarpit.close(), () => healthy.close());
    // Deadlines far beyond the test: only the settings change can free these sessions.
    const c = await store.configure(tenantConfig(testCa().cert, { [T]: { port: tarpit.port } }, {
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 300, maxAgeMs: 600_000 }, messageTimeoutMs: 120_000, shutdownTimeoutMs: 200 },
    }));
    await h.start(c);
    const events = [voicemail(T), voicemail(T)];
    for (const e of events) await h.host.send(e);
    await waitFor(() => tarpit.open >= 1, { what: 'a session stuck on the tarpit', detail: () => tarpit.open });
    const fixed = structuredClone(c);
    fixed.tenants[T].smtp.port = healthy.port;
    h.host.changeConfig(fixed);
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length);
    // The abandoned attempt is neither reported nor counted.
    expect(h.host.of('email.deferred')).to.have.length(0);
    for (const d of h.host.of('email.delivered')) expect(d.payload.attempts).to.equal(1);
    await waitFor(() => tarpit.open === 0, { what: 'the abandoned tarpit sessions closed', detail: () => tarpit.open });
  });

  itSqlite('onConfigChange: a tenant removed from the configuration keeps its queued mail (deferred TENANT_NOT_CONFIGURED) until it is back', async () => {
    const dead = await refusedPort();
    const healthy = await h.smtp();
    const c = await store.configure(tenantConfig(testCa().cert, { [T]: { port: dead } }, {
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 200, maxAgeMs: 600_000 }, messageTimeoutMs: 3000, shutdownTimeoutMs: 200 },
    }));
    await h.start(c);
    const ev = voicemail(T);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred'));
    h.host.changeConfig({ ...structuredClone(c), tenants: {} });
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && /^TENANT_NOT_CONFIGURED\b/.test(e.payload.reason)));
    expect(h.host.of('email.failed')).to.have.length(0);
    expect((await h.plugin.lookup(ev.id))!.state).to.equal('queued');
    const back = structuredClone(c);
    back.tenants[T].smtp.port = healthy.port;
    h.host.changeConfig(back);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id));
    expect(healthy.mails).to.have.length(1);
  });

  it('onConfigChange: a tenant pointing at a dead port is fixed without a restart; an invalid change is refused and the old settings stay', async () => {
    const healthy = await h.smtp();
    const dead = await refusedPort();
    const c = await store.configure(tenantConfig(testCa().cert, { [T]: { port: dead } }, {
      delivery: { retry: { initialDelayMs: 100, maxDelayMs: 200, maxAgeMs: 600_000 }, messageTimeoutMs: 3000, shutdownTimeoutMs: 200 },
    }));
    await h.start(c);
    const events = [voicemail(T), voicemail(T)];
    for (const e of events) await h.host.send(e);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred'));

    // Invalid: it would point the tenant at the working server, but carries a key the schema forbids.
    const invalid = structuredClone(c) as any;
    invalid.tenants[T].smtp = { ...invalid.tenants[T].smtp, port: healthy.port, bogus: true };
    invalid.delivery.retry.initialDelayMs = -1;
    h.host.changeConfig(invalid);
    const refusal = h.host.logs.find((l) => l.level === 'error' && l.fields?.code === 'CONFIG_INVALID');
    expect(refusal, 'the refusal is logged with its code').to.not.equal(undefined);
    expect(JSON.stringify(refusal!.fields!.problems)).to.match(/bogus|initialDelayMs/);
    // The old settings stay: more attempts against the dead port, none reach the server the invalid config named.
    const seen = h.host.of('email.deferred').length;
    await h.host.until((em) => em.filter((e) => e.type === 'email.deferred').length >= seen + 2);
    for (const d of h.host.of('email.deferred')) expect(d.payload.reason).to.match(/^SMTP_CONNECT\b/);
    expect(healthy.connections).to.equal(0);

    const fixed = structuredClone(c);
    fixed.tenants[T].smtp.port = healthy.port;
    h.host.changeConfig(fixed);
    expect(h.host.logs.some((l) => l.msg === 'configuration change applied')).to.equal(true);
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length);
    expect(healthy.mails).to.have.length(events.length);
    expect((await h.plugin.status()).counts).to.include({ queued: 0, delivered: events.length });
  });
});
