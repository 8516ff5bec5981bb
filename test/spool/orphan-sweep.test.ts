import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import * as pg from 'pg';
import { fax, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { describeStores } from '../helpers/stores';

const A = 'a.example.com';
const WAV = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(512, 3)]);
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(512, 4)]);
const SWEPT = 'removed attachment copies of events a crash left unqueued';

/** Stores a copy no message names, two hours old (past the sweep's grace for an accept in progress on another node), as a crash mid-accept leaves one. */
async function plantStoredOrphan(spool: Record<string, any>, key: string): Promise<void> {
  const c = new pg.Client({ connectionString: spool.postgres.connectionString });
  await c.connect();
  try {
    await c.query('INSERT INTO pbx_email_notify.attachment_chunks (files_dir, name, n, data) VALUES ($1, $2, 0, $3)', [key, 'recording', WAV]);
    await c.query('INSERT INTO pbx_email_notify.attachment_files (files_dir, name, size, created_at) VALUES ($1, $2, $3, $4)', [key, 'recording', WAV.length, Date.now() - 7_200_000]);
  } finally {
    await c.end();
  }
}

/**
 * The orphan sweep at activate(): whatever the spool stores that no record names (copies a crash
 * left between the copy and the insert) is removed before events are taken; every copy a record
 * names, queued or dead letter, is kept. For sqlite the copies are `<dataDir>/files`; for postgres
 * they are in the database and `<dataDir>/files` is this node's cache, emptied at start (not an
 * orphan, so neither counted nor logged as one).
 */
describeStores('spool: the orphan sweep at activate()', function (store) {
  this.timeout(30_000);
  const h = new Harness();
  let server: TestSmtp;
  let root: string;
  let spool: Record<string, unknown>;

  beforeEach(async () => {
    server = await h.smtp({ rcptErrors: { [`gone@${A}`]: 550 } });
    root = h.tmpdir('pbx-sweep-');
    fs.writeFileSync(path.join(root, 'vm.wav'), WAV);
    fs.writeFileSync(path.join(root, 'fax.pdf'), PDF);
    spool = await store.spoolConfig();
  });

  afterEach(() => h.dispose());

  const config = (port: number) => tenantConfig(testCa().cert, { [A]: { port } }, { attachmentRoots: [root], spool });
  const filesDir = () => path.join(h.host.dataDir, 'files');
  const local = () => fs.readdirSync(filesDir()).sort();
  const files = () => store.storedDirs(h.host.dataDir);
  const dirOf = async (eventId: string) => path.basename(path.dirname((await h.plugin.lookup(eventId))!.attachments[0]!.path));

  it('removes a copy no record names, keeps the queued and the dead-lettered ones, and the queued mail goes out with its file', async () => {
    // First run: the fax is a dead letter (550, its file kept for inspection); the voicemail stays queued (server down).
    await h.start(config(server.port));
    const deadLetter = fax(A, {}, { recipient: { extension: '202', email: [`gone@${A}`] }, document: { path: path.join(root, 'fax.pdf'), contentType: 'application/pdf' } });
    await h.host.send(deadLetter);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === deadLetter.id));
    const down = await refusedPort();
    await h.replaceHost(config(down), { sameDataDir: true });
    const queued = voicemail(A, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    await h.host.send(queued);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === queued.id));
    const kept = [await dirOf(deadLetter.id), await dirOf(queued.id)].sort();
    expect(await files()).to.deep.equal(kept);
    await h.deactivate();
    expect(h.host.logs.filter((l) => l.msg === SWEPT), 'nothing to sweep so far').to.deep.equal([]);

    // What a crash between the copy and the insert leaves: a directory no record names, and a
    // half-written copy (for postgres: in the cache, and a stored copy in the database).
    const orphanKey = '0123456789abcdef01234567-deadbeef';
    const orphan = path.join(filesDir(), orphanKey);
    fs.mkdirSync(orphan);
    fs.writeFileSync(path.join(orphan, 'recording'), WAV);
    fs.writeFileSync(path.join(filesDir(), 'stray.part'), 'half');
    if (store.name === 'postgres') {
      await plantStoredOrphan(spool, orphanKey);
      expect(await files()).to.deep.equal([...kept, orphanKey].sort());
    }

    // Second start, server up: the sweep has run once activate() resolves, before any delivery.
    await h.replaceHost(config(server.port), { sameDataDir: true });
    expect(await files()).to.deep.equal(kept);
    expect(fs.existsSync(orphan)).to.equal(false);
    // postgres: the cache was emptied; delivery may have fetched the queued mail's copy into it since.
    if (store.name === 'sqlite') expect(local()).to.deep.equal(kept);
    else expect(local().filter((d) => !kept.includes(d))).to.deep.equal([]);
    const swept = h.host.logs.filter((l) => l.msg === SWEPT);
    expect(swept).to.have.length(1);
    // sqlite: the directory and the .part file; postgres: the stored orphan (the cache is no orphan).
    expect(swept[0]!.fields).to.deep.equal({ count: store.name === 'postgres' ? 1 : 2 });

    // The kept copy is the one mailed.
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === queued.id));
    const m = server.mails.find((x) => x.parsed.headers.get('x-pbx-event-id') === queued.id);
    expect(m!.parsed.attachments).to.have.length(1);
    expect(m!.parsed.attachments[0]!.content).to.deep.equal(WAV);
    expect((await h.plugin.lookup(deadLetter.id))).to.deep.include({ state: 'failed' });
    expect(await store.storedFile(h.host.dataDir, await dirOf(deadLetter.id), 'document')).to.deep.equal(PDF);
  });

  it('a start with nothing orphaned removes nothing and logs nothing', async () => {
    await h.start(config(await refusedPort()));
    const queued = voicemail(A, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    await h.host.send(queued);
    // Once attempted, its copy is in this node's local files (for postgres: fetched into the cache).
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === queued.id));
    const before = await files();
    expect(before).to.have.length(1);
    expect(local()).to.deep.equal(before);
    await h.replaceHost(config(await refusedPort()), { sameDataDir: true });
    expect(await files()).to.deep.equal(before);
    expect(h.host.logs.filter((l) => l.msg === SWEPT)).to.deep.equal([]);
  });
});
