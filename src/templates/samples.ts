import type { EventKind, KindEvent } from '../kinds';
import type { SpoolRecord, StoredAttachment } from '../spool';

/**
 * A spool record for rendering only (previews, checks): nothing is stored, no file is read.
 * The event's FileRefs (its kind's attachment fields) become attachments of `attachmentBytes` bytes each.
 */
export function previewRecord(event: KindEvent, tenant: string, attachmentBytes = 0, kind?: Pick<EventKind, 'attachments'>): SpoolRecord {
  const d = event.data as Record<string, { contentType: string; filename?: string } | undefined>;
  const attachments: StoredAttachment[] = [];
  for (const { field, role } of kind?.attachments ?? []) {
    const ref = d[field];
    if (ref) attachments.push({ path: '', contentType: ref.contentType, size: attachmentBytes, role, ...(ref.filename !== undefined && { filename: ref.filename }) });
  }
  return {
    seq: 0,
    eventId: event.id,
    tenant,
    type: event.type,
    event: { ...event, tenant },
    attachments,
    pending: [],
    delivered: [],
    failed: [],
    state: 'queued',
    attempts: 0,
    createdAt: Date.parse(event.occurredAt) || 0,
    ageFrom: Date.parse(event.occurredAt) || 0,
    updatedAt: Date.parse(event.occurredAt) || 0,
    nextAttemptAt: 0,
    messageId: `<preview@${tenant}>`,
  };
}
