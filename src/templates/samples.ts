import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EventType, KnownEvent } from '../events';
import type { SpoolRecord, StoredAttachment } from '../spool';

/** A sample event (templates/samples/<type>.json) and the size its attachment is shown with. */
export interface Sample {
  event: KnownEvent;
  attachmentBytes?: number;
}

/** The sample of an event type, from `<templates root>/samples/<type>.json`. */
export function loadSample(root: string, type: EventType): Sample {
  return JSON.parse(fs.readFileSync(path.join(root, 'samples', `${type}.json`), 'utf8')) as Sample;
}

/**
 * A spool record for rendering only (previews, checks): nothing is stored, no file is read.
 * The event's FileRefs become attachments of `attachmentBytes` bytes each.
 */
export function previewRecord(event: KnownEvent, tenant: string, attachmentBytes = 0): SpoolRecord {
  const d = event.data as unknown as Record<string, { contentType: string; filename?: string } | undefined>;
  const attachments: StoredAttachment[] = [];
  for (const role of ['recording', 'document'] as const) {
    const ref = d[role];
    if (ref) attachments.push({ path: '', contentType: ref.contentType, size: attachmentBytes, role, ...(ref.filename !== undefined && { filename: ref.filename }) });
  }
  return {
    seq: 0,
    eventId: event.id,
    tenant,
    type: event.type as EventType,
    event: { ...event, tenant } as KnownEvent,
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
