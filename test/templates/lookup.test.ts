import { expect } from 'chai';
import { Renderer } from '../../src/templates';
import { missed, voicemail, fax } from '../helpers/events';
import { rec, recordingLog, tenant, TEMPLATES_ROOT } from './fixtures';

describe('templates: lookup, languages and the finished mail', () => {
  let renderer: Renderer;
  let logs: ReturnType<typeof recordingLog>;

  beforeEach(() => {
    logs = recordingLog();
    renderer = new Renderer(TEMPLATES_ROOT, logs.log);
  });
  afterEach(() => renderer.dispose());

  it('writes German with Berlin time for a recipient with language de and zone Europe/Berlin', () => {
    const ev = voicemail('a.example.com', {}, { recipient: { extension: '201', name: 'Anna', email: ['anna@a.example.com'], language: 'de', timeZone: 'Europe/Berlin' } });
    const m = renderer.render(rec(ev), tenant('a.example.com', { timeZone: 'America/New_York' }));
    expect(m.language).to.equal('de');
    expect(m.subject).to.equal('Neue Sprachnachricht von Bob Caller (1:05)');
    expect(m.text).to.contain('Eingegangen:  Samstag, 28. November 2026 um 13:00\u00a0MEZ\n');
    expect(m.text).to.contain('Länge:        1:05\n');
    expect(m.html).to.match(/<html lang="de"[\s>]/);
    expect(m.html).to.contain('Samstag, 28. November 2026 um 13:00\u00a0MEZ');
  });

  it('falls back: regional tag to its language, then the tenant language, unknown to English', () => {
    const with_ = (language: string | undefined, tenantLang?: string) => {
      const ev = missed('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], ...(language && { language }) } });
      return renderer.render(rec(ev), tenant('a.example.com', tenantLang ? { language: tenantLang } : {}));
    };
    expect(with_('de-AT').language).to.equal('de');
    expect(with_('fr-CA').subject).to.match(/^Appel manqué de /);
    expect(with_(undefined, 'es').subject).to.match(/^Llamada perdida de /);
    const klingon = with_('tlh');
    expect(klingon.language).to.equal('en');
    expect(klingon.subject).to.match(/^Missed call from /);
  });

  it('formats with the recipient regional conventions while writing the template language', () => {
    const ev = voicemail('a.example.com', { occurredAt: '2026-01-15T12:00:00Z' }, { recipient: { extension: '1', email: ['x@a.example.com'], language: 'de-AT', timeZone: 'Europe/Vienna' } });
    const m = renderer.render(rec(ev), tenant('a.example.com'));
    expect(m.text).to.contain('Jänner');
  });

  it('applies a subject override and leaves the other parts alone', () => {
    const ev = missed('a.example.com');
    const plain = renderer.render(rec(ev), tenant('a.example.com'));
    const t = tenant('a.example.com', { templates: { 'call.missed': { subject: 'Call from {{caller.number}} for {{recipient.extension}}' } } });
    const m = renderer.render(rec(ev), t);
    expect(m.subject).to.equal('Call from +15550122 for 203');
    expect(m.text).to.equal(plain.text);
    expect(m.html).to.equal(plain.html.replace(/<title>[^<]*<\/title>/, '<title>Call from +15550122 for 203</title>'));
  });

  it('looks each part up as tenant+language, tenant, default+language, default', () => {
    const t = tenant('a.example.com', {
      templates: {
        'call.missed': {
          subject: 'T {{caller.number}}',
          text: 'tenant text\n',
          languages: { de: { subject: 'T-de {{caller.number}}' } },
        },
      },
    });
    const de = missed('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], language: 'de' } });
    const en = missed('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], language: 'en' } });
    const mDe = renderer.render(rec(de), t);
    expect(mDe.subject).to.equal('T-de +15550122'); // tenant + language
    expect(mDe.text).to.equal('tenant text\n'); // tenant
    expect(mDe.html).to.contain('Verpasster Anruf'); // default + language
    const mEn = renderer.render(rec(en), t);
    expect(mEn.subject).to.equal('T +15550122');
    const es = missed('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], language: 'es' } });
    expect(renderer.render(rec(es), tenant('a.example.com', { templates: { 'call.missed': { languages: { de: { subject: 'only de' } } } } })).subject).to.match(/^Llamada perdida/);
  });

  it('derives the text part from the tenant HTML when the tenant gives only HTML', () => {
    const t = tenant('a.example.com', { templates: { 'fax.received': { html: '<h1>Fax für {{recipient.extension}}</h1><p>Seiten: <b>{{fax.pages}}</b></p><img src="https://x.invalid/l.png" alt="logo">' } } });
    const m = renderer.render(rec(fax('a.example.com')), t);
    expect(m.text).to.contain('Fax für 202');
    expect(m.text).to.contain('Seiten: 3');
    expect(m.text).not.to.contain('<');
    expect(m.text).not.to.contain('New fax');
  });

  it('inlines the CSS of the layout, keeping only media queries in <style>', () => {
    const m = renderer.render(rec(voicemail('a.example.com')), tenant('a.example.com'));
    expect(m.html).to.match(/<h1 style="[^"]*font-size: 20px/);
    expect(m.html).to.match(/<td class="label" style="[^"]*color: #4b5563/);
    const style = /<style>([^]*?)<\/style>/.exec(m.html)?.[1] ?? '';
    expect(style).to.contain('@media');
    expect(style).not.to.contain('.details');
  });

  it('uses the tenant brand: name, logo with alt text, accent colour, footer', () => {
    const t = tenant('a.example.com', { brand: { name: 'Acme & Co', logoUrl: 'https://cdn.example.com/logo.png', accentColor: '#b91c1c', footer: 'Support: +49 30 123' } });
    const m = renderer.render(rec(missed('a.example.com')), t);
    expect(m.html).to.contain('<img class="logo" src="https://cdn.example.com/logo.png" alt="Acme &amp; Co"');
    expect(m.html).to.contain('#b91c1c');
    expect(m.html).to.contain('Support: +49 30 123');
    const plain = renderer.render(rec(missed('a.example.com')), tenant('a.example.com'));
    expect(plain.html).to.contain('This is an automatic message from PBX.');
  });

  it('writes caller numbers nationally for the tenant country', () => {
    const ev = missed('a.example.com', {}, { caller: { number: '+493012345678', name: 'Bob' } });
    expect(renderer.render(rec(ev), tenant('a.example.com', { country: 'DE' })).text).to.contain('Bob (030\u00a012345678)');
    expect(renderer.render(rec(ev), tenant('a.example.com', { country: 'US' })).text).to.contain('Bob (+49\u00a030\u00a012345678)');
  });

  it('renders every default template in every language without falling back', () => {
    for (const language of ['en', 'de', 'fr', 'es']) {
      for (const make of [voicemail, fax, missed]) {
        const ev = make('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], language } });
        const m = renderer.render(rec(ev), tenant('a.example.com'));
        expect(m.language).to.equal(language);
        expect(m.subject.length).to.be.greaterThan(5);
        expect(m.html).to.match(new RegExp(`<html lang="${language}"[\\s>]`));
      }
    }
    expect(logs.lines.filter((l) => l.level === 'warn')).to.deep.equal([]);
  });

  it('keeps the defaults accessible: alt text on images, presentation tables, text contrast of at least 4.5:1', () => {
    const t = tenant('a.example.com', { brand: { logoUrl: 'https://cdn.example.com/l.png' } });
    for (const language of ['en', 'de', 'fr', 'es']) {
      for (const make of [voicemail, fax, missed]) {
        const ev = make('a.example.com', {}, { recipient: { extension: '1', email: ['x@a.example.com'], language } });
        const { html } = renderer.render(rec(ev), t);
        for (const img of html.match(/<img\b[^>]*>/g) ?? []) expect(img).to.match(/\balt="[^"]+"/);
        for (const table of html.match(/<table\b[^>]*>/g) ?? []) expect(table).to.contain('role="presentation"');
        const colours = [...html.matchAll(/(?<![-\w])color:\s*(#[0-9a-fA-F]{6})/g)].map((m) => m[1]!);
        expect(colours.length).to.be.greaterThan(3);
        for (const c of new Set(colours)) expect(contrast(c, '#ffffff'), c).to.be.at.least(4.5);
      }
    }
  });
});

/** WCAG 2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
