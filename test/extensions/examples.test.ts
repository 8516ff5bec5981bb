import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { PluginError } from '../../src';
import { eid, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';

const T = 'acme.example.com';
const EXAMPLES = path.join(__dirname, '../../examples');
const RECORDING = path.join(EXAMPLES, 'call-recording-ready');
const BOX_FULL = path.join(EXAMPLES, 'voicemail-box-full');
const CRM = path.join(EXAMPLES, 'crm-link');

function recording(tenant: string, data: Record<string, unknown> = {}, recipient: Record<string, unknown> = {}) {
  return {
    id: eid('rec'),
    type: 'call.recording.ready',
    tenant,
    occurredAt: '2026-11-28T12:30:00Z',
    data: {
      recipient: { extension: '201', name: 'Alice Example', email: [`alice@${tenant}`], ...recipient },
      caller: { number: '+15550100', name: 'Bob Caller' },
      title: 'Delivery dates',
      url: 'https://recordings.example/r/1',
      durationSeconds: 65,
      ...data,
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return e as PluginError;
  }
  throw new Error('accepted');
}

describe('examples/: the three extensions through the real pipeline to a real SMTP server', function () {
  this.timeout(30_000);
  const h = new Harness();
  let server: TestSmtp;

  before(async () => {
    server = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { extensions: [RECORDING, BOX_FULL, CRM] }));
  });
  after(() => h.dispose());

  it('loads all three, subscribes to their kinds through ctx.on and reports them in status()', async () => {
    const s = (await h.plugin.status());
    expect(s.eventTypes).to.deep.equal(['voicemail.received', 'fax.received', 'call.missed', 'call.recording.ready', 'voicemail.box.full']);
    expect(s.extensions.map((x) => [x.name, x.state, x.kinds, x.hooks, x.helpers])).to.deep.equal([
      ['pbx-email-notify-call-recording-ready', 'loaded', ['call.recording.ready'], [], ['crmSearch']],
      ['pbx-email-notify-voicemail-box-full', 'loaded', ['voicemail.box.full'], [], []],
      ['pbx-email-notify-crm-link', 'loaded', [], ['beforeSend'], []],
    ]);
    expect([...h.host.handlers.keys()].sort()).to.deep.equal(['call.missed', 'call.recording.ready', 'fax.received', 'voicemail.box.full', 'voicemail.received']);
  });

  it('call.recording.ready: its own schema, English and German templates, its helper and a link; the mail arrives', async () => {
    const en = recording(T);
    const m = await h.deliver(server, en);
    expect(m.to).to.deep.equal([`alice@${T}`]);
    expect(m.parsed.subject).to.equal('Recording ready: Delivery dates');
    expect(m.parsed.text).to.contain('Length:  1 minute, 5 seconds');
    expect(m.parsed.text).to.contain('Listen: https://recordings.example/r/1');
    expect(m.parsed.text).to.contain('Caller in the CRM: https://crm.example/search?phone=%2B15550100');
    const html = String(m.parsed.html);
    expect(html).to.contain('href="https://recordings.example/r/1"');
    // The helper's URL is escaped like any value (= is &#x3D; in attribute text) and stays a live https link.
    expect(html).to.match(/href="https:\/\/crm\.example\/search\?phone&#x3D;%2B15550100"/);
    expect(m.parsed.headers.get('content-language')).to.equal('en');

    const de = recording(T, {}, { language: 'de-AT' });
    const md = await h.deliver(server, de);
    expect(md.parsed.subject).to.equal('Aufnahme bereit: Delivery dates');
    expect(md.parsed.text).to.contain('Länge:   1 Minute, 5 Sekunden');
    expect(md.parsed.headers.get('content-language')).to.equal('de');
    expect(h.host.of('email.delivered', de.id)[0]!.payload).to.deep.include({ to: [`alice@${T}`], attempts: 1 });
  });

  it('an invalid call.recording.ready event is refused with EVENT_INVALID naming the field; nothing is queued', async () => {
    const before = (await h.plugin.status()).counts;
    const e = await refusal(h.host.send(recording(T, { url: 'javascript:alert(1)' })));
    expect(e.code).to.equal('EVENT_INVALID');
    expect(e.field).to.equal('/data/url');
    const missing = await refusal(h.host.send(recording(T, { title: undefined })));
    expect(missing.code).to.equal('EVENT_INVALID');
    expect(missing.field).to.equal('/data/title');
    const extra = await refusal(h.host.send(recording(T, { surprise: 1 })));
    expect(extra.field).to.equal('/data/surprise');
    expect((await h.plugin.status()).counts).to.deep.equal(before);
  });

  it('its untrusted text is neutralised like a caller name: one line in the subject, no header, escaped in HTML', async () => {
    const title = 'Evil\r\nBcc: attacker@evil.example =?UTF-8?B?PHNjcmlwdD4=?= <script>x</script>\u202e';
    const e = recording(T, { title, notes: 'line one\r\n\r\n\r\n\r\nline two\u0000' });
    const m = await h.deliver(server, e);
    expect(m.parsed.subject).to.equal('Recording ready: Evil Bcc: attacker@evil.example = ?UTF-8?B?PHNjcmlwdD4= ?= <script>x</script>');
    expect(m.parsed.bcc).to.equal(undefined);
    expect(m.to).to.deep.equal([`alice@${T}`]);
    const head = m.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).to.not.match(/^bcc:/im);
    expect(String(m.parsed.html)).to.contain('&lt;script&gt;x&lt;/script&gt;').and.not.contain('<script>');
    expect(m.parsed.text).to.contain('line one\n\nline two\n');
    // The spool keeps the neutralised copy.
    expect((await h.plugin.lookup(e.id, T))!.event.data.title).to.equal('Evil Bcc: attacker@evil.example = ?UTF-8?B?PHNjcmlwdD4= ?= <script>x</script>');
  });

  it('voicemail.box.full: a notice to the mailbox owner, without attachment', async () => {
    const e = { id: eid('full'), type: 'voicemail.box.full', tenant: T, occurredAt: '2026-11-28T13:00:00Z', data: { recipient: { extension: '201', name: 'Alice', email: [`alice@${T}`] }, mailbox: '201\r\nAlice', messages: 100, capacity: 100 } };
    const m = await h.deliver(server, e);
    expect(m.parsed.subject).to.equal('Your voicemail box is full (100 of 100)');
    expect(m.parsed.text).to.contain('your voicemail box 201 Alice holds 100 of 100 messages');
    expect(m.parsed.attachments).to.deep.equal([]);
    const bad = await refusal(h.host.send({ ...e, id: eid('full'), data: { ...e.data, capacity: 0 } }));
    expect([bad.code, bad.field]).to.deep.equal(['EVENT_INVALID', '/data/capacity']);
  });

  it('crm-link: its beforeSend hook adds an X-CRM-Link header and a footer line to missed-call mail only', async () => {
    const e = missed(T, {}, { caller: { number: '+1 555 0122', name: 'Carol' } });
    const m = await h.deliver(server, e);
    const link = 'https://crm.example/lookup?phone=%2B1%20555%200122';
    expect(m.parsed.headers.get('x-crm-link')).to.equal(link);
    expect(m.parsed.text).to.match(new RegExp(`Caller in the CRM: ${link.replace(/[?.+]/g, '\\$&')}\\n$`));
    // The hook escapes what it writes into HTML itself (api.escape: = becomes &#x3D;).
    expect(String(m.parsed.html)).to.contain(`Caller in the CRM: <a href="${link.replace('=', '&#x3D;')}">+1 555 0122</a>`);
    const vm = await h.deliver(server, voicemail(T));
    expect(vm.parsed.headers.has('x-crm-link')).to.equal(false);
  });

  it('a tenant overrides an extension kind under templates[type], and preview() renders it from its sample', async () => {
    await h.replaceHost(tenantConfig(testCa().cert, { [T]: { port: server.port } }, {
      extensions: [RECORDING],
      tenants: { [T]: { from: `PBX <pbx@${T}>`, smtp: { host: '127.0.0.1', port: server.port, tls: { ca: testCa().cert, servername: 'localhost' } }, templates: { 'call.recording.ready': { subject: 'Tenant: {{recording.title}} ({{event.data.durationSeconds}} s)' } } } },
    }));
    const m = await h.deliver(server, recording(T));
    expect(m.parsed.subject).to.equal('Tenant: Delivery dates (65 s)');
    const p = await h.plugin.preview({ tenant: T, eventType: 'call.recording.ready', language: 'de' });
    expect(p.subject).to.equal('Tenant: Delivery dates for Thursday (312 s)');
    expect(p.text).to.contain('Titel:   Delivery dates for Thursday');
    expect(p.problems).to.deep.equal([]);
  });
});

