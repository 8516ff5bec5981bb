import { expect } from 'chai';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa, type ReceivedMail } from '../helpers/smtp';

const PLAIN = 'plain.example.com';
const SUBJ = 'subject.example.com';
const TRIPLE = 'triple.example.com';
const AMP = 'amp.example.com';

const XSS_NAME = '<script>alert(1)</script><img src=x onerror=1>';
const XSS_TRANSCRIPT = 'Call me back </blockquote><a href="javascript:alert(2)">click</a> & "quote" \'apos\' <b>bold</b>';

describe('templates: rendered mail over SMTP (escaping, overrides, refused templates)', () => {
  let server: TestSmtp;
  const harness = new Harness();
  let defaults: Record<string, ReceivedMail> = {};

  before(async () => {
    server = await TestSmtp.start({ ca: testCa() });
    harness.defer(() => server.close());
    const tenants = Object.fromEntries([PLAIN, SUBJ, TRIPLE, AMP].map((t) => [t, { port: server.port }]));
    const cfg = tenantConfig(testCa().cert, tenants) as Record<string, any>;
    cfg.tenants[SUBJ].templates = { 'call.missed': { subject: 'Custom: missed {{caller.number}} for {{recipient.extension}}' } };
    cfg.tenants[TRIPLE].templates = { 'voicemail.received': { subject: 'Triple {{caller.number}}', html: '<p>Hi {{{caller.name}}}</p>' } };
    cfg.tenants[AMP].templates = { 'voicemail.received': { html: '<p>Hi {{& caller.name}}</p>' } };
    await harness.start(cfg);
    defaults = {};
    // Reference mail rendered with the defaults alone, for comparison.
    for (const e of [missed(PLAIN, {}, { caller: { number: '+15550122' } }), voicemail(PLAIN)]) defaults[e.type] = await deliver(e);
  });

  after(() => harness.dispose());

  const deliver = (e: Record<string, any>): Promise<ReceivedMail> => harness.deliver(server, e);

  const html = (m: ReceivedMail) => String(m.parsed.html || '');
  /** Entities Handlebars uses besides &lt; &gt; &amp;, folded to one spelling so assertions read plainly. */
  const unquote = (h: string) => h.replace(/&#x3D;/g, '=').replace(/&(quot|#x22|#34);/g, '"').replace(/&(#x27|#39);/g, "'").replace(/&#x60;/g, '`');

  /** The body with the per-event bits (event id, Message-ID) that legitimately differ removed. */
  const normal = (s: string, e: Record<string, any>) => s.split(e.id).join('ID');

  it('caller name and transcript with HTML are escaped in the html part (never markup)', async () => {
    const e = voicemail(PLAIN, {}, { caller: { number: '+15550100', name: XSS_NAME }, transcript: XSS_TRANSCRIPT });
    const m = await deliver(e);
    const h = unquote(html(m));
    expect(h).to.not.match(/<script/i);
    expect(h).to.not.match(/<img[^>]*onerror/i);
    expect(h).to.not.match(/<a [^>]*javascript:/i);
    expect(h).to.not.contain('<b>bold</b>');
    expect(h).to.not.contain('</blockquote><a');
    expect(h).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(h).to.contain('&lt;img src=x onerror=1&gt;');
    expect(h).to.contain('&lt;a href="javascript:alert(2)"&gt;click&lt;/a&gt;');
    expect(h).to.contain(`&amp; "quote" 'apos' &lt;b&gt;bold&lt;/b&gt;`);
    // The text part carries the same words as plain text, and the subject names the caller as text.
    expect(m.parsed.text).to.contain('<script>alert(1)</script>');
    expect(m.parsed.subject).to.contain('<script>alert(1)</script>');
  });

  it("a tenant subject override applies; its text and html parts stay the defaults", async () => {
    const e = missed(SUBJ, {}, { caller: { number: '+15550122' } });
    const m = await deliver(e);
    expect(m.parsed.subject).to.equal('Custom: missed +15550122 for 203');
    const ref = defaults['call.missed']!;
    expect(m.parsed.subject).to.not.equal(ref.parsed.subject);
    // Same default body as another tenant's mail for the same data, tenant names aside.
    // The subject also appears as the html <title>: that is the override showing, not the body.
    const strip = (s: string, t: string, ev: Record<string, any>) => normal(s, ev).split(t).join('TENANT').replace(/<title>[^<]*<\/title>/, '<title/>');
    expect(strip(m.parsed.text ?? '', SUBJ, e)).to.equal(strip(ref.parsed.text ?? '', PLAIN, { id: ref.parsed.headers.get('x-pbx-event-id') }));
    expect(strip(html(m), SUBJ, e)).to.equal(strip(html(ref), PLAIN, { id: ref.parsed.headers.get('x-pbx-event-id') }));
  });

  it('a tenant html template with triple-stash is refused at render: default html used, mail sent, TEMPLATE_INVALID logged', async () => {
    const e = voicemail(TRIPLE, {}, { caller: { number: '+15550100', name: XSS_NAME } });
    const m = await deliver(e);
    const h = html(m);
    expect(h).to.not.match(/<script/i);
    expect(h).to.not.contain('<p>Hi ');
    expect(h).to.contain('&lt;script&gt;');
    // The tenant's valid subject part still applies: refusal is part by part.
    expect(m.parsed.subject).to.equal('Triple +15550100');
    const warns = harness.host.logs.filter((l) => l.level === 'warn' && l.fields?.code === 'TEMPLATE_INVALID' && l.fields?.tenant === TRIPLE);
    expect(warns).to.have.length(1);
    expect(String(warns[0]!.fields!.template)).to.contain('voicemail.received');
    expect(String(warns[0]!.fields!.template)).to.contain('html');
    // Logged once per template, not once per mail.
    await deliver(voicemail(TRIPLE));
    expect(harness.host.logs.filter((l) => l.fields?.code === 'TEMPLATE_INVALID' && l.fields?.tenant === TRIPLE)).to.have.length(1);
  });

  it('the {{& x}} form of unescaped output is refused the same way', async () => {
    const e = voicemail(AMP, {}, { caller: { number: '+15550100', name: XSS_NAME } });
    const m = await deliver(e);
    expect(html(m)).to.not.match(/<script/i);
    expect(html(m)).to.not.contain('<p>Hi ');
    expect(harness.host.logs.filter((l) => l.level === 'warn' && l.fields?.code === 'TEMPLATE_INVALID' && l.fields?.tenant === AMP)).to.have.length(1);
  });
});
