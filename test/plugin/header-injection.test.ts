import { expect } from 'chai';
import { PluginError } from '../../src';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { headerNames } from '../helpers/raw-headers';
import { TestSmtp, testCa, type ReceivedMail } from '../helpers/smtp';

const T = 'a.example.com';

const HOSTILE: Record<string, string> = {
  crlf: 'Mallory\r\nBcc: evil@x.example\r\nX-Injected: 1',
  lf: 'Mallory\nTo: evil@x.example',
  cr: 'Mallory\rCc: evil@x.example',
  bccPrefix: '\r\nBcc: evil@x',
  nul: 'Mal\u0000lory\u0000\r\n\r\n<html>body</html>',
  bidi: 'Bob \u202eexe.fdp\u202c \u2066x\u2069 \u200f',
  separators: 'a\u2028Bcc: evil@x\u2029b\u0085Cc: evil@x',
  encodedWord: '=?utf-8?Q?evil=0D=0ABcc:_evil@x?=',
  long: 'A'.repeat(100_000),
  longWords: Array.from({ length: 5000 }, (_, i) => `w${i}\r\n`).join(''),
  loneSurrogate: 'x\ud800y\udc00z',
  addressLike: 'Eve <evil@x.example>, "Bob" <bob@evil.example>; carol@evil.example',
};

describe('header injection through caller names, numbers and station ids', () => {
  let server: TestSmtp;
  const h = new Harness();
  let control: ReceivedMail;
  let controlHeaders: Record<string, string[]>;

  before(async () => {
    server = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
    // One clean mail of each type: the header set every hostile mail must match.
    controlHeaders = {};
    for (const e of [voicemail(T), fax(T), missed(T)]) {
      const m = await h.deliver(server, e);
      controlHeaders[e.type] = headerNames(m.raw);
      control = m;
    }
    expect(headerNames(control.raw)).to.include.members(['from', 'to', 'subject', 'message-id', 'date']);
  });

  after(() => h.dispose());

  /** Sends an event (it must be accepted) and returns its mail. */
  const deliver = (e: Record<string, any>): Promise<ReceivedMail> => h.deliver(server, e);

  function assertClean(m: ReceivedMail, type: string, to: string[]): void {
    expect(headerNames(m.raw), 'header fields').to.deep.equal(controlHeaders[type]);
    expect(m.to, 'envelope recipients').to.deep.equal(to);
    const headerTo = (m.parsed.to && !Array.isArray(m.parsed.to) ? m.parsed.to.value : []).map((a) => a.address);
    expect(headerTo, 'To header').to.deep.equal(to);
    expect(m.parsed.cc, 'Cc').to.equal(undefined);
    expect(m.parsed.bcc, 'Bcc').to.equal(undefined);
    expect(m.parsed.headers.has('x-injected')).to.equal(false);
    const subject = m.parsed.subject ?? '';
    expect(subject).to.not.match(/[\r\n\u0000\u2028\u2029\u0085\u202a-\u202e\u2066-\u2069]/);
    expect(subject.length).to.be.greaterThan(0).and.at.most(300);
    for (const line of m.raw.toString('latin1').split('\r\n')) expect(line.length, 'raw line length').to.be.at.most(998);
    // No bare CR or LF anywhere in the message: every line break is CRLF.
    expect(m.raw.toString('latin1')).to.not.match(/\r(?!\n)|(?<!\r)\n/);
  }

  for (const [name, hostile] of Object.entries(HOSTILE)) {
    it(`caller name and number (${name}): accepted, no extra header, recipients unchanged, one-line subject`, async () => {
      const to = ['alice@a.example.com', 'alice.mobile@a.example.com'];
      const e = voicemail(T, {}, { caller: { name: hostile, number: hostile }, recipient: { extension: '201', name: hostile, email: to }, transcript: hostile, folder: hostile });
      const m = await deliver(e);
      assertClean(m, 'voicemail.received', to);
    });
  }

  it('fax station id and call queue carrying header text are neutralised too', async () => {
    const f = fax(T, {}, { caller: { number: HOSTILE.crlf!, name: HOSTILE.bccPrefix!, stationId: HOSTILE.crlf! } });
    assertClean(await deliver(f), 'fax.received', ['fax@a.example.com']);
    const c = missed(T, {}, { caller: { number: HOSTILE.lf!, name: HOSTILE.nul! }, queue: HOSTILE.crlf! });
    assertClean(await deliver(c), 'call.missed', ['bob@a.example.com']);
  });

  it('the caller text reaches the subject as visible, single-line text (neutralised, not dropped)', async () => {
    const e = voicemail(T, {}, { caller: { name: 'Eve\r\nBcc: evil@x', number: '+1 555\r\n0100' } });
    const m = await deliver(e);
    expect(m.parsed.subject).to.contain('Eve');
    expect(m.parsed.subject).to.not.contain('\n');
    expect(m.parsed.text).to.contain('Eve');
  });

  it('a recipient address carrying header text is refused as EVENT_INVALID (it is not caller text)', async () => {
    try {
      await h.host.send(voicemail(T, {}, { recipient: { extension: '1', email: ['a@a.example.com\r\nBcc: evil@x.example'] } }));
      expect.fail('accepted');
    } catch (e) {
      expect((e as PluginError).code).to.equal('EVENT_INVALID');
      expect((e as PluginError).field).to.equal('/data/recipient/email/0');
    }
  });
});
