import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { toneWav } from '../../src/host/demo/samples';
import { fax, tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';

// SQLite only: deletes the spool's copies in <dataDir>/files; for PostgreSQL that directory is a cache and the copy is fetched again from the database (test/cluster/pg-plugin.test.ts: a node with an empty dataDir).
describe('a spooled attachment that vanished before delivery', function () {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  /** Writes `file` into an attachment root, queues `make(path)` against a dead server, deletes every spooled copy, then points the tenant at a live server. */
  async function vanishThenDeliver(file: { name: string; bytes: Buffer }, make: (file: string) => Record<string, any>) {
    const server = await h.smtp();
    const root = h.tmpdir('pbx-vanish-');
    const dead = await refusedPort();
    const config = (port: number) => tenantConfig(testCa().cert, { [T]: { port } }, { attachmentRoots: [root], delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 } });
    await h.start(config(dead));
    fs.writeFileSync(path.join(root, file.name), file.bytes);
    const event = make(path.join(root, file.name));
    await h.host.send(event);
    await h.host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === event.id));
    // A cleanup script empties the spool's file store.
    const files = path.join(h.host.dataDir, 'files');
    const copies = fs.readdirSync(files);
    expect(copies).to.have.length(1);
    for (const d of copies) fs.rmSync(path.join(files, d), { recursive: true });
    h.host.changeConfig(config(server.port));
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === event.id));
    expect(server.mails).to.have.length(1);
    const missing = h.host.logs.filter((l) => l.fields?.code === 'ATTACHMENT_MISSING');
    expect(missing).to.have.length(1);
    expect(missing[0]!.fields).to.include({ tenant: T, eventId: event.id });
    expect(h.host.of('email.failed', event.id)).to.have.length(0);
    return server.mails[0]!;
  }

  it('voicemail: the mail goes without the recording and says it is no longer on the server', async () => {
    const m = await vanishThenDeliver({ name: 'msg.wav', bytes: toneWav(1) }, (f) => voicemail(T, {}, { recording: { path: f, contentType: 'audio/wav' } }));
    expect(m.parsed.attachments).to.have.length(0);
    expect(m.parsed.text).to.contain('The recording could not be attached: the file is no longer on the server.');
    expect(m.parsed.text).to.not.contain('too large');
    expect(m.parsed.html).to.contain('The recording could not be attached: the file is no longer on the server.');
  });

  it('fax: the mail goes without the document and says so', async () => {
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
    const m = await vanishThenDeliver({ name: 'fax.pdf', bytes: pdf }, (f) => fax(T, {}, { document: { path: f, contentType: 'application/pdf' } }));
    expect(m.parsed.attachments).to.have.length(0);
    expect(m.parsed.text).to.contain('The document could not be attached: the file is no longer on the server.');
  });
});
