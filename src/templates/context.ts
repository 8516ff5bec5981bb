import type { EffectiveTenant } from '../config';
import { planAttachments } from '../attachments';
import type { SpoolRecord } from '../spool';
import { safeLocale, type Formats, type Locale } from './format';

/**
 * What a template sees (templates/README.md documents every key with an example). Every string
 * in it that came from the event is neutralised, and HTML-escaped on output in HTML parts.
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
  event: { id: string; type: string; occurredAt: string };
  recipient: { extension: string; name?: string; displayName: string; email: string[]; language?: string; timeZone?: string };
  caller: { number: string; numberFormatted: string; name?: string; stationId?: string; display: string };
  /** occurredAt as full date and short time in the reader's zone and language. */
  when: string;
  voicemail?: { durationSeconds: number; duration: string; messageNumber?: number; messageLabel?: string; folder?: string; transcript?: string };
  fax?: { pages: number; status: string; received: boolean; failed: boolean; partial: boolean };
  call?: { ringSeconds?: number; ringDuration?: string; queue?: string };
  attachment: { included: boolean; omitted: boolean; missing: boolean; filename?: string; size?: string; bytes?: number; contentType?: string; url?: string };
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
export function readerLocale(rec: Pick<SpoolRecord, 'event'>, tenant: TemplateTenant, lang: string, formats: Formats): Locale {
  const recipient = (rec.event.data as { recipient: { language?: string; timeZone?: string } }).recipient;
  const asked = recipient.language ?? tenant.language;
  const locale = asked && asked.toLowerCase().split('-')[0] === lang.split('-')[0] ? safeLocale(asked) : safeLocale(lang);
  return { locale, timeZone: formats.pickTimeZone([recipient.timeZone, tenant.timeZone]), ...(tenant.country && { country: tenant.country }) };
}

function callerDisplay(name: string | undefined, number: string): string {
  if (name && number && name !== number) return `${name} (${number})`;
  return name || number || '';
}

/** Builds the template context of a spooled message for one language, with the caller's (the Renderer's) Formats. */
export function buildContext(rec: SpoolRecord, tenant: TemplateTenant, lang: string, formats: Formats, fmt: Locale = readerLocale(rec, tenant, lang, formats)): TemplateContext {
  const d = rec.event.data as unknown as Record<string, any>;
  const recipient = d.recipient as TemplateContext['recipient'];
  const plan = planAttachments(rec, tenant as EffectiveTenant);
  const att = plan.attached[0] ?? plan.omitted;
  const numberFormatted = formats.formatPhone(d.caller.number, fmt.country);
  const b = tenant.brand ?? {};
  const ctx: TemplateContext = {
    lang,
    locale: fmt.locale,
    timeZone: fmt.timeZone,
    subject: '',
    tenant: { id: tenant.id },
    brand: { name: b.name ?? fromName(tenant.from) ?? tenant.id, accentColor: b.accentColor ?? DEFAULT_ACCENT, ...(b.logoUrl && { logoUrl: b.logoUrl }), ...(b.footer && { footer: b.footer }) },
    event: { id: rec.event.id, type: rec.event.type, occurredAt: rec.event.occurredAt },
    recipient: { ...recipient, displayName: recipient.name || recipient.extension },
    caller: { ...d.caller, numberFormatted, display: callerDisplay(d.caller.name, numberFormatted) },
    when: formats.formatDateTime(rec.event.occurredAt, fmt),
    attachment: {
      included: plan.attached.length > 0,
      omitted: plan.omitted !== undefined,
      missing: plan.missing === true,
      ...(att && { filename: safeFilename(rec, att.contentType), size: formats.formatSize(att.size, fmt.locale), bytes: att.size, contentType: att.contentType }),
      ...(plan.url !== undefined && { url: plan.url }),
    },
  };
  switch (rec.type) {
    case 'voicemail.received':
      // No top-level `duration`: that name is the duration helper's (helpers and variables never share a name).
      ctx.voicemail = {
        durationSeconds: d.durationSeconds,
        duration: formats.formatDuration(d.durationSeconds),
        ...(d.messageNumber !== undefined && { messageNumber: d.messageNumber, messageLabel: `#${d.messageNumber}${d.folder ? ` (${d.folder})` : ''}` }),
        ...(d.folder !== undefined && { folder: d.folder }),
        ...(d.transcript !== undefined && { transcript: d.transcript }),
      };
      break;
    case 'fax.received':
      ctx.fax = { pages: d.pages, status: d.status, received: d.status === 'received', failed: d.status === 'failed', partial: d.status === 'partial' };
      break;
    case 'call.missed':
      ctx.call = {
        ...(d.ringSeconds !== undefined && { ringSeconds: d.ringSeconds, ringDuration: formats.formatDuration(d.ringSeconds) }),
        ...(d.queue !== undefined && { queue: d.queue }),
      };
      break;
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
 * PBX path or the caller's text: `voicemail-20261128-120000-15550100.wav`.
 */
export function safeFilename(rec: Pick<SpoolRecord, 'type' | 'event'>, contentType: string): string {
  const kind = rec.type === 'fax.received' ? 'fax' : 'voicemail';
  const stamp = new Date(rec.event.occurredAt).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const digits = String((rec.event.data as { caller: { number: string } }).caller.number).replace(/\D/g, '').slice(0, 20);
  const ext = EXTENSIONS[contentType.toLowerCase()] ?? 'bin';
  return `${kind}-${stamp}${digits ? `-${digits}` : ''}.${ext}`;
}
