import type { EffectiveTenant } from '../config';
import { planAttachments } from '../attachments';
import type { ContextTools, EventKind, KindEvent, Recipient } from '../kinds';
import type { SpoolRecord } from '../spool';
import { fileStamp, safeLocale, type Formats, type Locale } from './format';

/**
 * What a template sees (templates/README.md documents every key with an example). Every string
 * in it that came from the event is neutralised, and HTML-escaped on output in HTML parts.
 * Beside these, each kind adds its own convenience variables (`caller`, `voicemail`, `fax`,
 * `call` for the built-in kinds).
 */
export interface TemplateContext {
  /** Template language, e.g. `de` (also `<html lang>` and Content-Language). */
  lang: string;
  /** The reader's locale for formatting, e.g. `de-AT` for a recipient whose language is de-AT. */
  locale: string;
  /** The zone times are shown in: recipient's, tenant's, else UTC. */
  timeZone: string;
  subject: string;
  tenant: { id: string };
  brand: { name: string; accentColor: string; logoUrl?: string; footer?: string };
  /** The whole (neutralised) envelope: `{{event.data.title}}`. */
  event: KindEvent;
  recipient: Recipient & { displayName: string };
  /** occurredAt as full date and short time in the reader's zone and language. */
  when: string;
  attachment: { included: boolean; omitted: boolean; missing: boolean; filename?: string; size?: string; bytes?: number; contentType?: string; url?: string };
  /** What beforeRender hooks added: `{{view.crmUrl}}`. */
  view: Record<string, unknown>;
  /** The kind's own variables. */
  [kindVariable: string]: unknown;
}

export const DEFAULT_ACCENT = '#1d4ed8';

/** The tenant settings the templates read. EffectiveTenant has them all. */
export type TemplateTenant = Pick<EffectiveTenant, 'id' | 'language' | 'timeZone' | 'country' | 'brand' | 'templates' | 'partials' | 'layout' | 'templatesDir' | 'attachments'> & { from?: string };

/** The display name of `"Acme PBX" <pbx@acme.example>`, if it has one. */
function fromName(from: string | undefined): string | undefined {
  const m = from ? /^\s*"?([^"<>]*?)"?\s*</.exec(from) : null;
  return m?.[1]?.trim() || undefined;
}

/** Formatting settings of one reader: locale, zone (recipient's, tenant's, UTC) and the tenant's country. */
export function readerLocale(recipient: Pick<Recipient, 'language' | 'timeZone'>, tenant: TemplateTenant, lang: string, formats: Formats): Locale {
  const asked = recipient.language ?? tenant.language;
  const locale = asked && asked.toLowerCase().split('-')[0] === lang.split('-')[0] ? safeLocale(asked) : safeLocale(lang);
  return { locale, timeZone: formats.pickTimeZone([recipient.timeZone, tenant.timeZone]), ...(tenant.country && { country: tenant.country }) };
}

function callerDisplay(name: string | undefined, number: string): string {
  if (name && number && name !== number) return `${name} (${number})`;
  return name || number || '';
}

/** Formatting for a kind's context builder, in one reader's locale. */
export function contextTools(formats: Formats, fmt: Locale): ContextTools {
  return {
    locale: fmt.locale,
    timeZone: fmt.timeZone,
    phone: (v) => formats.formatPhone(v, fmt.country),
    duration: (s, style) => (style === undefined ? formats.formatDuration(s) : formats.formatDuration(s, style, fmt.locale)),
    dateTime: (v) => formats.formatDateTime(v, fmt),
    size: (b) => formats.formatSize(b, fmt.locale),
    caller: (party) => {
      const numberFormatted = formats.formatPhone(party.number, fmt.country);
      return { ...party, numberFormatted, display: callerDisplay(party.name, numberFormatted) };
    },
  };
}

/**
 * Builds the template context of a spooled message for one language, with the caller's (the
 * Renderer's) Formats: what every kind's templates see, then the kind's own variables (which
 * never replace those).
 */
export function buildContext(rec: SpoolRecord, tenant: TemplateTenant, lang: string, formats: Formats, kind: EventKind, fmt?: Locale, view: Record<string, unknown> = {}): TemplateContext {
  const recipient = kind.recipient(rec.event);
  fmt ??= readerLocale(recipient, tenant, lang, formats);
  const plan = planAttachments(rec, tenant as EffectiveTenant, kind);
  const att = plan.attached[0] ?? plan.omitted;
  const b = tenant.brand ?? {};
  const ctx: TemplateContext = {
    lang,
    locale: fmt.locale,
    timeZone: fmt.timeZone,
    subject: '',
    tenant: { id: tenant.id },
    brand: { name: b.name ?? fromName(tenant.from) ?? tenant.id, accentColor: b.accentColor ?? DEFAULT_ACCENT, ...(b.logoUrl && { logoUrl: b.logoUrl }), ...(b.footer && { footer: b.footer }) },
    event: rec.event,
    recipient: { ...recipient, displayName: recipient.name || recipient.extension },
    when: formats.formatDateTime(rec.event.occurredAt, fmt),
    attachment: {
      included: plan.attached.length > 0,
      omitted: plan.omitted !== undefined,
      missing: plan.missing === true,
      ...(att && { filename: safeFilename(rec, att, kind, fmt.timeZone), size: formats.formatSize(att.size, fmt.locale), bytes: att.size, contentType: att.contentType }),
      ...(plan.url !== undefined && { url: plan.url }),
    },
    view,
  };
  for (const [k, v] of Object.entries(kind.context(rec.event, contextTools(formats, fmt)) ?? {})) {
    if (!Object.hasOwn(ctx, k)) ctx[k] = v;
  }
  return ctx;
}

const EXTENSIONS: Record<string, string> = {
  'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/wave': 'wav', 'audio/vnd.wave': 'wav',
  'audio/mpeg': 'mp3', 'audio/mp3': 'mp3', 'audio/ogg': 'ogg', 'audio/opus': 'opus',
  'application/pdf': 'pdf', 'image/tiff': 'tif', 'image/tif': 'tif',
};

/**
 * The attachment's file name, made from the event (kind, time, caller digits), never from the
 * PBX path or the caller's text: `voicemail-20261128-130000-15550100.wav`. The first word is
 * the name the kind gives the attachment's role; the time is the wall-clock time in `timeZone`
 * (the reader's, as in the mail's text).
 */
export function safeFilename(rec: Pick<SpoolRecord, 'event'>, att: { role: string; contentType: string }, kind?: Pick<EventKind, 'attachments'>, timeZone = 'UTC'): string {
  const name = kind?.attachments.find((a) => a.role === att.role)?.name ?? (/^[a-z][a-z0-9-]{0,31}$/.test(att.role) ? att.role : 'attachment');
  const stamp = fileStamp(rec.event.occurredAt, timeZone);
  const number = (rec.event.data as { caller?: { number?: unknown } }).caller?.number;
  const digits = String(typeof number === 'string' ? number : '').replace(/\D/g, '').slice(0, 20);
  const ext = EXTENSIONS[att.contentType.toLowerCase()] ?? 'bin';
  return `${name}${stamp ? `-${stamp}` : ''}${digits ? `-${digits}` : ''}.${ext}`;
}
