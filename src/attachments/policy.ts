import type { EffectiveTenant } from '../config';
import type { EventKind } from '../kinds';
import type { SpoolRecord, StoredAttachment } from '../spool';

/** Largest attachment sent when the tenant sets no `attachments.maxBytes`: 10 MB. */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

export interface AttachmentPlan {
  /** Files that go into the mail. */
  attached: StoredAttachment[];
  /** The event's file, when it is too large to attach or its spooled copy vanished. */
  omitted?: StoredAttachment;
  /** True when the omitted file is left out because its spooled copy vanished (not for its size). */
  missing?: boolean;
  /** Where the reader finds the file online, from the tenant's URL template; undefined without one. */
  url?: string;
}

/**
 * Decides, at send time with the tenant's current settings, which spooled files are attached:
 * those up to `attachments.maxBytes`; a larger one is left out, and the mail says so and links to
 * it when the tenant has the URL template the event's kind names for its files (recordingUrl
 * for a recording, faxUrl for a fax document).
 */
export function planAttachments(rec: SpoolRecord, tenant: Pick<EffectiveTenant, 'attachments'>, kind?: Pick<EventKind, 'attachments' | 'recipient'>): AttachmentPlan {
  const max = tenant.attachments?.maxBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES;
  const attached = rec.attachments.filter((a) => !isMissing(a) && a.size <= max);
  const omitted = rec.attachments.find((a) => isMissing(a) || a.size > max);
  const setting = kind?.attachments.find((a) => a.url !== undefined)?.url;
  const template = setting === undefined ? undefined : tenant.attachments?.[setting];
  const url = template === undefined ? undefined : expandUrl(template, rec, kind?.recipient(rec.event).extension);
  return { attached, ...(omitted && { omitted }), ...(omitted && isMissing(omitted) && { missing: true }), ...(url !== undefined && { url }) };
}

/** A spooled file whose copy is gone at send time: the courier marks it so, the plan leaves it out. */
export function markMissing(a: StoredAttachment): StoredAttachment {
  return Object.assign({ ...a }, { [MISSING]: true });
}

const MISSING = Symbol('missing');
function isMissing(a: StoredAttachment): boolean {
  return (a as StoredAttachment & { [MISSING]?: boolean })[MISSING] === true;
}

/**
 * Fills `{tenant}`, `{eventId}` and `{extension}` in a URL template, each URL-encoded, so event
 * data can never add a path, query or scheme. Undefined when the result is not an http(s) URL.
 */
export function expandUrl(template: string, rec: SpoolRecord, extension?: string): string | undefined {
  const values: Record<string, string> = {
    tenant: rec.tenant,
    eventId: rec.eventId,
    extension: extension ?? (rec.event.data as { recipient?: { extension?: string } }).recipient?.extension ?? '',
  };
  const out = template.replace(/\{(tenant|eventId|extension)\}/g, (_m, k: string) => encodeURIComponent(values[k]!));
  try {
    const u = new URL(out);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}
