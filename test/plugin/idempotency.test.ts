import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { describeStores } from '../helpers/stores';
import { waitFor } from '../helpers/wait';

const T = 'a.example.com';

describeStores('idempotency: the same event id never makes a second mail', (store) => {
  let server: TestSmtp;
  let root: string;
  const h = new Harness();

  beforeEach(async () => {
    server = await h.smtp();
    root = h.tmpdir('pbx-idem-');
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [root], spool: await store.spoolConfig(), defaults: { attachments: { audioFormat: 'original' } } })); // This test is about the spooled copy itself: conversion to MP3/PDF is off (tested in test/media/).
  });

  afterEach(() => h.dispose());

  /**
   * Sends a fresh marker event and waits for its mail: everything accepted before it has had its
   * chance, so counting mails then is not a race.
   */
  async function settle(expectedMails: number): Promise<void> {
    const marker = missed(T);
    await h.host.send(marker);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === marker.id));
    await server.waitFor(expectedMails);
    expect((await h.plugin.status()).counts.queued).to.equal(0);
    expect(server.mails).to.have.length(expectedMails);
  }

  it('sequentially: the second send resolves (a host retry is not an error) and sends nothing', async () => {
    const e = voicemail(T);
    await h.host.send(e);
    await server.waitFor(1);
    await h.host.send(e);
    await h.host.send({ ...e, data: { ...e.data, durationSeconds: 1 } }); // even with other content
    await settle(2);
    expect(server.mails.filter((m) => m.parsed.headers.get('x-pbx-event-id') === e.id)).to.have.length(1);
    expect(h.host.of('email.delivered', e.id)).to.have.length(1);
    expect((await h.plugin.status()).counts.delivered).to.equal(2);
  });

  it('sequentially while the first is still queued', async () => {
    const e = missed(T);
    await h.host.send(e);
    await h.host.send(e);
    await settle(2);
    expect(h.host.of('email.delivered', e.id)).to.have.length(1);
  });

  it('concurrently: ten sends of one id, each with an attachment, give one mail and one spool copy', async () => {
    const file = path.join(root, 'm.wav');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(100)]));
    const e = voicemail(T, {}, { recording: { path: file, contentType: 'audio/wav' } });
    // Hold the first attempt before it sends, so the spool copy is still there to count.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let attempts = 0;
    h.plugin.addHook('beforeSend', (st) => {
      if (st.event.id === e.id) attempts++;
      return st.event.id === e.id ? gate : undefined;
    });
    // This node's <dataDir>/files: the spool's copies for sqlite, the local cache of the database's for postgres.
    const local = () => fs.readdirSync(path.join(h.host.dataDir, 'files'));
    try {
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => h.host.send(structuredClone(e))));
      expect(results.map((r) => r.status)).to.deep.equal(Array(10).fill('fulfilled'));
      expect((await h.plugin.status()).counts).to.include({ queued: 1, delivered: 0 });
      await waitFor(() => attempts === 1, { what: 'the one attempt to reach beforeSend', detail: () => attempts });
      // Copies staged by the losing sends were removed; only the winner's remains.
      const stored = await store.storedDirs(h.host.dataDir);
      expect(stored).to.have.length(1);
      expect(await store.storedNames(h.host.dataDir, stored[0]!)).to.deep.equal(['recording']);
      expect(await store.storedFile(h.host.dataDir, stored[0]!, 'recording')).to.deep.equal(fs.readFileSync(file));
      (await h.plugin.lookup(e.id))!.attachments.forEach((a) => expect(path.basename(path.dirname(a.path))).to.equal(stored[0]));
    } finally {
      release();
    }
    await settle(2);
    expect(attempts).to.equal(1);
    // Delivered: its local copy goes too. For postgres the stored copy goes with its record at purge
    // (spool.ts: another node whose lease ran out may still be sending it).
    await waitFor(() => local().length === 0, { what: 'the delivered mail’s spool copy removed', detail: local });
    expect(await store.storedDirs(h.host.dataDir)).to.have.length(store.name === 'postgres' ? 1 : 0);
    expect(server.mails.filter((m) => m.parsed.headers.get('x-pbx-event-id') === e.id)).to.have.length(1);
    expect(h.host.of('email.delivered', e.id)).to.have.length(1);
  });

  it('across deactivate and re-activate on the same dataDir', async () => {
    const e = voicemail(T);
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
    await h.deactivate();

    // The same node restarted (for postgres: on the same database).
    await h.replaceHost(h.host.config, { sameDataDir: true });
    await h.host.send(e);
    await settle(2);
    expect(server.mails.filter((m) => m.parsed.headers.get('x-pbx-event-id') === e.id)).to.have.length(1);
    expect(h.host.of('email.delivered', e.id)).to.have.length(0);
  });
});
