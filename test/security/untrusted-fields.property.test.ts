import { expect } from 'chai';
import fc from 'fast-check';
import nodemailer from 'nodemailer';
import { simpleParser, type ParsedMail } from 'mailparser';
import { activate, type EmailNotifyPlugin } from '../../src';
import { messageOptions } from '../../src/delivery/smtp-transport';
import { EmailNotifyPlugin as Plugin } from '../../src/plugin/plugin';
import { FakeHost } from '../helpers/fake-host';
import { eid, fax, tenantConfig, voicemail } from '../helpers/events';
import { headerNames } from '../helpers/raw-headers';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'acme.example.com';
const EMAILS = ['alice@acme.example.com', 'bob@acme.example.com'];

/** Pieces an attacker on the phone network would try, mixed with arbitrary Unicode (lone surrogates included). */
const FRAGMENTS = [
  '\r\n', '\n', '\r', '\r\n.\r\n', '\n.\n', '.', '\r\nBcc: evil@attacker.example', '\nTo: evil@attacker.example', '\r\n\r\nbody',
  '\r\nContent-Type: text/html', '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'onmouseover='x", '</td></tr></table><form>',
  '&amp;&lt;', '=?UTF-8?B?PHNjcmlwdD4=?=', '\u2028', '\u2029', '\u0085', '\u0000', '\u202e', '\ufeff', '{{constructor}}', 'evil@attacker.example',
  ',', ';', '<evil@attacker.example>', '"', '\\', 'Ωμέγα', '山田', '😀',
];
const untrusted = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: 'binary', maxLength: 12 })), { maxLength: 8 }).map((a) => a.join(''));

const EXPECTED_HEADERS = ['auto-submitted', 'x-auto-response-suppress', 'content-language', 'x-pbx-event-id', 'from', 'to', 'subject', 'message-id', 'date', 'mime-version', 'content-type'];

interface Fields {
  callerName: string;
  callerNumber: string;
  recipientName: string;
  transcript: string;
  folder: string;
  stationId: string;
}
const fields: fc.Arbitrary<Fields> = fc.record({ callerName: untrusted, callerNumber: untrusted, recipientName: untrusted, transcript: untrusted, folder: untrusted, stationId: untrusted });

function events(f: Fields) {
  const recipient = { extension: '201', name: f.recipientName, email: EMAILS };
  return [
    voicemail(T, { id: eid('p-vm') }, { recipient, caller: { number: f.callerNumber, name: f.callerName }, transcript: f.transcript, folder: f.folder, messageNumber: 3 }),
    fax(T, { id: eid('p-fax') }, { recipient, caller: { number: f.callerNumber, name: f.callerName, stationId: f.stationId } }),
  ];
}

const TAG = /<\/?([a-zA-Z][a-zA-Z0-9-]*)/g;

/** The invariants every message must keep, whatever the untrusted fields held. */
function checkMessage(raw: Buffer, parsed: ParsedMail, allowedTags: Set<string>): void {
  const names = headerNames(raw);
  expect([...names].sort()).to.deep.equal([...EXPECTED_HEADERS].sort());
  const text = raw.toString('latin1');
  expect(/\r(?!\n)|(?<!\r)\n/.test(text), 'bare CR or LF').to.equal(false);
  for (const line of text.split('\r\n')) expect(line.length).to.be.at.most(998);
  const to = parsed.to as { value: { address: string }[] };
  expect(to.value.map((v) => v.address)).to.deep.equal(EMAILS);
  expect(parsed.cc).to.equal(undefined);
  expect(parsed.bcc).to.equal(undefined);
  expect(parsed.subject ?? '').to.not.match(/[\r\n]/);
  const html = String(parsed.html);
  for (const [, tag] of html.matchAll(TAG)) expect(allowedTags.has(tag!.toLowerCase()), `tag <${tag}> in ${html}`).to.equal(true);
  expect(/<[^>]*\son[a-z]+\s*=/i.test(html), 'event handler attribute').to.equal(false);
  expect(parsed.attachments).to.have.length(0);
}

