import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { fax, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';

const A = 'a.example.com';
const WAV = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(512, 3)]);
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(512, 4)]);
const SWEPT = 'removed attachment copies of events a crash left unqueued';

/**
 * The orphan sweep at activate(): whatever lies in the spool's files directory that no record names
 * (copies a crash left between the copy and the insert) is removed before events are taken; every
 * copy a record names, queued or dead letter, is kept.
 */
describe('spool: the orphan sweep at activate()', function () {
  this.timeout(30_000);
  const h = new Harness();
  let server: TestSmtp;
  let root: string;

  beforeEach(async () => {
    server = await h.smtp({ rcptErrors: { [`gone@${A}`]: 550 } });
    root = h.tmpdir('pbx-sweep-');
    fs.writeFileSync(path.join(root, 'vm.wav'), WAV);
    fs.writeFileSync(path.join(root, 'fax.pdf'), PDF);
  });

  afterEach(() => h.dispose());

  const config = (port: number) => tenantConfig(testCa().cert, { [A]: { port } }, { attachmentRoots: [root] });
  const filesDir = () => path.join(h.host.dataDir, 'files');
  const files = () => fs.readdirSync(filesDir()).sort();
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
    expect(files()).to.deep.equal(kept);
    await h.deactivate();
    expect(h.host.logs.filter((l) => l.msg === SWEPT), 'nothing to sweep so far').to.deep.equal([]);

    // What a crash between the copy and the insert leaves: a directory no record names, and a half-written copy.
    const orphan = path.join(filesDir(), '0123456789abcdef01234567-deadbeef');
    fs.mkdirSync(orphan);
    fs.writeFileSync(path.join(orphan, 'recording'), WAV);
    fs.writeFileSync(path.join(filesDir(), 'stray.part'), 'half');

    // Second start, server up: the sweep has run once activate() resolves, before any delivery.
    await h.replaceHost(config(server.port), { sameDataDir: true });
    expect(files()).to.deep.equal(kept);
    expect(fs.existsSync(orphan)).to.equal(false);
    const swept = h.host.logs.filter((l) => l.msg === SWEPT);
    expect(swept).to.have.length(1);
    expect(swept[0]!.fields).to.deep.equal({ count: 2 });

    // The kept copy is the one mailed.
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === queued.id));
    const m = server.mails.find((x) => x.parsed.headers.get('x-pbx-event-id') === queued.id);
    expect(m!.parsed.attachments).to.have.length(1);
    expect(m!.parsed.attachments[0]!.content).to.deep.equal(WAV);
    expect((await h.plugin.lookup(deadLetter.id))).to.deep.include({ state: 'failed' });
    expect(fs.readFileSync(path.join(filesDir(), await dirOf(deadLetter.id), 'document'))).to.deep.equal(PDF);
  });

  it('a start with nothing orphaned removes nothing and logs nothing', async () => {
    await h.start(config(await refusedPort()));
    const queued = voicemail(A, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    await h.host.send(queued);
    const before = files();
    expect(before).to.have.length(1);
    await h.replaceHost(config(await refusedPort()), { sameDataDir: true });
    expect(files()).to.deep.equal(before);
    expect(h.host.logs.filter((l) => l.msg === SWEPT)).to.deep.equal([]);
  });
});
