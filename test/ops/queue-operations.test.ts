import { expect } from 'chai';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { describeStores } from '../helpers/stores';
import { testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const T = 'a.example.com';
const DEAD = 'dead.example.com';
const IDLE = 'idle.example.com';

/** The coded rejection of `p` (fails the test when it resolves). */
async function refusal(p: Promise<unknown>): Promise<{ code?: string; field?: string; message: string }> {
  return p.then(
    (v) => expect.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e: { code?: string; field?: string; message: string }) => e,
  );
}

describeStores('ops: the queue operations on the plugin instance (retry, discard, flush, retryFailed)', function (store) {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  it('a 550 for one of two recipients: partial, the log shows the reply and the recipient; after the fix, retry sends to that recipient alone, once', async () => {
    const rcptErrors: Record<string, number> = { [`gone@${T}`]: 550 };
    const server = await h.smtp({ rcptErrors });
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port } })));
    const ev = voicemail(T, {}, { recipient: { extension: '201', email: [`alice@${T}`, `gone@${T}`] } });
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === ev.id) && em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id));
    expect(h.host.of('email.failed', ev.id).map((e) => e.payload.to)).to.deep.equal([[`gone@${T}`]]);
    expect(h.host.of('email.delivered', ev.id).map((e) => e.payload.to)).to.deep.equal([[`alice@${T}`]]);

    const d = (await h.plugin.message(ev.id, T))!;
    expect(d).to.deep.include({ tenant: T, eventId: ev.id, eventType: 'voicemail.received', state: 'partial', attempts: 1, recipients: [`alice@${T}`, `gone@${T}`] });
    expect(d.lastError?.code).to.equal('SMTP_PERMANENT');
    expect(d.lastError?.message).to.contain(`gone@${T}`).and.contain('550');
    expect(d.attemptsLog).to.have.length(1);
    const a = d.attemptsLog[0]!;
    expect(a).to.deep.include({ attempt: 1, host: '127.0.0.1', outcome: 'partial', code: 'SMTP_PERMANENT', replyCode: 250 });
    expect(a.tlsVersion).to.match(/^TLSv1\.[23]$/);
    expect(a.recipients).to.deep.equal([
      { address: `alice@${T}`, status: 'accepted' },
      { address: `gone@${T}`, status: 'rejected', replyCode: 550, replyText: '550 No such user' },
    ]);
    expect(d.log.map((l) => [l.kind, l.detail?.split(':')[0]])).to.deep.equal([['accepted', undefined], ['attempt', 'partial'], ['outcome', 'partial']]);
    const tenant = (await h.plugin.status()).tenants.find((t) => t.tenant === T)!;
    expect(tenant.depth).to.deep.include({ partial: 1, delivered: 0, failed: 0, queued: 0 });
    expect(tenant.totals).to.deep.equal({ accepted: 1, delivered: 0, failed: 0, partial: 1 });
    expect(tenant.lastFailure?.code).to.equal('SMTP_PERMANENT');
    expect(Date.parse(tenant.lastSuccessAt!)).to.be.greaterThan(0);

    delete rcptErrors[`gone@${T}`]; // the mailbox exists now
    const revived = await h.plugin.retry(ev.id, T);
    expect(revived).to.deep.include({ state: 'queued', attempts: 0 });
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id).length === 2);
    expect(h.host.of('email.delivered', ev.id)[1]!.payload).to.deep.include({ to: [`gone@${T}`], attempts: 1 });
    const copies = server.mails.flatMap((m) => m.to);
    expect(copies.filter((x) => x === `alice@${T}`)).to.have.length(1);
    expect(copies.filter((x) => x === `gone@${T}`)).to.have.length(1);
    const after = (await h.plugin.message(ev.id, T))!;
    expect(after).to.deep.include({ state: 'delivered', attempts: 1 });
    expect(after.attemptsLog.map((x) => [x.attempt, x.outcome])).to.deep.equal([[1, 'partial'], [1, 'delivered']]);
    expect(after.log.filter((l) => l.kind === 'operator').map((l) => l.detail)).to.deep.equal(['retry: revived from partial']);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === T)!.totals).to.deep.equal({ accepted: 1, delivered: 1, failed: 0, partial: 1 });

    expect((await refusal(h.plugin.retry(ev.id, T))).code).to.equal('MESSAGE_NOT_RETRYABLE');
    expect((await refusal(h.plugin.retry('no-such-id', T))).code).to.equal('MESSAGE_NOT_FOUND');
    expect((await refusal(h.plugin.discard(ev.id, T))).code).to.equal('MESSAGE_NOT_DISCARDABLE');
  });

  it('a tenant held on SMTP_AUTH, restarted, then flushed once the server takes its password: delivers without waiting for the hold', async () => {
    const auth = { user: 'pbx', pass: 'new-secret' };
    const server = await h.smtp({ auth });
    const config = tenantConfig(testCa().cert, { [T]: { port: server.port, auth: { user: 'pbx', pass: 'configured-secret' } } });
    await h.start(await store.configure(config));
    const ev = missed(T);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === ev.id));
    expect(h.host.of('email.deferred', ev.id)[0]!.payload.reason).to.match(/^SMTP_AUTH/);
    // On a shared spool the hold is the cluster's: its end is known once the breaker's row answers (a round trip after the deferral).
    const held = await waitFor(async () => (await h.plugin.status()).tenants.find((t) => t.tenant === T && t.nextProbeAt !== undefined), { what: 'the hold with its next probe' });
    expect(held).to.deep.include({ held: true });
    expect(held.holdReason?.code).to.equal('SMTP_AUTH');
    // authFailureDelayMs is 15 minutes: the probe is that far away.
    expect(Date.parse(held.nextProbeAt!) - Date.now()).to.be.greaterThan(60_000);
    expect(held.depth).to.deep.include({ deferred: 1 });

    // A restart forgets the breaker, but the message itself waits authFailureDelayMs.
    await h.replaceHost(await store.configure(config), { sameDataDir: true });
    expect((await h.plugin.message(ev.id, T))!.state).to.equal('deferred');
    auth.pass = 'configured-secret'; // the mailbox password was reset to what the PBX has
    const flushed = await h.plugin.flush(T);
    expect(flushed).to.deep.equal({ tenant: T, retried: 1 });
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id), 10_000);
    expect(server.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([ev.id]);
    const t = (await h.plugin.status()).tenants.find((x) => x.tenant === T)!;
    expect(t).to.deep.include({ held: false });
    expect(t.holdReason).to.equal(undefined);
    expect((await h.plugin.message(ev.id, T))!.state).to.equal('delivered');
  });

  it('flush in the same run ends the hold at once; an unknown tenant is TENANT_UNKNOWN', async () => {
    const auth = { user: 'pbx', pass: 'new-secret' };
    const server = await h.smtp({ auth });
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port, auth: { user: 'pbx', pass: 'configured-secret' } } })));
    const ev = missed(T);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === ev.id));
    await waitFor(async () => (await h.plugin.status()).tenants.find((t) => t.tenant === T)?.held, { what: 'the tenant held' });
    auth.pass = 'configured-secret';
    expect(await h.plugin.flush(T)).to.deep.equal({ tenant: T, retried: 1 });
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ev.id), 10_000);
    expect(server.mails).to.have.length(1);
    const unknown = await refusal(h.plugin.flush('nobody.example.com'));
    expect(unknown).to.deep.include({ code: 'TENANT_UNKNOWN', field: 'tenant' });
  });

  it('discard of deferred mail: email.failed with DISCARDED for its recipients, kept as a dead letter; not retryable, not discardable again', async () => {
    const dead = await refusedPort();
    await h.start(await store.configure(tenantConfig(testCa().cert, { [DEAD]: { port: dead } }, { delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 300 } })));
    const ev = missed(DEAD);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === ev.id));
    await waitFor(async () => (await h.plugin.message(ev.id, DEAD))?.state === 'deferred', { what: 'the attempt over' });
    const s = await h.plugin.discard(ev.id, DEAD);
    expect(s).to.deep.include({ state: 'discarded', attempts: 1 });
    expect(s.lastError).to.deep.equal({ code: 'DISCARDED', message: 'DISCARDED: discarded by an operator' });
    const failed = h.host.of('email.failed', ev.id);
    expect(failed.map((e) => e.payload)).to.deep.equal([{ eventId: ev.id, tenant: DEAD, attempts: 1, to: [`bob@${DEAD}`], reason: 'DISCARDED: discarded by an operator' }]);
    const d = (await h.plugin.message(ev.id, DEAD))!;
    expect(d.log.map((l) => [l.kind, l.code])).to.deep.equal([['accepted', undefined], ['attempt', 'SMTP_CONNECT'], ['operator', 'DISCARDED'], ['outcome', 'DISCARDED']]);
    expect(d.attemptsLog[0]).to.deep.include({ attempt: 1, host: '127.0.0.1', outcome: 'deferred', code: 'SMTP_CONNECT', recipients: [] });
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === DEAD)!.depth).to.deep.include({ discarded: 1, deferred: 0, queued: 0 });
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 0, failed: 1 });
    expect((await refusal(h.plugin.discard(ev.id, DEAD))).code).to.equal('MESSAGE_NOT_DISCARDABLE');
    expect((await refusal(h.plugin.retry(ev.id, DEAD))).code).to.equal('MESSAGE_NOT_RETRYABLE');
    expect(await h.plugin.messages({ tenant: DEAD, state: 'discarded' })).to.have.length(1);
  });

  it('retryFailed revives the failed mail of a tenant settled since a time, not older; status lists idle tenants', async () => {
    const rcptErrors: Record<string, number> = { [`bob@${T}`]: 550 };
    const server = await h.smtp({ rcptErrors });
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port }, [IDLE]: { port: server.port } })));
    const old = missed(T);
    await h.host.send(old);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === old.id));
    const since = new Date(Date.now() + 1).toISOString();
    await waitFor(() => Date.now() > Date.parse(since), { what: 'the clock past since' });
    const recent = [missed(T), missed(T)];
    for (const e of recent) await h.host.send(e);
    await h.host.until((em) => recent.every((r) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === r.id)));
    expect((await h.plugin.messages({ tenant: T, state: 'failed' })).map((m) => m.eventId)).to.deep.equal([recent[1]!.id, recent[0]!.id, old.id]);

    delete rcptErrors[`bob@${T}`];
    expect(await h.plugin.retryFailed({ tenant: T, since })).to.deep.equal({ tenant: T, retried: 2 });
    await h.host.until((em) => recent.every((r) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === r.id)));
    expect(server.mails.map((m) => String(m.parsed.headers.get('x-pbx-event-id'))).sort()).to.deep.equal(recent.map((r) => r.id).sort());
    expect((await h.plugin.message(old.id, T))!.state).to.equal('failed');
    expect((await refusal(h.plugin.retryFailed({ tenant: T, since: 'yesterday' })))).to.deep.include({ code: 'QUERY_INVALID', field: 'since' });
    expect((await refusal(h.plugin.retryFailed({ tenant: 'nobody.example.com', since })))).to.deep.include({ code: 'TENANT_UNKNOWN', field: 'tenant' });

    const idle = (await h.plugin.status()).tenants.find((t) => t.tenant === IDLE)!;
    expect(idle).to.deep.equal({ tenant: IDLE, depth: { queued: 0, deferred: 0, sending: 0, delivered: 0, partial: 0, failed: 0, discarded: 0 }, held: false, totals: { accepted: 0, delivered: 0, failed: 0, partial: 0 }, active: 0, failures: 0 });
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === T)!.totals).to.deep.equal({ accepted: 3, delivered: 2, failed: 3, partial: 0 });
  });

  it('messages(): filters by tenant and state, newest first, with a limit; a bad query is QUERY_INVALID naming the field', async () => {
    const dead = await refusedPort();
    const server = await h.smtp();
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port }, [DEAD]: { port: dead } }, { delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 300 } })));
    const ok = [missed(T), missed(T)];
    for (const e of ok) await h.deliver(server, e);
    const waiting = missed(DEAD);
    await h.host.send(waiting);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === waiting.id));
    await waitFor(async () => (await h.plugin.messages({ state: 'deferred' })).length === 1, { what: 'the dead tenant’s mail deferred' });
    expect((await h.plugin.messages({ tenant: T })).map((m) => [m.eventId, m.state])).to.deep.equal([[ok[1]!.id, 'delivered'], [ok[0]!.id, 'delivered']]);
    expect((await h.plugin.messages({ tenant: T, limit: 1 })).map((m) => m.eventId)).to.deep.equal([ok[1]!.id]);
    const [def] = await h.plugin.messages({ state: 'deferred' });
    expect(def).to.deep.include({ tenant: DEAD, eventId: waiting.id, state: 'deferred', attempts: 1, recipients: [`bob@${DEAD}`] });
    expect(Date.parse(def!.nextAttemptAt!)).to.be.greaterThan(Date.now());
    expect(await h.plugin.messages({ state: 'queued' })).to.deep.equal([]);
    expect(await h.plugin.messages({ before: '2000-01-01T00:00:00Z' })).to.deep.equal([]);
    expect(await refusal(h.plugin.messages({ state: 'lost' as never }))).to.deep.include({ code: 'QUERY_INVALID', field: 'state' });
    expect(await refusal(h.plugin.messages({ limit: 0 }))).to.deep.include({ code: 'QUERY_INVALID', field: 'limit' });
    expect(await refusal(h.plugin.messages({ before: 'soon' }))).to.deep.include({ code: 'QUERY_INVALID', field: 'before' });
    expect(await h.plugin.message('no-such-id', T)).to.equal(undefined);
    const dead0 = (await h.plugin.status()).tenants.find((t) => t.tenant === DEAD)!;
    expect(dead0.oldestQueuedAgeMs).to.be.a('number').and.at.least(0);
    expect(dead0.lastFailure?.code).to.equal('SMTP_CONNECT');
  });

  it('re-posting a known event id answers duplicate with its current state', async () => {
    const rcptErrors: Record<string, number> = { [`bob@${T}`]: 550 };
    const server = await h.smtp({ rcptErrors });
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port } })));
    const good = voicemail(T);
    const bad = missed(T);
    expect(await h.plugin.handle(good)).to.deep.include({ status: 'queued' });
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === good.id));
    await h.plugin.handle(bad);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === bad.id));
    expect(await h.plugin.handle(good)).to.deep.include({ status: 'duplicate', state: 'delivered' });
    expect(await h.plugin.handle(bad)).to.deep.include({ status: 'duplicate', state: 'failed' });
    expect(server.mails).to.have.length(1);
  });
});