describe('property: untrusted fields never add a header, change a recipient, break HTML escaping or smuggle a message', () => {
  describe('composed by nodemailer (many runs, no network)', () => {
    let host: FakeHost;
    let plugin: EmailNotifyPlugin;
    const raws = new Map<string, Buffer>();
    const allowed = new Set<string>();

    before(async () => {
      host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: 1 } }, { delivery: { concurrency: { perTenant: 16 }, retry: { initialDelayMs: 200, maxDelayMs: 1000 } } }));
      const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
      plugin = await Plugin.activate(host.context(), {
        send: async (_smtp, mail) => {
          const info = await composer.sendMail(messageOptions(mail));
          raws.set(mail.headers['X-PBX-Event-Id']!, info.message as Buffer);
          return { accepted: [...mail.envelopeTo], rejected: [], response: '250 composed' };
        },
      });
      // The tags a benign mail of each type uses: the only ones any mail may contain.
      for (const e of events({ callerName: 'Bob', callerNumber: '+1555', recipientName: 'Alice', transcript: 'hello', folder: 'INBOX', stationId: 'ACME' })) {
        await host.send(e);
        await host.until(() => raws.has(e.id));
        for (const [, tag] of String((await simpleParser(raws.get(e.id)!)).html).matchAll(TAG)) allowed.add(tag!.toLowerCase());
      }
    });

    after(async () => {
      await plugin.deactivate();
      host.cleanup();
    });

    it('holds for arbitrary caller name/number, station id, transcript, recipient name and folder', async function () {
      this.timeout(120_000);
      await fc.assert(
        fc.asyncProperty(fields, async (f) => {
          for (const e of events(f)) {
            await host.send(e); // never refused for what the fields contain
            await host.until(() => raws.has(e.id));
            const raw = raws.get(e.id)!;
            checkMessage(raw, await simpleParser(raw), allowed);
          }
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('received by a real SMTP server (fewer runs)', () => {
    let smtp: TestSmtp;
    let host: FakeHost;
    let plugin: EmailNotifyPlugin;

    before(async () => {
      smtp = await TestSmtp.start({ ca: testCa() });
      host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: smtp.port } }, { delivery: { concurrency: { perTenant: 8 }, retry: { initialDelayMs: 200, maxDelayMs: 1000 }, messageTimeoutMs: 8000 } }));
      plugin = await activate(host.context());
    });

    after(async () => {
      await plugin.deactivate();
      await smtp.close();
      host.cleanup();
    });

    it('every event arrives as exactly one message, whole, to exactly its recipients', async function () {
      this.timeout(120_000);
      const samples = fc.sample(fields, { numRuns: 20, seed: 5150 });
      samples.push({ callerName: 'x\r\n.\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<evil@attacker.example>\r\nDATA\r\n', callerNumber: '.\r\n.', recipientName: '.', transcript: 'line one\r\n.\r\nQUIT\r\n.\n..\n.', folder: '\r\n.\r\n', stationId: '.\n' });
      const sent = samples.flatMap(events);
      for (const e of sent) await host.send(e);
      await host.until((em) => em.filter((x) => x.type === 'email.delivered').length === sent.length, 60_000);
      await smtp.waitFor(sent.length);
      expect(smtp.mails).to.have.length(sent.length);
      const allowed = new Set<string>();
      for (const m of smtp.mails) for (const [, tag] of String(m.parsed.html).matchAll(TAG)) allowed.add(tag!.toLowerCase());
      for (const m of smtp.mails) {
        expect(m.to).to.deep.equal(EMAILS);
        expect(m.from).to.equal(`pbx@${T}`);
        checkMessage(m.raw, m.parsed, allowed);
      }
      expect([...allowed].some((t) => ['script', 'img', 'form', 'iframe'].includes(t))).to.equal(false);
      const ids = smtp.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort();
      expect(ids).to.deep.equal(sent.map((e) => e.id).sort());
      // The transcript that carried SMTP commands and lone dots arrives as text, not as a second message.
      const last = smtp.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === sent[sent.length - 2]!.id)!;
      expect(last.parsed.text).to.include('QUIT');
    });
  });
});
