import * as path from 'node:path';
import type { HostLog } from '../../src/host-api';
import { neutraliseEvent, type KnownEvent } from '../../src/events';
import { previewRecord } from '../../src/templates/samples';
import type { TemplateTenant } from '../../src/templates';

export const TEMPLATES_ROOT = path.join(__dirname, '../../templates');

export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, any>;
}

/** A HostLog that keeps what it is told. */
export function recordingLog(): { log: HostLog; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...(fields && { fields }) });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

/** A spool-like record of a factory event (see test/helpers/events.ts), as the courier would render it. */
export function rec(event: Record<string, any>, attachmentBytes = 2048) {
  return previewRecord(neutraliseEvent(event as unknown as KnownEvent), event.tenant, attachmentBytes);
}

export function tenant(id: string, over: Partial<TemplateTenant> = {}): TemplateTenant {
  return { id, from: `PBX <pbx@${id}>`, ...over };
}
