import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { describeStores, sqliteOnly } from '../helpers/stores';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';
const deliveredIds = (s: TestSmtp) => s.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'));

describeStores('spool: mail left by an earlier run is resumed after activate()', (store) => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  // A plain restart on postgres is also in idempotency, queue-operations and lifecycle; the crash below
  // runs on both. Sqlite only, for npm test's time budget.
  const itSqlite = sqliteOnly(store);

  itSqlite('deferred against a dead port, deactivated, re-activated with the server up: arrives once', async () => {
    const ca = testCa();
    const dead = await refusedPort();
    const spool = await store.spoolConfig();
    const first = new FakeHost(tenantConfig(ca.cert, { [T]: { port: dead } }, { spool }));
    cleanup.push(() => first.cleanup());
    const p1 = await activate(first.context());
    const e = voicemail(T);
    await first.send(e);
    await first.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e.id));
    expect(first.of('email.deferred', e.id)[0]!.payload.reason).to.match(/^SMTP_CONNECT/);
    await p1.deactivate();

    const server = await TestSmtp.start({ ca });
    cleanup.push(() => server.close());
    // The same node restarted: the same dataDir, and for postgres the same database.
    const second = new FakeHost(tenantConfig(ca.cert, { [T]: { port: server.port } }, { spool }), first.dataDir);
    const p2 = await activate(second.context());
    cleanup.push(() => p2.deactivate());
    await second.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
    const d = second.of('email.delivered', e.id)[0]!.payload;
    expect(d.attempts).to.be.greaterThan(1); // the failed attempts of the first run count
    // A marker accepted after the resume is delivered too; by then a duplicate would have shown.
    const marker = missed(T);
    await second.send(marker);
    await second.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === marker.id));
    expect(deliveredIds(server).sort()).to.deep.equal([e.id, marker.id].sort());
    expect((await p2.status()).counts).to.deep.equal({ queued: 0, delivered: 2, failed: 0 });
  });

  it('queued, then the process is killed with SIGKILL: the next run delivers every event once, attachment included', async function () {
    this.timeout(60_000);
    const ca = testCa();
    const dead = await refusedPort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-crash-'));
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-crash-root-'));
    cleanup.push(() => fs.rmSync(dataDir, { recursive: true, force: true }), () => fs.rmSync(root, { recursive: true, force: true }));
    const doc = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(5000, 7)]);
    fs.writeFileSync(path.join(root, 'f.pdf'), doc);
    const events = [voicemail(T), fax(T, {}, { document: { path: path.join(root, 'f.pdf'), contentType: 'application/pdf' } }), missed(T)];
    const spool = await store.spoolConfig();
    const config = tenantConfig(ca.cert, { [T]: { port: dead } }, { attachmentRoots: [root], spool });
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'queue-then-hang.child.ts'), JSON.stringify({ config, dataDir, events })], {
      cwd: path.join(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b;
        if (out.includes('QUEUED')) resolve();
      });
      child.on('exit', (c) => reject(new Error(`child exited (${c}) before queuing: ${stderr}`)));
    });
    // The handlers resolved: from here a kill -9 must lose nothing. The PBX deletes its file too.
    child.kill('SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    fs.rmSync(path.join(root, 'f.pdf'));

    const server = await TestSmtp.start({ ca });
    cleanup.push(() => server.close());
    const host = new FakeHost(tenantConfig(ca.cert, { [T]: { port: server.port } }, { attachmentRoots: [root], spool }), dataDir);
    const plugin = await activate(host.context());
    cleanup.push(() => plugin.deactivate());
    await host.until((em) => events.every((e) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id)));
    const marker = missed(T);
    await host.send(marker);
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === marker.id));
    expect(deliveredIds(server).sort()).to.deep.equal([...events.map((e) => e.id), marker.id].sort());
    const faxMail = server.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === events[1]!.id)!;
    expect(Buffer.compare(faxMail.parsed.attachments[0]!.content, doc)).to.equal(0);
    // The same ids sent again after the crash are still recognised.
    for (const e of events) await host.send(e);
    expect((await plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 4, failed: 0 });
  });
});
