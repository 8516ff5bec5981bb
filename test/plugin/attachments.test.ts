import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { toneWav } from '../../src/host/demo/samples';
import { fax, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { describeStores, sqliteOnly } from '../helpers/stores';
import { waitFor } from '../helpers/wait';

const T = 'a.example.com';
// These tests are about the spooled copy itself: conversion to MP3/PDF is off (tested in test/media/).
const ORIGINAL = { attachments: { audioFormat: 'original', faxFormat: 'original' } };

function pdf(): Buffer {
  return Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n' + crypto.randomBytes(2048).toString('base64'));
}

describeStores('attachments: copied into the spool, attached with their content type and a safe name', (store) => {
  let server: TestSmtp;
  let root: string;
  const h = new Harness();

  beforeEach(async () => {
    server = await h.smtp();
    root = h.tmpdir('pbx-att-');
    await h.start(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [root], defaults: ORIGINAL })));
  });

  afterEach(() => h.dispose());

  // Names, types and the copy at intake are the intake's, alike on both stores: sqlite only, for npm
  // test's time budget. What is stored and sent runs on both.
  const itSqlite = sqliteOnly(store);

  it('voicemail: the WAV recording arrives attached, though the PBX deleted it as soon as the handler resolved', async () => {
    const bytes = toneWav(1);
    const file = path.join(root, 'msg0001.wav');
    fs.writeFileSync(file, bytes);
    const e = voicemail(T, {}, { recording: { path: file, contentType: 'audio/wav', filename: '../../etc/passwd\r\nX: y' } });
    await h.host.send(e);
    fs.unlinkSync(file); // the PBX may delete its file the moment the handler resolves
    const [m] = await server.waitFor(1);
    const atts = m!.parsed.attachments;
    expect(atts).to.have.length(1);
    expect(atts[0]!.contentType).to.equal('audio/wav');
    expect(atts[0]!.filename).to.equal('voicemail-20261128-120000-15550100.wav');
    expect(Buffer.compare(atts[0]!.content, bytes)).to.equal(0);
    // The body names the same safe file name.
    expect(m!.parsed.text).to.contain('voicemail-20261128-120000-15550100.wav');
  });

  it('fax: the PDF document arrives attached with application/pdf', async () => {
    const bytes = pdf();
    const file = path.join(root, 'fax-17.pdf');
    fs.writeFileSync(file, bytes);
    const e = fax(T, {}, { document: { path: file, contentType: 'application/pdf' } });
    await h.host.send(e);
    fs.rmSync(file);
    const [m] = await server.waitFor(1);
    const atts = m!.parsed.attachments;
    expect(atts).to.have.length(1);
    expect(atts[0]!.contentType).to.equal('application/pdf');
    expect(atts[0]!.filename).to.equal('fax-20261128-120500-15550111.pdf');
    expect(Buffer.compare(atts[0]!.content, bytes)).to.equal(0);
  });

  itSqlite('an unrecognised file gets a .bin name (never one from the PBX path or the caller) and application/octet-stream', async () => {
    const file = path.join(root, 'evil name.exe');
    fs.writeFileSync(file, 'abc');
    await h.host.send(voicemail(T, {}, { caller: { number: '<script>', name: 'x' }, recording: { path: file, contentType: 'application/x-msdownload', filename: 'invoice.pdf.exe' } }));
    const [m] = await server.waitFor(1);
    const a = m!.parsed.attachments[0]!;
    expect(a.filename).to.equal('voicemail-20261128-120000.bin');
    // Not a type recognised from its first bytes: declared as opaque data, never as what the event claimed.
    expect(a.contentType).to.equal('application/octet-stream');
    expect(m!.raw.toString('latin1')).to.not.contain('x-msdownload');
  });

  itSqlite('a file replaced after the handler resolved does not change what is sent (it is a copy, not a link)', async () => {
    const file = path.join(root, 'msg.wav');
    const bytes = toneWav(1);
    fs.writeFileSync(file, bytes);
    await h.host.send(voicemail(T, {}, { recording: { path: file, contentType: 'audio/wav' } }));
    // Overwrite in place: a hard link would carry the new bytes.
    fs.writeFileSync(file, Buffer.alloc(bytes.length, 0));
    const [m] = await server.waitFor(1);
    expect(Buffer.compare(m!.parsed.attachments[0]!.content, bytes)).to.equal(0);
  });

  itSqlite('an attachment root that is itself a symlink accepts files inside its target', async () => {
    const real = path.join(root, 'real');
    fs.mkdirSync(real);
    const linked = `${root}-link`;
    fs.symlinkSync(real, linked);
    try {
      await h.replaceHost(await store.configure(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [linked], defaults: ORIGINAL })));
      const bytes = toneWav(1);
      fs.writeFileSync(path.join(real, 'a.wav'), bytes);
      await h.host.send(voicemail(T, {}, { recording: { path: path.join(linked, 'a.wav'), contentType: 'audio/wav' } }));
      const [m] = await server.waitFor(1);
      expect(Buffer.compare(m!.parsed.attachments[0]!.content, bytes)).to.equal(0);
    } finally {
      fs.rmSync(linked, { force: true });
    }
  });

  it("the spool's copy is removed once the mail is delivered", async () => {
    const file = path.join(root, 'msg.wav');
    fs.writeFileSync(file, toneWav(1));
    const e = voicemail(T, {}, { recording: { path: file, contentType: 'audio/wav' } });
    // Hold the attempt until the stored copy is looked at: a quick delivery would remove it first.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.plugin.addHook('beforeSend', (st) => (st.event.id === e.id ? gate : undefined));
    await h.host.send(e);
    let dir: string | undefined;
    try {
      const stored = await store.storedDirs(h.host.dataDir);
      expect(stored).to.have.length(1);
      dir = stored[0]!;
      expect(await store.storedFile(h.host.dataDir, dir, 'recording')).to.deep.equal(fs.readFileSync(file));
    } finally {
      release();
    }
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
    // <dataDir>/files: the spool's copies for sqlite, this node's cache of the database's for postgres.
    const files = () => fs.readdirSync(path.join(h.host.dataDir, 'files'));
    await waitFor(() => files().length === 0, { what: 'the attachment copy removed after delivery', detail: files });
    // postgres keeps the stored copy with its record until the purge (spool.ts: another node whose
    // lease ran out may still be sending it); test/spool/retention.test.ts sees it go then.
    expect(await store.storedDirs(h.host.dataDir)).to.deep.equal(store.name === 'postgres' ? [dir] : []);
  });
});