describe('examples/: templates check and the manifest know the extension kinds', function () {
  this.timeout(60_000);
  const h = new Harness();
  after(() => h.dispose());

  it('`templates check` loads the configured extensions: their templates pass, a tenant override of their kind is checked against its variables and helpers', () => {
    const dir = h.tmpdir('pbx-ext-check-');
    const config = path.join(dir, 'config.json');
    const tenant = { from: `PBX <pbx@${T}>`, smtp: { host: 'smtp.invalid' }, templates: { 'call.recording.ready': { subject: '{{recording.title}} {{crmSearch caller.number}}', text: 'x {{recording.titel}}', html: '<p>{{view.anything}}</p>' } } };
    fs.writeFileSync(config, JSON.stringify({ extensions: [RECORDING, BOX_FULL], tenants: { [T]: tenant } }));
    const r = spawnSync(process.execPath, [path.join(__dirname, '../../scripts/templates.js'), 'check', '--config', config], { encoding: 'utf8', timeout: 60_000 });
    const out = r.stdout + r.stderr;
    expect(out).to.contain(`tenants/${T}/templates/call.recording.ready/text:1:5: error: unknown variable "recording.titel" (not in the call.recording.ready context)`);
    expect(out).to.contain('1 error, 0 warnings');
    expect(r.status, out).to.equal(1);
  });

  it("plugin.json's extensionEvents lists the example extensions' kinds, and the manifest still validates", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '../../plugin.json'), 'utf8'));
    expect(manifest.extensionEvents).to.deep.equal(['call.recording.ready', 'voicemail.box.full']);
  });
});
