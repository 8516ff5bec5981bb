import * as path from 'node:path';
import type { HostLog } from '../../src/host-api';
import { SchemaRegistry } from '../../src/config';
import { builtInKinds } from '../../src/kinds';
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

/** The built-in kinds, as a plugin instance has them. */
export const KINDS = builtInKinds(new SchemaRegistry());

/** A spool-like record of a factory event (see test/helpers/events.ts), as the courier would render it: validated, so neutralised. */
export function rec(event: Record<string, any>, attachmentBytes = 2048) {
  const clean = KINDS.validate(event);
  return previewRecord(clean, event.tenant, attachmentBytes, KINDS.get(clean.type));
}

export function tenant(id: string, over: Partial<TemplateTenant> = {}): TemplateTenant {
  return { id, from: `PBX <pbx@${id}>`, ...over };
}

/** The bomb: p8 calls p7 ten times, ... p0 is text; about 800 bytes and 10^8 partial calls. */
export function partialBomb(): Record<string, string> {
  const partials: Record<string, string> = { p0: 'x' };
  for (let i = 1; i <= 8; i++) partials[`p${i}`] = `{{> p${i - 1}}}`.repeat(10);
  return partials;
}
