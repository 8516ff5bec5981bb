import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const PWNED = path.join(os.tmpdir(), `pbx-gadget-pwned-${process.pid}`);

/** Handlebars gadgets a hostile tenant admin might try: prototype walks, lookup chains, the classic RCE chain. */
const GADGETS = [
  '{{constructor}}',
  '{{constructor.constructor}}',
  '{{this.constructor.constructor.name}}',
  '{{__proto__}}',
  '{{__proto__.constructor}}',
  '{{caller.__proto__.constructor.name}}',
  '{{recipient.email.constructor.name}}',
  '{{lookup this "constructor"}}',
  '{{lookup (lookup this "constructor") "constructor"}}',
  '{{lookup caller "__proto__"}}',
  '{{#with (lookup this "__proto__")}}{{constructor}}{{toString}}{{/with}}',
  '{{#each constructor}}{{this}}{{/each}}',
  '{{toString}}{{valueOf}}{{hasOwnProperty "x"}}{{__defineGetter__ "x" 1}}{{__lookupGetter__ "x"}}',
  `{{#with "s" as |string|}}{{#with "e"}}{{#with split as |conslist|}}{{this.pop}}{{this.push (lookup string.sub "constructor")}}{{this.pop}}{{#with string.split as |codelist|}}{{this.pop}}{{this.push "return require('fs').writeFileSync('${PWNED}', 'x');"}}{{this.pop}}{{#each conslist}}{{#with (string.sub.apply 0 codelist)}}{{this}}{{/with}}{{/each}}{{/with}}{{/with}}{{/with}}{{/with}}`,
  '{{#with this as |o|}}{{#with o.__proto__ as |p|}}{{p.polluted}}{{/with}}{{/with}}',
  '{{> ../../../../etc/passwd}}',
];

describe('Handlebars gadgets in tenant templates render nothing and crash nothing', () => {
  let smtp: TestSmtp;
  const h = new Harness();

  before(async () => {
    fs.rmSync(PWNED, { force: true });
    const ca = testCa();
    smtp = await h.smtp();
    const servers: Record<string, { port: number }> = {};
    GADGETS.forEach((_, i) => (servers[`g${i}.example.com`] = { port: smtp.port }));
    const cfg = tenantConfig(ca.cert, servers, { delivery: { concurrency: { perTenant: 2, global: 8 }, retry: { initialDelayMs: 200, maxDelayMs: 1000 }, messageTimeoutMs: 8000 } });
    GADGETS.forEach((g, i) => {
      cfg.tenants[`g${i}.example.com`].templates = { 'call.missed': { subject: `Missed BEGIN${g}END`, text: `Text BEGIN${g}END\n`, html: `<p>Html BEGIN${g}END</p>` } };
    });
    await h.start(cfg);
  });

  after(async () => {
    await h.dispose();
    fs.rmSync(PWNED, { force: true });
  });

  it('every gadget’s mail goes out, with no function source, object dump or prototype in it, and no code ran', async () => {
    for (let i = 0; i < GADGETS.length; i++) await h.host.send(missed(`g${i}.example.com`));
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === GADGETS.length, 30_000);
    expect(smtp.mails).to.have.length(GADGETS.length);
    for (const m of smtp.mails) {
      const parts = [m.parsed.subject ?? '', m.parsed.text ?? '', String(m.parsed.html ?? '')];
      for (const p of parts) {
        expect(p, p).to.not.match(/function|native code|\[object|Object|Function|String|Array|prototype|root:x:0/);
        // What lies between the markers (when the tenant part was used at all) is empty.
        const inner = /BEGIN([\s\S]*?)END/.exec(p)?.[1];
        if (inner !== undefined) expect(inner.trim(), `${m.to}: ${inner}`).to.equal('');
      }
    }
    // Most gadgets compile and render (to nothing); the rest are refused and fall back to the default, logged.
    const used = smtp.mails.filter((m) => (m.parsed.text ?? '').includes('BEGIN')).length;
    expect(used).to.be.at.least(GADGETS.length - 4);
    // Per gadget: used and silent, or refused with one coded warning for each of its three parts.
    GADGETS.forEach((g, i) => {
      const tenant = `g${i}.example.com`;
      const mails = smtp.mails.filter((m) => m.to[0] === `bob@${tenant}`);
      expect(mails, g).to.have.length(1);
      const warns = h.host.logs.filter((l) => l.level === 'warn' && l.fields?.tenant === tenant);
      if ((mails[0]!.parsed.text ?? '').includes('BEGIN')) expect(warns, g).to.deep.equal([]);
      else {
        expect(warns.map((w) => String(w.fields!.template).split('/').pop()).sort(), g).to.deep.equal(['html', 'subject', 'text']);
        for (const w of warns) expect(w.fields!.code, g).to.equal('TEMPLATE_INVALID');
      }
    });
    expect(fs.existsSync(PWNED)).to.equal(false);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'x')).to.equal(false);
  });
});
