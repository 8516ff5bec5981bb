import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Problem } from '../errors';
import { packageRoot } from '../util/package-root';

const SCHEMA_BASE = 'https://pbx-email-notify.invalid/schemas/';

/**
 * Every JSON Schema under schemas/, compiled once per plugin instance. The schemas are the
 * single source of truth for config and event shapes; nothing else re-states them.
 */
export class SchemaRegistry {
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly root: string;

  constructor(root: string = path.join(packageRoot(), 'schemas')) {
    this.root = root;
    this.#ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
    addFormats(this.#ajv, ['email', 'date-time', 'uri', 'hostname']);
    for (const file of listJson(root)) {
      this.#ajv.addSchema(JSON.parse(fs.readFileSync(file, 'utf8')));
    }
  }

  /** The validator for a schema file, by its path relative to schemas/ (e.g. `events/call.missed.schema.json`). */
  validator(relPath: string): ValidateFunction {
    let v = this.#compiled.get(relPath);
    if (!v) {
      v = this.#ajv.getSchema(SCHEMA_BASE + relPath);
      if (!v) throw new Error(`no schema ${relPath} under ${this.root}`);
      this.#compiled.set(relPath, v);
    }
    return v;
  }

  has(relPath: string): boolean {
    return this.#ajv.getSchema(SCHEMA_BASE + relPath) !== undefined;
  }
}

function listJson(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return listJson(p);
    return d.name.endsWith('.schema.json') ? [p] : [];
  });
}

/** Turns ajv's errors into problems whose path names the offending field itself. */
export function toProblems(errors: readonly ErrorObject[] | null | undefined): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of errors ?? []) {
    let p = e.instancePath || '';
    let message = e.message ?? 'is invalid';
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required') p += `/${String(params.missingProperty)}`, (message = 'is required');
    else if (e.keyword === 'additionalProperties') p += `/${String(params.additionalProperty)}`, (message = 'is not allowed here');
    else if (e.keyword === 'enum') message += `: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    else if (e.keyword === 'const') message = `must be ${JSON.stringify(params.allowedValue)}`;
    const key = `${p} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: p || '/', message });
  }
  return out;
}
