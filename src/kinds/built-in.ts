import * as fs from 'node:fs';
import * as path from 'node:path';
import { SCHEMA_BASE } from '../config';
import { packageRoot } from '../util/package-root';
import type { KindSample } from './event-kind';

/** The `data` schema of a built-in kind: the `data` of its envelope schema in schemas/events/. */
export function builtInSchema(type: string): Record<string, unknown> {
  return { $ref: `${SCHEMA_BASE}events/${type}.schema.json#/properties/data` };
}

/** The package's templates/ folder, where the built-in kinds' default templates live (`<lang>/<type>.<part>.hbs`). */
export function builtInTemplates(): string {
  return path.join(packageRoot(), 'templates');
}

/** A built-in kind's sample, templates/samples/<type>.json. */
export function builtInSample(type: string): KindSample {
  const s = JSON.parse(fs.readFileSync(path.join(builtInTemplates(), 'samples', `${type}.json`), 'utf8')) as KindSample & { description?: string };
  return { event: s.event, ...(s.attachmentBytes !== undefined && { attachmentBytes: s.attachmentBytes }) };
}
