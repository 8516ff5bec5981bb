import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { describeStores } from '../helpers/stores';
import { waitFor } from '../helpers/wait';

const A = 'a.example.com';
const DEAD = 'dead.example.com';
const WAV = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(256, 1)]);
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(256, 2)]);

/**
 * spool.retainDeliveredMs and spool.retainFailedMs: delivered and failed records (with their spooled
 * files) are purged once older than their retention, by the maintenance pass that runs when delivery
 * starts and every minute after. Queued mail is never purged.
 */
describeStores('spool: retention and purge of delivered and failed mail', function (store) {
  this.timeout(30_000);
  const h = new Harness();
  let server: TestSmtp;
  let root: string;
  let dead: number;
  let base: Record<string, unknown>;

  beforeEach(async () => {
    server = await h.smtp({ rcptErrors: { [`gone@${A}`]: 550 } });
    root = h.tmpdir('pbx-retention-');
    fs.writeFileSync(path.join(root, 'vm.wav'), WAV);
    fs.writeFileSync(path.join(root, 'fax.pdf'), PDF);
    dead = await refusedPort();
    base = await store.spoolConfig();
  });

  afterEach(() => h.dispose());

  const config = (spool: Record<string, number> = {}) =>
    tenantConfig(testCa().cert, { [A]: { port: server.port }, [DEAD]: { port: dead } }, { attachmentRoots: [root], spool: { ...base, ...spool }, delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 300 } });
  /** The stored copies: `<dataDir>/files` for sqlite, the database's attachment_files for postgres. */
  const files = () => store.storedDirs(h.host.dataDir);
  const local = () => fs.readdirSync(path.join(h.host.dataDir, 'files'));
  /** The spool directory holding an event's attachment copy (its name, however the spool writes the path). */
  const dirOf = async (eventId: string) => path.basename(path.dirname((await h.plugin.lookup(eventId))!.attachments[0]!.path));

  /**
   * Restarts on the same dataDir (for postgres: the same database) with `spool` retention and waits until delivery has started: the
   * maintenance pass runs as delivery starts, so once a marker accepted after the restart is
   * delivered, that pass has run.
   */
  async function restart(spool: Record<string, number>): Promise<void> {
    await h.replaceHost(config(spool), { sameDataDir: true });
    const marker = missed(A);
    await h.deliver(server, marker);
  }

  it('purges delivered records past retainDeliveredMs and failed ones (and their files) past retainFailedMs; queued mail stays', async () => {
    await h.start(config());
    const delivered = voicemail(A, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    const failed = fax(A, {}, { recipient: { extension: '202', email: [`gone@${A}`] }, document: { path: path.join(root, 'fax.pdf'), contentType: 'application/pdf' } });
    const queued = voicemail(DEAD, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    for (const e of [delivered, failed, queued]) await h.host.send(e);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === delivered.id));
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === failed.id));
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === queued.id));
    const deliveredDir = await dirOf(delivered.id);
    const failedDir = await dirOf(failed.id);
    const queuedDir = await dirOf(queued.id);
    // A delivered mail's local copy goes at once; a dead letter keeps its file for inspection. The
    // postgres store keeps the delivered mail's stored copy until its record is purged (spool.ts:
    // another node whose lease ran out may still be sending it).
    await waitFor(() => !local().includes(deliveredDir), { what: 'the delivered mail’s copy removed', detail: local });
    const kept = (store.name === 'postgres' ? [deliveredDir, failedDir, queuedDir] : [failedDir, queuedDir]).sort();
    expect(await files()).to.deep.equal(kept);

    // Default retention (7 and 30 days): a restart purges nothing.
    await restart({});
    expect((await h.plugin.lookup(delivered.id))).to.deep.include({ state: 'delivered' });
    expect((await h.plugin.lookup(failed.id))).to.deep.include({ state: 'failed', failed: [`gone@${A}`] });
    expect((await h.plugin.lookup(queued.id))).to.deep.include({ state: 'queued' });
    expect(await files()).to.deep.equal(kept);

    // retainDeliveredMs 0: the delivered records go (the marker of the previous run included); the dead letter stays.
    const before = (await h.plugin.status()).counts;
    expect(before).to.deep.equal({ queued: 1, delivered: 2, failed: 1 });
    await restart({ retainDeliveredMs: 0 });
    expect((await h.plugin.lookup(delivered.id))).to.equal(undefined);
    expect((await h.plugin.lookup(failed.id))).to.deep.include({ state: 'failed' });
    expect((await h.plugin.lookup(queued.id))).to.deep.include({ state: 'queued' });
    // The marker of this run was delivered after the pass: it is kept until the next one.
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 1, delivered: 1, failed: 1 });
    expect(await files()).to.deep.equal([failedDir, queuedDir].sort());

    // retainFailedMs 0: the dead letter and its file go; the queued mail and its file stay.
    await restart({ retainFailedMs: 0 });
    expect((await h.plugin.lookup(failed.id))).to.equal(undefined);
    expect((await h.plugin.lookup(queued.id))).to.deep.include({ state: 'queued' });
    await waitFor(async () => !(await files()).includes(failedDir), { what: 'the purged dead letter’s file removed' });
    expect(await files()).to.deep.equal([queuedDir]);
    expect(await store.storedFile(h.host.dataDir, queuedDir, 'recording')).to.deep.equal(WAV);
    expect(local()).to.not.include(failedDir);
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 1, delivered: 2, failed: 0 });
    expect(h.host.logs.filter((l) => l.msg === 'spool purge failed')).to.deep.equal([]);
  });

  it('a purged event id is no longer a duplicate: the same event again is mailed again (README: kept as long as the record is)', async () => {
    await h.start(config({ retainDeliveredMs: 0 }));
    const e = voicemail(A);
    await h.deliver(server, e);
    await h.host.send(e);
    expect((await h.plugin.lookup(e.id))).to.deep.include({ state: 'delivered' }); // not purged yet: still a duplicate
    await restart({ retainDeliveredMs: 0 });
    expect((await h.plugin.lookup(e.id))).to.equal(undefined);
    await h.deliver(server, e);
    expect(server.mails.filter((m) => m.parsed.headers.get('x-pbx-event-id') === e.id)).to.have.length(2);
  });
});
