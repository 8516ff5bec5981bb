import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Renderer, type RenderedMail } from '../../src/templates';
import { rec, recordingLog, tenant, TEMPLATES_ROOT } from './fixtures';

/**
 * The default mails as a recipient reads them, in every language: times with their zone,
 * attachment names in the reader's time, a greeting without the extension number, the
 * mailbox folder in words, plural units and one way of writing a duration.
 */
const LANGS = ['en', 'de', 'fr', 'es'] as const;
type Lang = (typeof LANGS)[number];
const T = 'a.example.com';
/** 22:36:20 in Berlin. */
const AT = '2026-12-01T21:36:20Z';
const CALLER = { number: '+493012345678', name: 'Bob Caller' };

function recipient(lang: Lang, over: Record<string, unknown> = {}) {
  return { extension: '201', email: [`alice@${T}`], language: lang, timeZone: 'Europe/Berlin', ...over };
}

function voicemail(lang: Lang, data: Record<string, unknown> = {}, who: Record<string, unknown> = {}) {
  return {
    id: 'vm-1', type: 'voicemail.received', tenant: T, occurredAt: AT,
    data: { recipient: recipient(lang, who), caller: CALLER, durationSeconds: 47, messageNumber: 3, folder: 'INBOX', recording: { path: '/var/spool/vm/msg0003.wav', contentType: 'audio/wav' }, ...data },
  };
}

function fax(lang: Lang, data: Record<string, unknown> = {}, who: Record<string, unknown> = {}) {
  return {
    id: 'fax-1', type: 'fax.received', tenant: T, occurredAt: AT,
    data: { recipient: recipient(lang, who), caller: { number: CALLER.number }, pages: 1, status: 'received', document: { path: '/var/spool/fax/1.pdf', contentType: 'application/pdf' }, ...data },
  };
}

function missed(lang: Lang, data: Record<string, unknown> = {}, who: Record<string, unknown> = {}) {
  return { id: 'mc-1', type: 'call.missed', tenant: T, occurredAt: AT, data: { recipient: recipient(lang, who), caller: { number: CALLER.number }, ringSeconds: 24, queue: 'Support', ...data } };
}

/** The details table of an HTML part, one `label: value` a row, as the HTML has them (escaped). */
function rows(html: string): string[] {
  return [...html.matchAll(/<td class="label"[^>]*>([^<]*)<\/td><td class="value"[^>]*>([^<]*)<\/td>/g)].map((m) => `${m[1]}: ${m[2]}`);
}

/** The HTML paragraph after the heading, its markup removed. */
function intro(html: string): string {
  const h1 = html.indexOf('</h1>');
  const p = /<p[^>]*>([\s\S]*?)<\/p>/.exec(html.slice(h1))!;
  return p[1]!.replace(/<[^>]+>/g, '');
}

/** The HTML notes (the attachment sentence), markup removed. */
function notes(html: string): string[] {
  return [...html.matchAll(/<p class="note"[^>]*>([\s\S]*?)<\/p>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ''));
}

