import type { EffectiveTenant } from '../config';
import { planAttachments } from '../attachments';
import type { SpoolRecord } from '../spool';

/** What a template sees. Every string in it is event data, neutralised, and HTML-escaped on output. */
export interface TemplateContext {
  lang: string;
  subject: string;
  tenant: { id: string };
  brand: { name: string; accentColor: string; logoUrl?: string; footer?: string };
  event: { id: string; type: string; occurredAt: string };
  recipient: { extension: string; name?: string; displayName: string; email: string[] };
  caller: { number: string; name?: string; stationId?: string; display: string };
  when: string;
  duration?: string;
  voicemail?: { durationSeconds: number; messageNumber?: number; messageLabel?: string; folder?: string; transcript?: string };
  fax?: { pages: number; pagesLabel: string; status: string; failed: boolean; partial: boolean };
  call?: { ringSeconds?: number; ringDuration?: string; queue?: string };
  attachment: { included: boolean; omitted: boolean; filename?: string; size?: string; url?: string };
}

/** Formats an instant for a reader: their language's conventions, their time zone (falling back to the tenant's, then UTC). */
export function formatWhen(iso: string, lang: string, zones: (string | undefined)[]): string {
  for (const timeZone of [...zones, 'UTC']) {
    if (!timeZone) continue;
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeStyle: 'short', timeZone }).format(new Date(iso));
    } catch {
      // An unknown zone name: try the next one.
    }
  }
  return iso;
}

/** `1:05`, or `1:02:05` past an hour. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

export function formatSize(bytes: number, lang = 'en'): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'] as const;
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return new Intl.NumberFormat(lang, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(v);
}

function callerDisplay(c: { number: string; name?: string }): string {
  if (c.name && c.number && c.name !== c.number) return `${c.name} (${c.number})`;
  return c.name || c.number || 'Unknown caller';
}

/** Builds the template context of a spooled message for one language. */
export function buildContext(rec: SpoolRecord, tenant: EffectiveTenant, lang: string): TemplateContext {
  const d = rec.event.data as unknown as Record<string, any>;
  const recipient = d.recipient as TemplateContext['recipient'];
  const plan = planAttachments(rec, tenant);
  const att = plan.attached[0] ?? plan.omitted;
  const ctx: TemplateContext = {
    lang,
    subject: '',
    tenant: { id: tenant.id },
    brand: { name: tenant.id, accentColor: '#1d4ed8' },
    event: { id: rec.event.id, type: rec.event.type, occurredAt: rec.event.occurredAt },
    recipient: { ...recipient, displayName: recipient.name || recipient.extension },
    caller: { ...d.caller, display: callerDisplay(d.caller) },
    when: formatWhen(rec.event.occurredAt, lang, [d.recipient.timeZone, tenant.timeZone]),
    attachment: {
      included: plan.attached.length > 0,
      omitted: plan.omitted !== undefined,
      ...(att && { filename: safeFilename(rec, att.contentType), size: formatSize(att.size, lang) }),
      ...(plan.url !== undefined && { url: plan.url }),
    },
  };
  switch (rec.type) {
    case 'voicemail.received':
      ctx.duration = formatDuration(d.durationSeconds);
      ctx.voicemail = {
        durationSeconds: d.durationSeconds,
        ...(d.messageNumber !== undefined && { messageNumber: d.messageNumber, messageLabel: `#${d.messageNumber}${d.folder ? ` (${d.folder})` : ''}` }),
        ...(d.folder !== undefined && { folder: d.folder }),
        ...(d.transcript !== undefined && { transcript: d.transcript }),
      };
      break;
    case 'fax.received':
      ctx.fax = { pages: d.pages, pagesLabel: d.pages === 1 ? '1 page' : `${d.pages} pages`, status: d.status, failed: d.status === 'failed', partial: d.status === 'partial' };
      break;
    case 'call.missed':
      ctx.call = {
        ...(d.ringSeconds !== undefined && { ringSeconds: d.ringSeconds, ringDuration: formatDuration(d.ringSeconds) }),
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
export function safeFilename(rec: SpoolRecord, contentType: string): string {
  const kind = rec.type === 'fax.received' ? 'fax' : 'voicemail';
  const stamp = new Date(rec.event.occurredAt).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const digits = String((rec.event.data as { caller: { number: string } }).caller.number).replace(/\D/g, '').slice(0, 20);
  const ext = EXTENSIONS[contentType.toLowerCase()] ?? 'bin';
  return `${kind}-${stamp}${digits ? `-${digits}` : ''}.${ext}`;
}
