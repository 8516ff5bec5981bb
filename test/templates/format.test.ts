import { expect } from 'chai';
import { Formats, formatPhone } from '../../src/templates/format';
import { resolveLanguage } from '../../src/templates/language';

/** Intl uses no-break spaces (U+00A0, U+202F) where a reader sees a space. */
const sp = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

describe('templates: formatting helpers on Intl', () => {
  const formats = new Formats();
  const at = '2026-11-28T12:00:00Z';

  it('writes an instant in the reader zone and language, the time with the zone name or offset', () => {
    expect(formats.formatDateTime(at, { locale: 'de', timeZone: 'Europe/Berlin' })).to.equal('Samstag, 28. November 2026 um 13:00\u00a0MEZ');
    expect(formats.formatDateTime(at, { locale: 'fr', timeZone: 'Europe/Paris' })).to.equal('samedi 28 novembre 2026 à 13:00\u00a0UTC+1');
    expect(formats.formatDateTime(at, { locale: 'es', timeZone: 'America/Mexico_City' })).to.equal('sábado, 28 de noviembre de 2026, 6:00\u00a0GMT-6');
    expect(formats.formatDateTime(at, { locale: 'en', timeZone: 'America/New_York' }, 'short', 'short')).to.equal('11/28/26, 7:00\u00a0AM\u00a0EST');
    expect(formats.formatDateTime(at, { locale: 'en', timeZone: 'America/New_York' }, 'none', 'medium')).to.equal('7:00:00\u00a0AM\u00a0EST');
    expect(formats.formatDateTime(at, { locale: 'de', timeZone: 'Europe/Berlin' }, 'none', 'short', false)).to.equal('13:00');
    expect(formats.formatDateTime(at, { locale: 'de', timeZone: 'Europe/Berlin' }, 'long', 'none')).to.equal('28. November 2026');
    expect(formats.formatDateTime('not a date', { locale: 'en', timeZone: 'UTC' })).to.equal('');
  });

  it('falls back from an unknown zone to the next, then UTC', () => {
    expect(formats.pickTimeZone(['Mars/Olympus', 'Europe/Berlin'])).to.equal('Europe/Berlin');
    expect(formats.pickTimeZone([undefined, 'Nowhere/Land'])).to.equal('UTC');
  });

  it('writes durations digitally or spelled out', () => {
    expect(formats.formatDuration(65)).to.equal('1:05');
    expect(formats.formatDuration(3725)).to.equal('1:02:05');
    expect(formats.formatDuration(65, 'long', 'de')).to.equal('1 Minute, 5 Sekunden');
    expect(sp(formats.formatDuration(83, 'long', 'fr'))).to.equal('1 minute et 23 secondes');
    expect(formats.formatDuration(0, 'long', 'en')).to.equal('0 seconds');
    expect(formats.formatDuration(-1)).to.equal('');
  });

  it('writes phone numbers nationally for the tenant country, internationally otherwise, never split over lines', () => {
    expect(formatPhone('+493012345678', 'DE')).to.equal('030\u00a012345678');
    expect(formatPhone('+493012345678', 'FR')).to.equal('+49\u00a030\u00a012345678');
    expect(formatPhone('+14155552671', 'DE')).to.equal('+1\u00a0415\u00a0555\u00a02671');
    expect(formatPhone('+493012345678')).to.equal('+49\u00a030\u00a012345678');
    expect(formatPhone('anonymous', 'DE')).to.equal('anonymous');
    expect(formatPhone('+493012345678', 'DE', 'international')).to.equal('+49\u00a030\u00a012345678');
  });

  it('writes file sizes in the language conventions', () => {
    expect(formats.formatSize(493_000, 'de')).to.equal('481,4\u00a0kB');
    expect(sp(formats.formatSize(493_000, 'fr'))).to.equal('481,4 ko');
    expect(formats.formatSize(512, 'en')).to.equal('512\u00a0bytes');
    expect(formats.formatSize(1, 'en')).to.equal('1\u00a0byte');
  });

  it('pluralises by the language rules', () => {
    expect(formats.plural(1, { one: '# page', other: '# pages' }, 'en')).to.equal('1 page');
    expect(formats.plural(0, { one: '# page', other: '# pages' }, 'en')).to.equal('0 pages');
    expect(formats.plural(0, { one: '# page', other: '# pages' }, 'fr')).to.equal('0 page');
    expect(formats.plural(1200, { one: '# Seite', other: '# Seiten' }, 'de')).to.equal('1.200 Seiten');
    expect(formats.plural(0, { zero: 'no pages', one: '# page', other: '# pages' }, 'en')).to.equal('no pages');
  });

  it('picks the language: recipient, tenant, then English; regional tags fall back', () => {
    const have = new Set(['en', 'de', 'fr', 'es']);
    expect(resolveLanguage(['de-AT', 'fr'], have)).to.deep.equal({ lang: 'de', chain: ['de'] });
    expect(resolveLanguage([undefined, 'fr'], have).lang).to.equal('fr');
    expect(resolveLanguage(['tlh', undefined], have).lang).to.equal('en');
    expect(resolveLanguage(['pt-BR'], new Set([...have, 'pt-br']))).to.deep.equal({ lang: 'pt-br', chain: ['pt-br', 'pt'] });
  });
});
