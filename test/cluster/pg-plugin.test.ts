import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
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
});
