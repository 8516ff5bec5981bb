import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { describeStores } from '../helpers/stores';
import { testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const T = 'a.example.com';
const DEAD = 'dead.example.com';

async function refusal(p: Promise<unknown>): Promise<{ code?: string; field?: string; message: string }> {
  return p.then(
    (v) => expect.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e: { code?: string; field?: string; message: string }) => e,
  );
}

describeStores('ops: the delivery log (refusals, bounds, retention)', function (store) {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  it('a refused event is logged with its code, field, tenant, id and type, never its content; newest first, by tenant', async () => {
    const server = await h.smtp();
    const root = h.tmpdir('pbx-roots-');
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [root] })));
    const outside = voicemail(T, {}, { caller: { number: '+15550100', name: 'Secret Caller' }, recording: { path: '/etc/passwd', contentType: 'audio/wav' } });
    const e1 = await refusal(h.host.send(outside));
    expect(e1.code).to.equal('ATTACHMENT_FORBIDDEN');
    const shapeless = missed(T, {}, { recipient: { extension: '203', email: ['not an address'] } });
    const e2 = await refusal(h.host.send(shapeless));
    expect(e2.code).to.equal('EVENT_INVALID');
    const other = missed('nobody.example.com');
    await refusal(h.host.send({ ...other, tenant: 42 }));

    const all = await h.plugin.refusals();
    expect(all).to.have.length(3);
    expect(all[0]).to.deep.include({ eventId: other.id, eventType: 'call.missed', code: 'EVENT_INVALID', field: '/tenant' });
    expect(all[0]!.tenant).to.equal(undefined);
    expect(all[1]).to.deep.include({ tenant: T, eventId: shapeless.id, eventType: 'call.missed', code: 'EVENT_INVALID', field: e2.field });
    expect(all[2]).to.deep.include({ tenant: T, eventId: outside.id, eventType: 'voicemail.received', code: 'ATTACHMENT_FORBIDDEN', field: '/data/recording/path', message: e1.message });
    expect(Date.parse(all[2]!.at)).to.be.greaterThan(0);
    expect(JSON.stringify(all)).to.not.contain('Secret Caller');
    expect((await h.plugin.refusals({ tenant: T })).map((r) => r.eventId)).to.deep.equal([shapeless.id, outside.id]);
    expect((await h.plugin.refusals({ tenant: T, limit: 1 })).map((r) => r.eventId)).to.deep.equal([shapeless.id]);
    // Nothing was queued for any of them.
    expect(await h.plugin.messages()).to.deep.equal([]);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === T)!.totals.accepted).to.equal(0);
  });

  it('spool.log.maxRefusals keeps the newest refusals; spool.log.maxAttemptsPerMessage the latest attempts, the count exact', async () => {
    const dead = await refusedPort();
    await h.start(await store.configure(
      tenantConfig(testCa().cert, { [DEAD]: { port: dead } }, { spool: { log: { maxRefusals: 3, maxAttemptsPerMessage: 2 } }, delivery: { retry: { initialDelayMs: 20, maxDelayMs: 40, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 300 } }),
    ));
    const refused = Array.from({ length: 5 }, () => missed(DEAD, {}, { recipient: { extension: '1', email: [] } }));
    for (const e of refused) await refusal(h.host.send(e));
    expect((await h.plugin.refusals()).map((r) => r.eventId)).to.deep.equal(refused.slice(2).reverse().map((e) => e.id));

    const ev = missed(DEAD);
    await h.host.send(ev);
    await h.host.until((em) => em.filter((e) => e.type === 'email.deferred' && e.payload.eventId === ev.id).length >= 4);
    const d = await waitFor(async () => {
      const m = (await h.plugin.message(ev.id, DEAD))!;
      return m.state === 'deferred' ? m : undefined;
    }, { what: 'the message between attempts' });
    expect(d.attempts).to.be.at.least(4);
    expect(d.attemptsLog.map((a) => a.attempt)).to.deep.equal([d.attempts - 1, d.attempts]);
    expect(d.log.filter((l) => l.kind === 'attempt')).to.have.length(2);
  });

  it('retention: a failed message goes with its delivery log after spool.retainFailedMs, and old refusals with it', async () => {
    const server = await h.smtp({ rcptErrors: { [`bob@${T}`]: 550 } });
    const config = (spool = {}) => tenantConfig(testCa().cert, { [T]: { port: server.port } }, { spool });
    await h.start(await store.configure(config()));
    const ev = missed(T);
    await h.host.send(ev);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === ev.id));
    await refusal(h.host.send(missed(T, {}, { recipient: { extension: '1', email: [] } })));
    const seq = (await h.plugin.lookup(ev.id, T))!.seq;
    await h.deactivate();
    // The tables themselves: spool.db for sqlite, the database for postgres.
    const rows = async () => ({
      log: (await store.rows(h.host.dataDir, 'SELECT message_seq FROM delivery_log WHERE message_seq = ?', [seq])).length,
      refusals: (await store.rows(h.host.dataDir, 'SELECT event_id FROM refusals')).length,
    });
    expect(await rows()).to.deep.equal({ log: 2, refusals: 1 });
    // The same node restarted (for postgres: on the same database).
    await h.replaceHost(await store.configure(config({ retainFailedMs: 0 })), { sameDataDir: true });
    await waitFor(async () => (await h.plugin.message(ev.id, T)) === undefined && (await h.plugin.refusals()).length === 0, { what: 'the maintenance pass' });
    await h.deactivate();
    expect(await rows()).to.deep.equal({ log: 0, refusals: 0 });
    if (store.name === 'sqlite') expect(fs.existsSync(path.join(h.host.dataDir, 'spool.db'))).to.equal(true);
  });
});

