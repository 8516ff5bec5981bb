import { expect } from 'chai';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

/** The header block of a raw message, unfolded, as [name, value] pairs. */
export function headerFields(raw: Buffer): [string, string][] {
  const text = raw.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head
    .replace(/\r\n[ \t]/g, ' ')
    .split('\r\n')
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]);
}

const RFC5322_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/;

describe('message hygiene, on the raw message as received', () => {
  let smtp: TestSmtp;
  const h = new Harness();
  const rcptErrors: Record<string, number> = {};

  before(async () => {
    const ca = testCa();
    smtp = await h.smtp({ rcptErrors });
    await h.start(tenantConfig(ca.cert, { 'acme.example.com': { port: smtp.port } }));
  });

  after(() => h.dispose());

  it('Auto-Submitted, a Message-ID in the tenant domain, an RFC 5322 Date, RFC 2047 encoded names and subject, CRLF lines', async () => {
    const e = voicemail('acme.example.com', {}, { recipient: { extension: '201', name: 'Zoë Ångström-Øster', email: ['zoe@acme.example.com'] }, caller: { number: '+4930123', name: '山田 太郎 Jürgen' } });
    await h.host.send(e);
    const [m] = await smtp.waitFor(1);
    const raw = m!.raw;
    const fields = headerFields(raw);
    const get = (n: string) => fields.filter(([k]) => k.toLowerCase() === n.toLowerCase()).map(([, v]) => v);
    expect(get('Auto-Submitted')).to.deep.equal(['auto-generated']);
    expect(get('Message-ID')).to.have.length(1);
    expect(get('Message-ID')[0]).to.match(/^<[0-9a-f]{32}@acme\.example\.com>$/);
    expect(get('Date')).to.have.length(1);
    expect(get('Date')[0]).to.match(RFC5322_DATE);
    // The header block is pure ASCII: non-ASCII travels as RFC 2047 encoded words.
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n'));
    expect([...head].every((b) => b < 0x80)).to.equal(true);
    expect(get('Subject')[0]).to.match(/=\?UTF-8\?[QB]\?/);
    expect(get('To')[0]).to.match(/^=\?UTF-8\?[QB]\?.*\?= <zoe@acme\.example\.com>$/);
    expect(m!.parsed.subject).to.include('山田 太郎 Jürgen');
    expect((m!.parsed.to as { value: { name: string; address: string }[] }).value).to.deep.equal([{ name: 'Zoë Ångström-Øster', address: 'zoe@acme.example.com' }]);
    // Every line ends in CRLF and none is longer than RFC 5322 allows.
    const text = raw.toString('latin1');
    expect(/\r(?!\n)|(?<!\r)\n/.test(text)).to.equal(false);
    for (const line of text.split('\r\n')) expect(line.length).to.be.at.most(998);
  });

  it('the Message-ID is the same on every attempt of one event', async () => {
    rcptErrors['retry@acme.example.com'] = 451;
    const e = voicemail('acme.example.com', {}, { recipient: { extension: '1', email: ['retry@acme.example.com'] } });
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e.id));
    delete rcptErrors['retry@acme.example.com'];
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
    const delivered = h.host.of('email.delivered', e.id)[0]!.payload;
    const deferrals = h.host.of('email.deferred', e.id).length;
    expect(deferrals).to.be.greaterThan(0);
    expect(delivered.attempts, 'every deferral was an attempt, and the delivery one more').to.equal(deferrals + 1);
    const m = smtp.mails.find((x) => x.to.includes('retry@acme.example.com'))!;
    expect(m.parsed.messageId).to.equal(delivered.messageId);
    expect((await h.plugin.lookup(e.id))?.messageId).to.equal(delivered.messageId);
  });
});
