import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { TenantDirectory } from '../config';
import { PluginError } from '../errors';
import { openConfined, sniffContentType } from '../events';
import type { HostLog } from '../host-api';
import type { EventKind, KindEvent, KindRegistry } from '../kinds';
import { storageError, type Spool, type SpoolRecord, type StoredAttachment } from '../spool';
import type { MessageState } from '../ops';

export interface IntakeDeps {
  kinds: KindRegistry;
  spool: Spool;
  tenants(): TenantDirectory;
  log: HostLog;
  /** The operations state of a stored message (queued, deferred, sending, delivered …). */
  stateOf(rec: SpoolRecord): MessageState;
}

/** `duplicate`: the tenant's event id is known; `state` is where its mail is now. */
export type IntakeResult = { status: 'queued' | 'disabled'; event: KindEvent } | { status: 'duplicate'; state: MessageState; event: KindEvent };

/** The Message-ID of an event's mail: the same for every attempt, so a resend is recognisable. */
export function messageIdFor(tenant: string, eventId: string, domain: string): string {
  const h = crypto.createHash('sha256').update(`${tenant}\0${eventId}`).digest('hex').slice(0, 32);
  return `<${h}@${domain}>`;
}

/**
 * The handler's path: validate, resolve the tenant, neutralise untrusted text, copy attachments
 * into the spool and durably queue. Resolves once the mail is on disk; rejects with a coded
 * PluginError, having queued nothing, when the event cannot be accepted.
 */
export async function accept(raw: unknown, d: IntakeDeps): Promise<IntakeResult> {
  // The kind's schema checks the event and neutralises its untrusted text on the plugin's own copy.
  const event = d.kinds.validate(raw);
  const kind = d.kinds.get(event.type)!;
  const recipient = d.kinds.recipient(event);
  const dir = d.tenants();
  const tenant = dir.get(event.tenant);
  if (!tenant) {
    throw new PluginError('TENANT_NOT_CONFIGURED', `/tenant: ${JSON.stringify(event.tenant)} has no usable SMTP settings (from and smtp.host, in tenants or defaults)`, {
      field: '/tenant',
    });
  }
  if (tenant.events?.[event.type]?.enabled === false) {
    // Nothing is sent, but an event naming a file outside attachmentRoots is still refused (CONTRACT.md).
    for (const { field, ref } of attachmentRefs(kind, event)) await (await openConfined(ref.path, dir.config.attachmentRoots, `/data/${field}/path`)).handle.close();
    d.log.info('event type disabled for tenant; no mail', { tenant: tenant.id, type: event.type, eventId: event.id });
    return { status: 'disabled', event };
  }
  const known = async (): Promise<IntakeResult | undefined> => {
    let rec: SpoolRecord | undefined;
    try {
      rec = await d.spool.getByEventId(tenant.id, event.id);
    } catch (e) {
      throw storageError(e, 'could not look the event up in the spool');
    }
    return rec && { status: 'duplicate', state: d.stateOf(rec), event };
  };
  const seen = await known();
  if (seen) return seen;

  const clean = event;
  const attachments = await stageAttachments(kind, clean, dir.config.attachmentRoots, d.spool, d.log);
  try {
    const status = await d.spool.enqueue({
      eventId: event.id,
      tenant: tenant.id,
      type: event.type,
      event: clean,
      attachments,
      pending: [...recipient.email],
      messageId: messageIdFor(tenant.id, event.id, tenant.domain),
    });
    if (status === 'queued') return { status, event: clean };
    await removeStaged(attachments, d.spool);
    // Accepted by a concurrent post of the same id meanwhile (or purged in between: then it counts as queued).
    return (await known()) ?? { status: 'duplicate', state: 'queued', event: clean };
  } catch (e) {
    await removeStaged(attachments, d.spool);
    throw e;
  }
}

type FileRef = { path: string; contentType: string; filename?: string };

/** The event's files, by its kind's attachment fields, with their roles. */
function attachmentRefs(kind: EventKind, event: KindEvent): { field: string; role: string; ref: FileRef }[] {
  const data = event.data as Record<string, FileRef | undefined>;
  return kind.attachments.flatMap((a) => (data[a.field] && typeof data[a.field]!.path === 'string' ? [{ field: a.field, role: a.role, ref: data[a.field]! }] : []));
}

async function stageAttachments(kind: EventKind, event: KindEvent, roots: readonly string[], spool: Spool, log: HostLog): Promise<StoredAttachment[]> {
  const found = attachmentRefs(kind, event);
  if (found.length === 0) return [];
  const out: StoredAttachment[] = [];
  let dir: string | undefined;
  try {
    for (const { field, role, ref } of found) {
      const file = await openConfined(ref.path, roots, `/data/${field}/path`);
      try {
        const type = await sniffContentType(file.handle, ref.contentType);
        if (type.corrected) {
          log.warn('attachment content does not match its declared type; sent with the type its bytes show', { eventId: event.id, field: `/data/${field}/contentType`, declared: ref.contentType, sent: type.contentType });
        }
        dir ??= await spool.files.createDir(event.id);
        const copy = await spool.files.copyIn(file.handle, dir, role);
        out.push({ path: copy, contentType: type.contentType, size: file.size, role, ...(ref.filename !== undefined && { filename: ref.filename }) });
      } catch (e) {
        throw e instanceof PluginError ? e : new PluginError('SPOOL_FAILURE', `could not copy /data/${field}/path into the spool: ${(e as Error).message}`, { field: `/data/${field}/path`, cause: e });
      } finally {
        await file.handle.close();
      }
    }
    return out;
  } catch (e) {
    if (dir) await spool.files.remove(dir);
    throw e;
  }
}

async function removeStaged(atts: StoredAttachment[], spool: Spool): Promise<void> {
  if (atts.length > 0) await spool.files.remove(path.dirname(atts[0]!.path));
}
