import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { FaultServer, refusedPort } from '../helpers/fault-servers';
import { waitFor } from '../helpers/wait';
import { sharedPostgres } from '../helpers/postgres';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';

describe('cluster: the plugin on a PostgreSQL spool', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('delivers through spool.store "postgres", the fax document stored in the database and fetched by a second node with an empty dataDir', async function () {
    this.timeout(60_000);
    const pg = await sharedPostgres();
    const url = await pg.createDatabase();
    const ca = testCa();
    const dead = await refusedPort();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-pg-root-'));
    cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const doc = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(700_000, 7)]);
    fs.writeFileSync(path.join(root, 'f.pdf'), doc);
    const spool = { store: 'postgres', postgres: { connectionString: url, leaseMs: 2000 } };
    // Node A accepts while the tenant's server is down, and stops.
    const a = new FakeHost(tenantConfig(ca.cert, { [T]: { port: dead } }, { attachmentRoots: [root], spool }));
    cleanup.push(() => a.cleanup());
    const pa = await activate(a.context());
    const events = [voicemail(T), fax(T, {}, { document: { path: path.join(root, 'f.pdf'), contentType: 'application/pdf' } }), missed(T)];
    for (const e of events) await a.send(e);
    await a.until((em) => em.filter((x) => x.type === 'email.deferred').length >= 1);
    await pa.deactivate();
    fs.rmSync(path.join(root, 'f.pdf'));

    // Node B, another dataDir, the server up: delivers all three once, with the document byte for byte.
    const server = await TestSmtp.start({ ca });
    cleanup.push(() => server.close());
    const b = new FakeHost(tenantConfig(ca.cert, { [T]: { port: server.port } }, { attachmentRoots: [root], spool }));
    cleanup.push(() => b.cleanup());
    const pb = await activate(b.context());
    cleanup.push(() => pb.deactivate());
    await b.until((em) => em.filter((x) => x.type === 'email.delivered').length === 3);
    expect(server.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort()).to.deep.equal(events.map((e) => e.id).sort());
    const faxMail = server.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === events[1]!.id)!;
    expect(faxMail.parsed.attachments).to.have.length(1);
    expect(Buffer.compare(faxMail.parsed.attachments[0]!.content, doc)).to.equal(0);
    expect((await pb.status()).counts).to.deep.equal({ queued: 0, delivered: 3, failed: 0 });
  });

  it('the breaker is shared: a failure seen by one node holds the tenant on the other, and a flush on that other node ends the hold for both', async function () {
    this.timeout(60_000);
    const pg = await sharedPostgres();
    const url = await pg.createDatabase();
    const ca = testCa();
    const port = await refusedPort();
    // A long hold: only the flush can end it within the test.
    const config = () =>
      tenantConfig(ca.cert, { [T]: { port } }, { spool: { store: 'postgres', postgres: { connectionString: url, leaseMs: 2000 } }, delivery: { retry: { initialDelayMs: 120_000, maxDelayMs: 120_000, maxAgeMs: 600_000 }, messageTimeoutMs: 5000, shutdownTimeoutMs: 300 } });
    const a = new FakeHost(config());
    const b = new FakeHost(config());
    cleanup.push(() => a.cleanup(), () => b.cleanup());
    const pa = await activate(a.context());
    cleanup.push(() => pa.deactivate());
    const pb = await activate(b.context());
    cleanup.push(() => pb.deactivate());
    const e = voicemail(T);
    await a.send(e);
    await waitFor(() => [...a.emitted, ...b.emitted].some((x) => x.type === 'email.deferred'), { what: 'the probe deferred by one node' });
    // Node B heard of the mail (a wake-up) and claims: the shared breaker answers with the hold and its reason.
    const held = await waitFor(async () => (await pb.status()).tenants.find((t) => t.tenant === T && t.held && t.holdReason), { what: 'the tenant held on node B', timeoutMs: 15_000 });
    expect(held.holdReason!.code).to.equal('SMTP_CONNECT');
    const server = await FaultServer.start({ cert: ca.issue() }, port);
    cleanup.push(() => server.close());
    const flushed = await pb.flush(T);
    expect(flushed).to.deep.equal({ tenant: T, retried: 1 });
    await waitFor(() => server.mails.length === 1, { what: 'the mail delivered after the flush, well before the two-minute hold', timeoutMs: 20_000 });
    await waitFor(() => [...a.emitted, ...b.emitted].some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id), { what: 'email.delivered reported' });
    expect(server.mails).to.have.length(1);
  });

  it('a dropped database connection is logged SPOOL_FAILURE without the password, the node listens again and goes on delivering', async function () {
    this.timeout(60_000);
    const pg = await sharedPostgres();
    const url = await pg.createDatabase();
    const ca = testCa();
    const server = await TestSmtp.start({ ca });
    cleanup.push(() => server.close());
    const host = new FakeHost(tenantConfig(ca.cert, { [T]: { port: server.port } }, { spool: { store: 'postgres', postgres: { connectionString: url } } }));
    cleanup.push(() => host.cleanup());
    const p = await activate(host.context());
    cleanup.push(() => p.deactivate());
    const first = missed(T);
    await host.send(first);
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === first.id));
    expect(await pg.terminateBackends(new URL(url).pathname.slice(1))).to.be.greaterThan(0);
    const warned = await waitFor(() => host.logs.find((l) => l.level === 'warn' && l.fields?.code === 'SPOOL_FAILURE' && /listening for wake-ups/.test(l.msg)), { what: 'the lost LISTEN connection logged' });
    expect(JSON.stringify(host.logs)).to.not.include(pg.password);
    expect(warned.fields!.error).to.be.a('string');
    const second = missed(T);
    await waitFor(async () => (await host.send(second).then(() => true, () => false)) || undefined, { what: 'an accept after the pool reconnected', timeoutMs: 15_000 });
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === second.id));
    expect(server.mails).to.have.length(2);
  });
});
