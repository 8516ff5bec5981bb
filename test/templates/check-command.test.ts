import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { partialBomb } from './fixtures';

const ROOT = path.join(__dirname, '../..');

/** Runs `npm run templates -- …` as an operator would, in a child process. */
function templates(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/templates.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('templates: the check command', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-check-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const writeConfig = (tenants: Record<string, any>) => {
    const file = path.join(dir, 'config.json');
    const full: Record<string, any> = {};
    for (const [id, t] of Object.entries(tenants)) full[id] = { from: `PBX <pbx@${id}>`, smtp: { host: 'smtp.invalid' }, ...t };
    fs.writeFileSync(file, JSON.stringify({ tenants: full }));
    return file;
  };

  it('passes the default templates and a clean tenant', () => {
    const config = writeConfig({ 'ok.example.com': { templates: { 'call.missed': { subject: 'Call from {{phone caller.number}} at {{time event.occurredAt}}', text: 't', html: '<p>{{#each recipient.email}}{{this}}{{/each}}</p>' } } } });
    const r = templates('check', '--config', config);
    expect(r.out).to.contain('0 errors');
    expect(r.code).to.equal(0);
  });

  it('reports syntax errors with line and column, unknown variables, unknown files and missing parts, and exits 1', () => {
    const tdir = path.join(dir, 'acme');
    fs.mkdirSync(path.join(tdir, 'de'), { recursive: true });
    fs.writeFileSync(path.join(tdir, 'de', 'call.missed.subject.hbs'), 'Anruf von {{calller.name}}');
    fs.writeFileSync(path.join(tdir, 'call.missed.html.hbs'), '<p>\n  {{caller.name}\n</p>');
    fs.writeFileSync(path.join(tdir, 'voicemial.received.text.hbs'), 'typo in the file name');
    const config = writeConfig({
      'acme.example.com': {
        templatesDir: tdir,
        templates: { 'fax.received': { subject: 'Fax {{{caller.name}}}' }, 'voicemail.received': { html: '<p>{{voicemail.transcript}} {{fax.pages}}</p>' } },
      },
      'other.example.com': {},
    });
    const r = templates('check', '--config', config, '--tenant', 'acme.example.com');
    expect(r.code).to.equal(1);
    expect(r.out).to.contain(`${tdir}/call.missed.html.hbs:2:`);
    expect(r.out).to.contain(`${tdir}/call.missed.html.hbs:2:12: error: syntax error: unexpected "}" (a tag is not closed with }})`);
    expect(r.out).to.contain(`${tdir}/de/call.missed.subject.hbs:1:13: error: unknown variable "calller.name" (not in the call.missed context)`);
    expect(r.out).to.contain('tenants/acme.example.com/templates/voicemail.received/html:1:31: error: unknown variable "fax.pages"');
    expect(r.out).to.contain('tenants/acme.example.com/templates/fax.received/subject:1:5: error: unescaped output');
    expect(r.out).to.contain('voicemial.received.text.hbs: error: unknown event type "voicemial.received"');
    expect(r.out).to.contain("tenants/acme.example.com: voicemail.received: warning: missing part: text; the mail's text is made from its HTML, the tenant's language-neutral html (tenants/acme.example.com/templates/voicemail.received/html)");
    expect(r.out).to.match(/\b[5-9] errors\b/);
  });

  it('names, for each missing tenant part, the part the renderer really uses: the same as preview renders', function () {
    // Several CLI processes one after another, each compiling on start: minutes on a loaded 2-core machine is a hang, seconds are not.
    this.timeout(120_000);
    const T = 'lang.example.com';
    const config = writeConfig({
      [T]: {
        templates: {
          'call.missed': { html: '<p>Missed: {{caller.display}}</p>', languages: { de: { subject: 'Anruf von {{caller.display}}' }, 'de-at': { text: 'Servus {{caller.display}}' } } },
          'voicemail.received': { languages: { it: { subject: 'Messaggio da {{caller.display}}' } } },
        },
      },
    });
    const r = templates('check', '--config', config);
    expect(r.code, r.out).to.equal(0);
    const cfg = `tenants/${T}/templates/call.missed`;
    expect(r.out.split('\n').filter((l) => l.startsWith(`tenants/${T}:`))).to.deep.equal([
      `tenants/${T}: voicemail.received (it): warning: missing part: text; the mail uses the English default text`,
      `tenants/${T}: voicemail.received (it): warning: missing part: html; the mail uses the English default html`,
      `tenants/${T}: call.missed: warning: missing part: subject; the mail uses the default subject in its language`,
      `tenants/${T}: call.missed: warning: missing part: text; the mail's text is made from its HTML, the tenant's language-neutral html (${cfg}/html)`,
      `tenants/${T}: call.missed (de): warning: missing part: text; the mail's text is made from its HTML, the tenant's language-neutral html (${cfg}/html)`,
      `tenants/${T}: call.missed (de): warning: missing part: html; the mail uses the tenant's language-neutral html (${cfg}/html)`,
      `tenants/${T}: call.missed (de-at): warning: missing part: subject; the mail uses the tenant's de subject (${cfg}/languages/de/subject)`,
      `tenants/${T}: call.missed (de-at): warning: missing part: html; the mail uses the tenant's language-neutral html (${cfg}/html)`,
    ]);

    // What preview renders (the renderer itself) for those languages is what check said.
    const mail = (type: string, lang: string) => {
      const p = templates('preview', '--tenant', T, '--event', type, '--lang', lang, '--config', config, '--out', dir, '--no-screenshot');
      expect(p.code, p.out).to.equal(0);
      const base = path.join(dir, `${T}.${type}.${lang}`);
      const txt = fs.readFileSync(`${base}.txt`, 'utf8');
      const end = txt.indexOf('\n\n');
      return { subject: txt.slice(0, txt.indexOf('\n')), text: txt.slice(end + 2), html: fs.readFileSync(`${base}.html`, 'utf8') };
    };
    const dave = 'Dave Caller (+49\u00a030\u00a098765432)';
    const de = mail('call.missed', 'de');
    expect(de.subject).to.equal('Subject: Anruf von Dave Caller (+49 30 98765432)');
    expect(de.html).to.contain(`>Missed: ${dave}</p>`);
    expect(de.text).to.equal(`PBX\n\nMissed: ${dave}\n\nDiese Nachricht wurde automatisch von PBX verschickt. Bitte antworten Sie\nnicht darauf.\n`);
    const at = mail('call.missed', 'de-at');
    expect(at.subject).to.equal('Subject: Anruf von Dave Caller (+49 30 98765432)');
    expect(at.html).to.contain(`>Missed: ${dave}</p>`);
    expect(at.text).to.equal(`Servus ${dave}\n`);
    const it = mail('voicemail.received', 'it');
    expect(it.subject).to.equal('Subject: Messaggio da Bob Caller (+49 30 12345678)');
    expect(it.html).to.contain('>New voicemail</h1>');
    expect(it.text).to.match(/^Hello Alice Example,\n\nyou have a new voicemail\.\n/);
  });

  it('exits 2 on a config that does not validate, naming the problem', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ tenants: { 'x.example.com': { brand: { accentColor: 'red' } } } }));
    const r = templates('check', '--config', file);
    expect(r.code).to.equal(2);
    expect(r.out).to.contain('CONFIG_INVALID');
    expect(r.out).to.contain('accentColor');
  });

  it('says clearly that {{duration}} is a helper, not a variable, and reports every problem of a file with line and column', () => {
    const config = writeConfig({
      'acme.example.com': {
        templates: {
          'voicemail.received': { subject: 'Voicemail ({{duration}})' },
          'call.missed': { html: '<p>{{{caller.name}}}</p>\n<p>{{log caller.number}}</p>\n  <p>{{calller.name}} {{date}}</p>' },
        },
      },
    });
    const r = templates('check', '--config', config);
    expect(r.code).to.equal(1);
    expect(r.out).to.not.contain('TypeError');
    expect(r.out).to.not.contain('Cannot read');
    expect(r.out).to.contain('tenants/acme.example.com/templates/voicemail.received/subject:1:12: error: "duration" is a helper, not a variable: give it a value, e.g. {{duration voicemail.durationSeconds}}');
    const html = 'tenants/acme.example.com/templates/call.missed/html';
    expect(r.out).to.contain(`${html}:1:4: error: unescaped output`);
    expect(r.out).to.contain(`${html}:2:4: error: "log" is not an allowed helper`);
    expect(r.out).to.contain(`${html}:3:8: error: unknown variable "calller.name"`);
    expect(r.out).to.contain(`${html}:3:23: error: "date" is a helper, not a variable`);
  });

  it('renders on the render budget: a partial bomb and a loop no cap counts are errors naming the limit, and check ends', () => {
    // Every key of the context, 8 deep: billions of iterations on any data, and no partial call.
    const loop = `${'{{#each @root}}'.repeat(8)}${'{{/each}}'.repeat(8)}`;
    const config = writeConfig({
      'bomb.example.com': { partials: partialBomb(), templates: { 'call.missed': { html: '<p>{{> p8}}</p>' } } },
      'loop.example.com': { templates: { 'call.missed': { html: loop } } },
    });
    const file = JSON.parse(fs.readFileSync(config, 'utf8'));
    file.delivery = { renderTimeoutMs: 300 };
    fs.writeFileSync(config, JSON.stringify(file));
    const r = templates('check', '--config', config);
    expect(r.code, r.out).to.equal(1);
    expect(r.out).to.contain('tenants/bomb.example.com/templates/call.missed/html: error: over the limit of 1000 partial calls per part');
    expect(r.out).to.contain('tenants/loop.example.com/templates/call.missed/html: error: over the render time limit of 300 ms (delivery.renderTimeoutMs)');
  });
});
