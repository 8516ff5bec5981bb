import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Problem } from '../errors';
import { neutraliseUntrusted, UNTRUSTED_KEYWORD, UNTRUSTED_META_SCHEMA, type UntrustedAnnotation } from '../events/neutralise';
import { packageRoot } from '../util/package-root';

/** The base of every schema's `$id`: `${SCHEMA_BASE}events/common.schema.json` and so on. */
export const SCHEMA_BASE = 'https://pbx-email-notify.invalid/schemas/';

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
    // `"x-untrusted": true` marks caller-controlled text: validation neutralises it in place
    // (the validator is only ever run on the plugin's own copy of an event), wherever the
    // annotated schema is used, through $ref, items and every kind an extension defines.
    this.#ajv.addKeyword({
      keyword: UNTRUSTED_KEYWORD,
      modifying: true,
      errors: false,
      metaSchema: UNTRUSTED_META_SCHEMA,
      validate: (annotation: UntrustedAnnotation, data: unknown, _schema?: unknown, cxt?: { parentData?: unknown; parentDataProperty?: string | number }) => {
        if (typeof data === 'string' && cxt?.parentData !== undefined && cxt.parentDataProperty !== undefined) {
          (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = neutraliseUntrusted(data, annotation);
        }
        return true;
      },
    });
    for (const file of listJson(root)) {
      this.#ajv.addSchema(JSON.parse(fs.readFileSync(file, 'utf8')));
    }
  }

  /** The validator for a schema file, by its path relative to schemas/ (e.g. `config.schema.json`). */
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

  /**
   * Adds and compiles a schema given as an object (an event kind's envelope), under `$id`
   * `${SCHEMA_BASE}${relPath}`. Throws ajv's own error when it does not compile (an unknown
   * keyword, a $ref that resolves nowhere); then nothing is kept.
   */
  compile(relPath: string, schema: Record<string, unknown>): ValidateFunction {
    const id = SCHEMA_BASE + relPath;
    if (this.#ajv.getSchema(id)) throw new Error(`a schema ${relPath} is already registered`);
    try {
      const v = this.#ajv.compile({ ...schema, $id: id });
      this.#compiled.set(relPath, v);
      return v;
    } catch (e) {
      this.#ajv.removeSchema(id);
      throw e;
    }
  }

  /** Forgets a schema added by compile(). */
  remove(relPath: string): void {
    this.#ajv.removeSchema(SCHEMA_BASE + relPath);
    this.#compiled.delete(relPath);
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
