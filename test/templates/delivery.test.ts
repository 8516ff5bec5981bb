import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toneWav } from '../../src/host/demo/samples';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

/** Real plugin, real SMTP servers: what recipients actually get. */
describe('templates: the mail as delivered', () => {
  let a: TestSmtp;
  let b: TestSmtp;
  const h = new Harness();
  let ca: string;
  let dir: string;
  const config = (extra: Record<string, any> = {}) => {
    const c = tenantConfig(ca, { 'a.example.com': { port: a.port }, 'b.example.com': { port: b.port } });
    for (const [id, t] of Object.entries(extra)) Object.assign(c.tenants[id], t);
    return c;
  };
  const start = (c: unknown) => h.start(c);

  beforeEach(async () => {
    ca = testCa().cert;
    [a, b] = await Promise.all([TestSmtp.start({ ca: testCa() }), TestSmtp.start({ ca: testCa() })]);
    h.defer(() => Promise.all([a.close(), b.close()]));
    dir = h.tmpdir('pbx-tpl-');
  });

  afterEach(() => h.dispose());

  it('sends a recipient with language de and zone Europe/Berlin a German mail in Berlin time', async () => {
    await start(config({ 'a.example.com': { timeZone: 'America/New_York' } }));
    await h.host.send(voicemail('a.example.com', {}, { recipient: { extension: '201', name: 'Anna Beispiel', email: ['anna@a.example.com'], language: 'de', timeZone: 'Europe/Berlin' } }));
    const [m] = await a.waitFor(1);
    expect(m!.parsed.headers.get('content-language')).to.equal('de');
    expect(m!.parsed.subject).to.equal('Neue Sprachnachricht von Bob Caller (1:05)');
    expect(m!.parsed.text).to.contain('Eingegangen:  Samstag, 28. November 2026 um 13:00\u00a0MEZ\n');
    expect(m!.parsed.html).to.match(/<html lang="de"[\s>]/);
    expect(m!.parsed.html).to.contain('Samstag, 28. November 2026 um 13:00\u00a0MEZ');
  });

  it('delivers the default German mail as a recipient reads it: zone, greeting, folder, duration, attachment named in Berlin time', async () => {
    const c = config({ 'a.example.com': { country: 'DE', attachments: { audioFormat: 'original' } } }) as Record<string, any>;
    c.attachmentRoots = [dir];
    await start(c);
    const file = path.join(dir, 'msg0003.wav');
    fs.writeFileSync(file, toneWav(1)); // 16,044\u00a0bytes
    const recipient = { extension: '201', email: ['anna@a.example.com'], language: 'de', timeZone: 'Europe/Berlin' };
    await h.host.send(voicemail('a.example.com', { occurredAt: '2026-12-01T21:36:20Z' }, { recipient, caller: { number: '+493012345678', name: 'Bob Caller' }, durationSeconds: 47, messageNumber: 3, folder: 'INBOX', recording: { path: file, contentType: 'audio/wav' } }));
    const [m] = await a.waitFor(1);
    const name = 'voicemail-20261201-223620-493012345678.wav';
    expect(m!.parsed.subject).to.equal('Neue Sprachnachricht von Bob Caller (0:47)');
    expect(m!.parsed.text).to.equal(`Hallo,\n\nSie haben eine neue Sprachnachricht.\n\nVon:          Bob Caller (030\u00a012345678)\nEingegangen:  Dienstag, 1. Dezember 2026 um 22:36\u00a0MEZ\nLänge:        0:47\nMailbox:      Nachricht 3, Posteingang\n\nDie Aufnahme ist angehängt (${name}, 15,7\u00a0kB).\n`);
    const html = String(m!.parsed.html).replace(/ style="[^"]*"/g, '');
    expect(html).to.contain('<p>Hallo, Sie haben eine neue Sprachnachricht von <strong>Bob Caller (030\u00a012345678)</strong>.</p>');
    expect(html).to.contain('<td class="label" valign="top">Eingegangen</td><td class="value">Dienstag, 1. Dezember 2026 um 22:36\u00a0MEZ</td>');
    expect(html).to.contain('<td class="label" valign="top">Mailbox</td><td class="value">Nachricht 3, Posteingang</td>');
    expect(html).to.contain(`<p class="note">Die Aufnahme ist angehängt: <strong>${name}</strong> (15,7\u00a0kB).</p>`);
    expect(m!.parsed.attachments.map((x) => [x.filename, x.contentType, x.size])).to.deep.equal([[name, 'audio/wav', 16_044]]);
  });

  it('still sends the mail when a tenant template is broken, reports it once, and leaves another tenant alone', async () => {
    const broken = { templates: { 'call.missed': { subject: 'Anruf {{caller.number}}', html: '<p>\n{{#each}}</p>' } } };
    await start(config({ 'a.example.com': broken, 'b.example.com': { templates: { 'call.missed': { subject: 'B {{caller.number}}' } } } }));
    for (let i = 0; i < 3; i++) await h.host.send(missed('a.example.com'));
    await h.host.send(missed('b.example.com'));
    await a.waitFor(3);
    await b.waitFor(1);
    for (const m of a.mails) {
      expect(m.parsed.subject).to.equal('Anruf +15550122');
      expect(m.parsed.html).to.contain('Missed call');
    }
    expect(b.mails[0]!.parsed.subject).to.equal('B +15550122');
    const reports = h.host.logs.filter((l) => l.msg.startsWith('tenant template failed'));
    expect(reports).to.have.length(1);
    expect(reports[0]!.fields).to.include({ code: 'TEMPLATE_INVALID', tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', line: 2 });
  });

  it('applies a template change in the config at once (onConfigChange)', async () => {
    await start(config());
    await h.host.send(missed('a.example.com'));
    await a.waitFor(1);
    expect(a.mails[0]!.parsed.subject).to.equal('Missed call from +15550122');
    h.host.changeConfig(config({ 'a.example.com': { templates: { 'call.missed': { subject: 'Rückruf bitte: {{caller.number}}' } }, brand: { name: 'Acme Telefonie' } } }));
    await h.host.send(missed('a.example.com'));
    await a.waitFor(2);
    expect(a.mails[1]!.parsed.subject).to.equal('Rückruf bitte: +15550122');
    expect(a.mails[1]!.parsed.html).to.contain('Acme Telefonie');
  });

  it('applies a change in the tenant templates directory without a restart', async () => {
    fs.mkdirSync(path.join(dir, 'a.example.com', 'de'), { recursive: true });
    const own = path.join(dir, 'a.example.com');
    fs.writeFileSync(path.join(own, 'call.missed.subject.hbs'), 'Version 1 {{caller.number}}');
    await start(config({ 'a.example.com': { templatesDir: path.join(dir, '{tenant}') } }));
    await h.host.send(missed('a.example.com'));
    await a.waitFor(1);
    expect(a.mails[0]!.parsed.subject).to.equal('Version 1 +15550122');

    // An editor's atomic save: write elsewhere, rename over.
    fs.writeFileSync(path.join(own, '.tmp-save'), 'Version 2 {{caller.number}}');
    fs.renameSync(path.join(own, '.tmp-save'), path.join(own, 'call.missed.subject.hbs'));
    fs.writeFileSync(path.join(own, 'de', 'call.missed.subject.hbs'), 'Deutsch {{caller.number}}');
    await until(() => h.host.logs.filter((l) => l.msg === 'tenant templates reloaded').length >= 1);
    await until(() => h.host.logs.some((l) => l.msg === 'tenant templates reloaded' && l.fields?.templates === 2));
    await h.host.send(missed('a.example.com'));
    await h.host.send(missed('a.example.com', {}, { recipient: { extension: '9', email: ['de@a.example.com'], language: 'de' } }));
    await a.waitFor(3);
    expect(a.mails.slice(1).map((m) => m.parsed.subject).sort()).to.deep.equal(['Deutsch +15550122', 'Version 2 +15550122']);
  });

  it('stops watching template directories on deactivate, so the process can exit', async () => {
    fs.mkdirSync(path.join(dir, 'x'));
    await start(config({ 'a.example.com': { templatesDir: path.join(dir, 'x') } }));
    await h.host.send(missed('a.example.com'));
    await a.waitFor(1);
    const before = activeWatchers();
    expect(before).to.be.greaterThan(0);
    await h.deactivate();
    await until(() => activeWatchers() === 0);
  });
});

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** File system watch handles alive in this process (they close on the next loop turns). */
function activeWatchers(): number {
  return process.getActiveResourcesInfo().filter((n) => n === 'FSEventWrap').length;
}