// Store-independent, so run on the default store only: a test send spools, reports and counts nothing.
describe('ops: test sends', function () {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  it('testSend: the sample through the tenant’s real server to one address, with the transcript; nothing spooled, reported or counted', async () => {
    const server = await h.smtp({ rcptErrors: { [`gone@${T}`]: 550 } });
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
    const r = await h.plugin.testSend({ tenant: T, eventType: 'voicemail.received', to: `ops@${T}` });
    expect(r).to.deep.include({ tenant: T, eventType: 'voicemail.received', to: `ops@${T}`, outcome: 'delivered' });
    expect(r.code).to.equal(undefined);
    expect(r.transcript).to.deep.include({ host: '127.0.0.1', replyCode: 250 });
    expect(r.transcript.tlsVersion).to.match(/^TLSv1\.[23]$/);
    expect(r.transcript.durationMs).to.be.a('number').and.at.least(0);
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.to).to.deep.equal([`ops@${T}`]);
    expect(String(server.mails[0]!.parsed.headers.get('x-pbx-event-id'))).to.match(/^test-send-[0-9a-f]{16}$/);
    expect(server.mails[0]!.parsed.attachments).to.deep.equal([]);

    const bad = await h.plugin.testSend({ tenant: T, eventType: 'call.missed', to: `gone@${T}` });
    expect(bad).to.deep.include({ outcome: 'failed', code: 'SMTP_PERMANENT' });
    expect(bad.transcript).to.deep.include({ host: '127.0.0.1', replyCode: 550, replyText: '550 No such user' });
    expect(server.mails).to.have.length(1);

    expect(h.host.emitted).to.deep.equal([]);
    expect(await h.plugin.messages()).to.deep.equal([]);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === T)!.totals).to.deep.equal({ accepted: 0, delivered: 0, failed: 0, partial: 0 });
    expect(await refusal(h.plugin.testSend({ tenant: T, eventType: 'call.missed', to: 'not an address' }))).to.deep.include({ code: 'QUERY_INVALID', field: 'to' });
    expect(await refusal(h.plugin.testSend({ tenant: T, eventType: 'sms.received', to: `ops@${T}` }))).to.deep.include({ code: 'EVENT_TYPE_UNKNOWN', field: 'eventType' });
  });

  it('testSend to a server that is down: failed with SMTP_CONNECT and its reason, no reply code; an unusable tenant is TENANT_NOT_CONFIGURED', async () => {
    const dead = await refusedPort();
    await h.start(tenantConfig(testCa().cert, { [DEAD]: { port: dead } }));
    const r = await h.plugin.testSend({ tenant: DEAD, eventType: 'fax.received', to: `ops@${DEAD}` });
    expect(r).to.deep.include({ outcome: 'failed', code: 'SMTP_CONNECT' });
    expect(r.transcript.host).to.equal('127.0.0.1');
    expect(r.transcript.replyCode).to.equal(undefined);
    expect(r.transcript.replyText).to.match(/^SMTP_CONNECT/);
    expect(await refusal(h.plugin.testSend({ tenant: 'unlisted.example.com', eventType: 'fax.received', to: 'x@y.example' }))).to.deep.include({ code: 'TENANT_NOT_CONFIGURED', field: 'tenant' });
  });
});
