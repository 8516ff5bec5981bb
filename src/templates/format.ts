import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { LRUCache } from 'lru-cache';
import { IntlCache } from './intl-cache';

/** How a reader wants values written: their language's conventions and their time zone. */
export interface Locale {
  /** BCP 47 tag for Intl, e.g. `de-AT` (the recipient's own tag when it fits the template language). */
  locale: string;
  /** IANA zone the reader's times are shown in (recipient's, then tenant's, then UTC). */
  timeZone: string;
  /** ISO 3166 alpha-2 country of the tenant, for phone numbers; undefined writes them internationally. */
  country?: string;
}

export type DateStyle = 'full' | 'long' | 'medium' | 'short';
const STYLES: readonly string[] = ['full', 'long', 'medium', 'short'];
const TIME_PARTS: ReadonlySet<string> = new Set(['hour', 'minute', 'second', 'dayPeriod', 'timeZoneName']);

/** A locale Intl accepts, else `en`. */
export function safeLocale(tag: string | undefined): string {
  if (!tag) return 'en';
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? 'en';
  } catch {
    return 'en';
  }
}

function toDate(v: unknown): Date | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const style = (s: unknown, fallback: DateStyle | undefined): DateStyle | undefined =>
  typeof s === 'string' && STYLES.includes(s) ? (s as DateStyle) : fallback;

/** The first zone of the list that Intl knows, else UTC. */
export function firstTimeZone(zones: readonly (string | undefined)[]): string {
  for (const timeZone of zones) {
    if (!timeZone) continue;
    try {
      new Intl.DateTimeFormat('en', { timeZone });
      return timeZone;
    } catch {
      // An unknown zone name: try the next one.
    }
  }
  return 'UTC';
}

/**
 * The instant's wall-clock time in a zone, for file names: the time the reader sees in the mail.
 * @example fileStamp('2026-12-01T21:36:20Z', 'Europe/Berlin') // '20261201-223620'
 */
