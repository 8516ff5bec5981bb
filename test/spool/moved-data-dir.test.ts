import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { toneWav } from '../../src/host/demo/samples';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { FakeHost } from '../helpers/fake-host';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';
const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(4000, 0x42), Buffer.from('\n%%EOF\n')]);

// SQLite only: the spool is the dataDir (spool.db, files/) that is moved; a PostgreSQL node's dataDir is scratch (a fresh one on the same database: test/cluster/pg-plugin.test.ts).
describe('spool: a moved or restored dataDir delivers everything, attachments included', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('queued against a dead port, deactivated, dataDir moved with mv, activated there with a live server: every mail arrives with its attachment, the sweep deletes nothing', async function () {
    this.timeout(60_000);
    const ca = testCa();
    const root = h.tmpdir('pbx-move-root-');
    const wav = toneWav(1);
    fs.writeFileSync(path.join(root, 'vm.wav'), wav);
    fs.writeFileSync(path.join(root, 'fax.pdf'), pdf);
    const events = [
      voicemail(T, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } }),
      fax(T, {}, { document: { path: path.join(root, 'fax.pdf'), contentType: 'application/pdf' } }),
      missed(T),
    ];
    await h.start(tenantConfig(ca.cert, { [T]: { port: await refusedPort() } }, { attachmentRoots: [root] }));
    for (const e of events) await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred'));
    await h.deactivate();
    const oldDir = h.host.dataDir;
    const copies = fs.readdirSync(path.join(oldDir, 'files'));
    expect(copies).to.have.length(2);

    // The operator moves the data directory (a new disk, a restore elsewhere); the PBX's originals are gone.
    const parent = h.tmpdir('pbx-moved-');
    const newDir = path.join(parent, 'data');
    fs.renameSync(oldDir, newDir);
    fs.rmSync(root, { recursive: true, force: true });

    const server = await h.smtp({ ca });
    const host = new FakeHost(tenantConfig(ca.cert, { [T]: { port: server.port } }, { attachmentRoots: [root], defaults: { attachments: { audioFormat: 'original', faxFormat: 'original' } } }), newDir); // This test is about the spooled copy itself: conversion to MP3/PDF is off (tested in test/media/).
    h.defer(() => host.cleanup());
    const { activate } = await import('../../src');
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    expect(host.logs.filter((l) => /removed attachment copies/.test(l.msg))).to.deep.equal([]);
    expect(fs.readdirSync(path.join(newDir, 'files')).sort()).to.deep.equal(copies.sort());
    await host.until((em) => events.every((e) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id)));
    expect(host.of('email.failed')).to.deep.equal([]);
    expect(server.mails).to.have.length(3);
    const mail = (id: string) => server.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === id)!;
    expect(mail(events[0]!.id).parsed.attachments).to.have.length(1);
    expect(Buffer.compare(mail(events[0]!.id).parsed.attachments[0]!.content, wav)).to.equal(0);
    expect(mail(events[1]!.id).parsed.attachments).to.have.length(1);
    expect(Buffer.compare(mail(events[1]!.id).parsed.attachments[0]!.content, pdf)).to.equal(0);
    expect(mail(events[2]!.id).parsed.attachments).to.have.length(0);
  });
});