const VOICEMAIL: Record<Lang, { subject: string; text: string; rows: string[]; intro: string; note: string }> = {
  en: {
    subject: 'New voicemail from Bob Caller (0:47)',
    text: 'Hello,\n\nyou have a new voicemail.\n\nFrom:      Bob Caller (030\u00a012345678)\nReceived:  Tuesday, December 1, 2026 at 10:36\u00a0PM\u00a0GMT+1\nLength:    0:47\nMailbox:   Message 3, Inbox\n\nThe recording is attached (voicemail-20261201-223620-493012345678.wav, 481.4\u00a0kB).\n',
    rows: ['From: Bob Caller (030\u00a012345678)', 'Received: Tuesday, December 1, 2026 at 10:36\u00a0PM\u00a0GMT+1', 'Length: 0:47', 'Mailbox: Message 3, Inbox'],
    intro: 'Hello, you have a new voicemail from Bob Caller (030\u00a012345678).',
    note: 'The recording is attached: voicemail-20261201-223620-493012345678.wav (481.4\u00a0kB).',
  },
  de: {
    subject: 'Neue Sprachnachricht von Bob Caller (0:47)',
    text: 'Hallo,\n\nSie haben eine neue Sprachnachricht.\n\nVon:          Bob Caller (030\u00a012345678)\nEingegangen:  Dienstag, 1. Dezember 2026 um 22:36\u00a0MEZ\nLänge:        0:47\nMailbox:      Nachricht 3, Posteingang\n\nDie Aufnahme ist angehängt (voicemail-20261201-223620-493012345678.wav, 481,4\u00a0kB).\n',
    rows: ['Von: Bob Caller (030\u00a012345678)', 'Eingegangen: Dienstag, 1. Dezember 2026 um 22:36\u00a0MEZ', 'Länge: 0:47', 'Mailbox: Nachricht 3, Posteingang'],
    intro: 'Hallo, Sie haben eine neue Sprachnachricht von Bob Caller (030\u00a012345678).',
    note: 'Die Aufnahme ist angehängt: voicemail-20261201-223620-493012345678.wav (481,4\u00a0kB).',
  },
  fr: {
    subject: 'Nouveau message vocal de Bob Caller (0:47)',
    text: 'Bonjour,\n\nvous avez reçu un nouveau message vocal.\n\nDe :         Bob Caller (030\u00a012345678)\nReçu le :    mardi 1 décembre 2026 à 22:36\u00a0UTC+1\nDurée :      0:47\nMessagerie : Message 3, Boîte de réception\n\nL’enregistrement est joint (voicemail-20261201-223620-493012345678.wav, 481,4\u202fko).\n',
    rows: ['De: Bob Caller (030\u00a012345678)', 'Reçu le: mardi 1 décembre 2026 à 22:36\u00a0UTC+1', 'Durée: 0:47', 'Messagerie: Message 3, Boîte de réception'],
    intro: 'Bonjour, vous avez reçu un nouveau message vocal de Bob Caller (030\u00a012345678).',
    note: 'L’enregistrement est joint : voicemail-20261201-223620-493012345678.wav (481,4\u202fko).',
  },
  es: {
    subject: 'Nuevo mensaje de voz de Bob Caller (0:47)',
    text: 'Hola:\n\ntiene un nuevo mensaje de voz.\n\nDe:         Bob Caller (030\u00a012345678)\nRecibido:   martes, 1 de diciembre de 2026, 22:36\u00a0CET\nDuración:   0:47\nBuzón:      Mensaje 3, Bandeja de entrada\n\nLa grabación va adjunta (voicemail-20261201-223620-493012345678.wav, 481,4\u00a0kB).\n',
    rows: ['De: Bob Caller (030\u00a012345678)', 'Recibido: martes, 1 de diciembre de 2026, 22:36\u00a0CET', 'Duración: 0:47', 'Buzón: Mensaje 3, Bandeja de entrada'],
    intro: 'Hola: tiene un nuevo mensaje de voz de Bob Caller (030\u00a012345678).',
    note: 'La grabación va adjunta: voicemail-20261201-223620-493012345678.wav (481,4\u00a0kB).',
  },
};