export function fileStamp(v: unknown, timeZone: string): string {
  const d = toDate(v);
  if (!d) return '';
  const f = new Intl.DateTimeFormat('en-US', { timeZone: firstTimeZone([timeZone]), hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}${p.month}${p.day}-${p.hour}${p.minute}${p.second}`;
}

/**
 * A phone number for reading: national form when it belongs to the tenant's country,
 * international otherwise, its groups joined by no-break spaces (U+00A0); anything that is
 * not a valid number comes back unchanged.
 * @example formatPhone('+493012345678', 'DE') // '030 12345678'
 * @example formatPhone('+14155552671', 'DE') // '+1 415 555 2671'
 */
export function formatPhone(raw: unknown, country?: string, form: unknown = 'auto'): string {
  if (typeof raw !== 'string' && typeof raw !== 'number') return '';
  const text = String(raw);
  try {
    const p = parsePhoneNumberFromString(text, country ? (country.toUpperCase() as CountryCode) : undefined);
    if (!p || !p.isValid()) return text;
    const out = form === 'international' ? p.formatInternational() : form === 'national' ? p.formatNational() : country && p.country === country.toUpperCase() ? p.formatNational() : p.formatInternational();
    // A number is never split over two lines: its groups are joined by no-break spaces (U+00A0).
    return out.replace(/ /g, '\u00a0');
  } catch {
    return text;
  }
}

/**
 * The formatting functions templates and the context builder use, with one IntlCache of their own.
 * The Renderer makes one per plugin instance, so the cache lives as long as the instance and no longer.
 */
export class Formats {
  readonly #intl = new IntlCache();
  /** Parsing a number costs more than the rest of a mail's formatting; the same caller rings again and again. */
  readonly #phones = new LRUCache<string, string>({ max: 2048 });

  /** formatPhone, remembered for the last 2,048 distinct (number, country, form). */
  formatPhone(raw: unknown, country?: string, form: unknown = 'auto'): string {
    if (typeof raw !== 'string' && typeof raw !== 'number') return '';
    const key = `${String(form)}\0${country ?? ''}\0${String(raw)}`;
    let v = this.#phones.get(key);
    if (v === undefined) this.#phones.set(key, (v = formatPhone(raw, country, form)));
    return v;
  }

  /** The first zone of the list that Intl knows, else UTC. */
  pickTimeZone(zones: (string | undefined)[]): string {
    for (const timeZone of zones) {
      if (!timeZone) continue;
      try {
        this.#intl.get(Intl.DateTimeFormat, 'en', { timeZone });
        return timeZone;
      } catch {
        // An unknown zone name: try the next one.
      }
    }
    return 'UTC';
  }

  /**
   * Date and/or time of an instant in the reader's zone and language. A time carries the zone's
   * short name or offset (`13:00 MEZ`, `1:00 PM GMT+1`, `13:00 UTC+1`), placed where the
   * language's own long time format puts it; `zone: false` leaves it out.
   * @example formats.formatDateTime('2026-11-28T12:00:00Z', { locale: 'de', timeZone: 'Europe/Berlin' }) // 'Samstag, 28. November 2026 um 13:00 MEZ'
   */
  formatDateTime(v: unknown, l: Locale, dateStyle: unknown = 'full', timeStyle: unknown = 'short', zone: unknown = true): string {
    const d = toDate(v);
    if (!d) return '';
    const ds = dateStyle === 'none' ? undefined : style(dateStyle, 'full');
    const ts = timeStyle === 'none' ? undefined : style(timeStyle, 'short');
    if (!ds && !ts) return '';
    if (!ts || zone === false || ts === 'long' || ts === 'full') {
      return this.#intl.get(Intl.DateTimeFormat, l.locale, { ...(ds && { dateStyle: ds }), ...(ts && { timeStyle: ts }), timeZone: l.timeZone }).format(d);
    }
    // Intl has no short time with a zone: the long time (which has both) without its seconds, if short was asked.
    const parts = this.#intl.get(Intl.DateTimeFormat, l.locale, { ...(ds && { dateStyle: ds }), timeStyle: 'long', timeZone: l.timeZone }).formatToParts(d);
    const keep = ts === 'medium' ? parts : parts.filter((p, i) => p.type !== 'second' && !(p.type === 'literal' && parts[i + 1]?.type === 'second'));
    // The time and its zone never split over two lines on a narrow screen: no-break spaces inside the time.
    const inTime = (i: number) => TIME_PARTS.has(keep[i - 1]?.type ?? '') && TIME_PARTS.has(keep[i + 1]?.type ?? '');
    return keep.map((p, i) => (p.type === 'literal' && inTime(i) ? p.value.replace(/[ \u202f]/g, '\u00a0') : p.value)).join('');
  }

  /** Kept for callers of the first version: full date, short time, first usable zone of the list. */
  formatWhen(iso: string, lang: string, zones: (string | undefined)[]): string {
    return this.formatDateTime(iso, { locale: safeLocale(lang), timeZone: this.pickTimeZone(zones) }) || iso;
  }

  /**
   * A duration in seconds. `digital` (default) is `1:05` or `1:02:05`; `long`, `short` and
   * `narrow` spell the units out in the reader's language.
   * @example formats.formatDuration(65) // '1:05'
   * @example formats.formatDuration(65, 'long', 'de') // '1 Minute, 5 Sekunden'
   */
  formatDuration(seconds: unknown, form: unknown = 'digital', locale = 'en'): string {
    const n = Number(seconds);
    if (!Number.isFinite(n) || n < 0) return '';
    const s = Math.round(n);
    const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
    if (form === 'long' || form === 'short' || form === 'narrow') {
      const unitDisplay = form;
      const parts = ([['hour', h], ['minute', m], ['second', r]] as const)
        .filter(([, v], i, all) => v > 0 || (i === all.length - 1 && s === 0))
        .map(([unit, v]) => this.#intl.get(Intl.NumberFormat, locale, { style: 'unit', unit, unitDisplay }).format(v));
      return this.#intl.get(Intl.ListFormat, locale, { type: 'unit', style: form === 'long' ? 'long' : 'narrow' }).format(parts);
    }
    const pad = (x: number) => String(x).padStart(2, '0');
    return h > 0 ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
  }

  /**
   * A byte count in binary steps with the language's number conventions; number and unit are
   * joined by a no-break space.
   * @example formats.formatSize(493_000, 'de') // '481,4 kB'
   * @example formats.formatSize(578, 'en') // '578 bytes'
   */
  formatSize(bytes: unknown, lang = 'en'): string {
    const n = Number(bytes);
    if (!Number.isFinite(n) || n < 0) return '';
    const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'] as const;
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
    // Bytes are spelled out, so they take the language's plural form (`578 bytes`, `1 octet`); the larger units are symbols.
    return this.#intl.get(Intl.NumberFormat, safeLocale(lang), { style: 'unit', unit: units[i], unitDisplay: i === 0 ? 'long' : 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(v).replace(/ /g, '\u00a0');
  }

  /**
   * Picks the form for a count by the language's plural rules; `#` in it becomes the count.
   * @example formats.plural(1, { one: '# Seite', other: '# Seiten' }, 'de') // '1 Seite'
   * @example formats.plural(3, { one: '# page', other: '# pages' }, 'en') // '3 pages'
   */
  plural(count: unknown, forms: Record<string, unknown>, locale = 'en'): string {
    const n = Number(count);
    if (!Number.isFinite(n)) return '';
    const key = n === 0 && typeof forms.zero === 'string' ? 'zero' : this.#intl.get(Intl.PluralRules, locale).select(n);
    const form = typeof forms[key] === 'string' ? (forms[key] as string) : typeof forms.other === 'string' ? (forms.other as string) : '#';
    return form.replace(/#/g, this.#intl.get(Intl.NumberFormat, locale).format(n));
  }

  /** @example formats.formatNumber(1234.5, 'fr') // '1 234,5' */
  formatNumber(v: unknown, locale = 'en'): string {
    const n = Number(v);
    return Number.isFinite(n) ? this.#intl.get(Intl.NumberFormat, locale).format(n) : '';
  }
}