describe('templates: the default mails without rough edges', () => {
  let renderer: Renderer;
  beforeEach(() => (renderer = new Renderer(TEMPLATES_ROOT, recordingLog().log)));
  afterEach(() => renderer.dispose());

  const render = (ev: Record<string, any>, bytes = 493_000, over: Record<string, unknown> = {}): RenderedMail => renderer.render(rec(ev, bytes), tenant(T, { country: 'DE', ...over }));

  for (const lang of LANGS) {
    describe(lang, () => {
      it('times carry the zone: subject, text and HTML of the whole voicemail mail', () => {
        const m = render(voicemail(lang));
        const want = VOICEMAIL[lang];
        expect(m.language).to.equal(lang);
        expect(m.subject).to.equal(want.subject);
        expect(m.text).to.equal(want.text);
        expect(rows(m.html)).to.deep.equal(want.rows);
        expect(intro(m.html)).to.equal(want.intro);
        expect(notes(m.html)).to.deep.equal([want.note]);
        const zones: Record<Lang, [string, string]> = {
          en: ['Tuesday, December 1, 2026 at 9:36\u00a0PM\u00a0UTC', 'Tuesday, December 1, 2026 at 4:36\u00a0PM\u00a0EST'],
          de: ['Dienstag, 1. Dezember 2026 um 21:36\u00a0UTC', 'Dienstag, 1. Dezember 2026 um 16:36\u00a0GMT-5'],
          fr: ['mardi 1 décembre 2026 à 21:36\u00a0UTC', 'mardi 1 décembre 2026 à 16:36\u00a0UTC\u22125'],
          es: ['martes, 1 de diciembre de 2026, 21:36\u00a0UTC', 'martes, 1 de diciembre de 2026, 16:36\u00a0GMT-5'],
        };
        const [utc, newYork] = zones[lang];
        expect(rows(render(voicemail(lang, {}, { timeZone: undefined })).html)[1]).to.equal(`${want.rows[1]!.split(': ')[0]}: ${utc}`);
        expect(rows(render(voicemail(lang, {}, { timeZone: 'America/New_York' })).html)[1]).to.equal(`${want.rows[1]!.split(': ')[0]}: ${newYork}`);
      });

      it("names the attachment in the reader's time, as the body shows it", () => {
        const berlin = 'voicemail-20261201-223620-493012345678.wav';
        const m = render(voicemail(lang));
        expect(m.text).to.contain(`(${berlin}, `);
        expect(m.html).to.contain(`<strong>${berlin}</strong>`);
        // No zone of the recipient's own: the tenant's, as for the times in the body.
        const ny = render(voicemail(lang, {}, { timeZone: undefined }), 493_000, { timeZone: 'America/New_York' });
        expect(ny.text).to.contain('(voicemail-20261201-163620-493012345678.wav, ');
        expect(ny.html).to.contain('<strong>voicemail-20261201-163620-493012345678.wav</strong>');
        const f = render(fax(lang));
        expect(f.html).to.contain('<strong>fax-20261201-223620-493012345678.pdf</strong>');
      });

      it('greets without the extension number when the recipient has no name, and by name when it has one', () => {
        const greeting: Record<Lang, [string, string, string, string]> = {
          // text without a name, text with one, HTML start without, HTML start with
          en: ['Hello,', 'Hello Anna Example,', 'Hello, you', 'Hello Anna Example, you'],
          de: ['Hallo,', 'Hallo Anna Example,', 'Hallo, Sie', 'Hallo Anna Example, Sie'],
          fr: ['Bonjour,', 'Bonjour Anna Example,', 'Bonjour, vous', 'Bonjour Anna Example, vous'],
          es: ['Hola:', 'Hola, Anna Example:', 'Hola: tiene', 'Hola, Anna Example: tiene'],
        };
        const [plain, named, htmlPlain, htmlNamed] = greeting[lang];
        for (const make of [voicemail, missed]) {
          const anonymous = render(make(lang, {}, { extension: '7077' }));
          expect(anonymous.text.split('\n')[0], make.name).to.equal(plain);
          expect(intro(anonymous.html).startsWith(`${htmlPlain} `), intro(anonymous.html)).to.equal(true);
          expect(anonymous.text + anonymous.html).to.not.contain('7077');
          const withName = render(make(lang, {}, { name: 'Anna Example' }));
          expect(withName.text.split('\n')[0]).to.equal(named);
          expect(intro(withName.html).startsWith(`${htmlNamed} `), intro(withName.html)).to.equal(true);
        }
        const f = render(fax(lang));
        expect(f.text.split('\n')[0]).to.equal(plain);
        expect(intro(f.html).startsWith(plain.slice(0, -1))).to.equal(true);
      });

      it("writes the message number in words and translates the PBX's folder names; others are shown neutralised", () => {
        const words: Record<Lang, { label: string; message: string; folders: string[] }> = {
          en: { label: 'Mailbox', message: 'Message', folders: ['Inbox', 'Old messages', 'Work', 'Family', 'Friends', 'Urgent', 'Deleted', 'Inbox'] },
          de: { label: 'Mailbox', message: 'Nachricht', folders: ['Posteingang', 'Alte Nachrichten', 'Arbeit', 'Familie', 'Freunde', 'Dringend', 'Gelöscht', 'Posteingang'] },
          fr: { label: 'Messagerie', message: 'Message', folders: ['Boîte de réception', 'Anciens messages', 'Travail', 'Famille', 'Amis', 'Urgent', 'Supprimés', 'Boîte de réception'] },
          es: { label: 'Buzón', message: 'Mensaje', folders: ['Bandeja de entrada', 'Mensajes antiguos', 'Trabajo', 'Familia', 'Amigos', 'Urgente', 'Eliminados', 'Bandeja de entrada'] },
        };
        const w = words[lang];
        const row = (m: RenderedMail) => rows(m.html).find((r) => r.startsWith(`${w.label}: `));
        const line = (m: RenderedMail) => m.text.split('\n').find((l) => l.startsWith(w.label));
        ['INBOX', 'Old', 'Work', 'Family', 'Friends', 'Urgent', 'Deleted', 'inbox'].forEach((folder, i) => {
          expect(row(render(voicemail(lang, { folder, messageNumber: 12 })))).to.equal(`${w.label}: ${w.message} 12, ${w.folders[i]}`);
        });
        const odd = render(voicemail(lang, { folder: 'Kunden <b>\u0007\u202eX\r\nY' }));
        expect(row(odd)).to.equal(`${w.label}: ${w.message} 3, Kunden &lt;b&gt;X Y`);
        expect(line(odd)).to.match(new RegExp(`^${w.label} ?: +${w.message} 3, Kunden <b>X Y$`));
        expect(row(render(voicemail(lang, { messageNumber: undefined })))).to.equal(`${w.label}: ${w.folders[0]}`);
        expect(row(render(voicemail(lang, { folder: undefined })))).to.equal(`${w.label}: ${w.message} 3`);
        const none = render(voicemail(lang, { folder: undefined, messageNumber: undefined }));
        expect(row(none)).to.equal(undefined);
        expect(line(none)).to.equal(undefined);
        expect(odd.text + odd.html).to.not.contain('#3');
      });

      it('writes every unit with its plural form: bytes and pages', () => {
        const units: Record<Lang, { one: string; many: string; page: string; pages: string }> = {
          en: { one: '1\u00a0byte', many: '578\u00a0bytes', page: '(1 page)', pages: '(2 pages)' },
          de: { one: '1\u00a0Byte', many: '578\u00a0Byte', page: '(1 Seite)', pages: '(2 Seiten)' },
          fr: { one: '1\u00a0octet', many: '578\u00a0octets', page: '(1 page)', pages: '(2 pages)' },
          es: { one: '1\u00a0byte', many: '578\u00a0bytes', page: '(1 página)', pages: '(2 páginas)' },
        };
        const u = units[lang];
        const many = render(fax(lang), 578);
        expect(many.subject.endsWith(u.page), many.subject).to.equal(true);
        expect(many.text).to.contain(`(fax-20261201-223620-493012345678.pdf, ${u.many}).`);
        expect(notes(many.html)[0]).to.contain(`fax-20261201-223620-493012345678.pdf (${u.many}).`);
        const one = render(fax(lang, { pages: 2 }), 1);
        expect(one.subject.endsWith(u.pages), one.subject).to.equal(true);
        expect(one.text).to.contain(`(fax-20261201-223620-493012345678.pdf, ${u.one}).`);
        expect(notes(one.html)[0]).to.contain(`fax-20261201-223620-493012345678.pdf (${u.one}).`);
        // The long duration a tenant template may ask for has its plural forms too.
        const own = render(voicemail(lang, { durationSeconds: 61 }), 0, { templates: { 'voicemail.received': { subject: '{{duration voicemail.durationSeconds style="long"}} | {{duration 2 style="long"}}' } } });
        const long: Record<Lang, string> = { en: '1 minute, 1 second | 2 seconds', de: '1 Minute, 1 Sekunde | 2 Sekunden', fr: '1 minute et 1 seconde | 2 secondes', es: '1 minuto y 1 segundo | 2 segundos' };
        expect(own.subject.replace(/\u00a0/g, ' ')).to.equal(long[lang]);
      });

      it('writes a duration one way, m:ss, in subject, text and HTML', () => {
        const m = render(voicemail(lang));
        const [length] = VOICEMAIL[lang].rows[2]!.split(': ');
        expect(m.subject.endsWith(' (0:47)')).to.equal(true);
        expect(m.text).to.match(new RegExp(`\\n${length} ?: +0:47\\n`));
        expect(rows(m.html)[2]).to.equal(`${length}: 0:47`);
        const long = render(voicemail(lang, { durationSeconds: 3725 }));
        expect(long.subject.endsWith(' (1:02:05)')).to.equal(true);
        expect(rows(long.html)[2]).to.equal(`${length}: 1:02:05`);
        const ring: Record<Lang, [string, string]> = { en: ['Rang for:  0:24', 'Rang for: 0:24'], de: ['Klingeldauer:   0:24', 'Klingeldauer: 0:24'], fr: ['Durée de sonnerie : 0:24', 'Durée de sonnerie: 0:24'], es: ['Sonó durante:        0:24', 'Sonó durante: 0:24'] };
        const call = render(missed(lang));
        expect(call.text.split('\n')).to.include(ring[lang][0]);
        expect(rows(call.html)).to.include(ring[lang][1]);
      });

      it('a text part made from HTML reads `Label: value` a row', () => {
        const html = fs.readFileSync(path.join(TEMPLATES_ROOT, lang, 'voicemail.received.html.hbs'), 'utf8');
        const m = render(voicemail(lang), 493_000, { templates: { 'voicemail.received': { html } } });
        const lines = m.text.split('\n');
        const at = lines.indexOf(VOICEMAIL[lang].rows[0]!);
        expect(at, m.text).to.be.greaterThan(0);
        expect(lines.slice(at, at + 4)).to.deep.equal(VOICEMAIL[lang].rows);
        expect(lines[at + 4]).to.equal('');
        // A label that has its colon already gets no second one; cells without a label stay as they are.
        const own = render(missed(lang), 0, { templates: { 'call.missed': { html: '<table><tr><td>Zeit:</td><td>{{when}}</td></tr><tr><td>{{call.queue}}</td></tr></table>' } } });
        expect(own.text).to.equal(`PBX\n\nZeit: ${VOICEMAIL[lang].rows[1]!.split(': ')[1]}\n\nSupport\n\n${own.text.split('\n\n').at(-1)}`);
      });
    });
  }
});
