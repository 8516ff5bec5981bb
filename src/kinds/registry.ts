import * as fs from 'node:fs';
import { SCHEMA_BASE, toProblems, type SchemaRegistry } from '../config';
import { PluginError } from '../errors';
import { parseTemplate } from '../templates/template-safety';
import { EMPTY_SET, loadTemplateDir, partKey, TEMPLATE_PARTS, type TemplateSet, type TemplateSource } from '../templates/template-set';
import type { EventKind, EventKindSpec, KindApi, KindEvent, KindSample, KindTemplates, Recipient, ResolvedAttachment } from './event-kind';

const TYPE = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/;
const ROLE = /^[a-z][a-z0-9-]{0,31}$/;
const LANG = /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/;
const COMMON = `${SCHEMA_BASE}events/common.schema.json#/definitions/`;

/** `$ref`s of the shared shapes, for a kind's schema (`api.shapes.Recipient`). */
export const SHAPES: KindApi['shapes'] = Object.freeze({
  Recipient: Object.freeze({ $ref: `${COMMON}Recipient` }),
  Party: Object.freeze({ $ref: `${COMMON}Party` }),
  FileRef: Object.freeze({ $ref: `${COMMON}FileRef` }),
});

/** Where a kind's envelope schema lives in the SchemaRegistry. */
export const kindSchemaPath = (type: string) => `kinds/${type}.schema.json`;

/** The envelope every kind shares around its own `data` schema (CONTRACT.md section 4). */
function envelope(type: string, data: Record<string, unknown>): Record<string, unknown> {
  return {
    title: type,
    description: `The ${type} event envelope.`,
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'tenant', 'occurredAt', 'data'],
    properties: {
      id: { $ref: `${COMMON}EventId` },
      type: { description: 'Event type.', const: type },
      tenant: { $ref: `${COMMON}TenantId` },
      occurredAt: { $ref: `${COMMON}OccurredAt` },
      data: data,
    },
  };
}

const refuse = (message: string, field?: string, cause?: unknown) =>
  new PluginError('KIND_INVALID', message, { ...(field !== undefined && { field }), ...(cause !== undefined && { cause }) });

/**
 * The open registry of event kinds of one plugin instance (or one render worker). Intake,
 * spool, scheduler, renderer, preview and `templates check` look every kind up here; the
 * built-in kinds are defined into it through the same `defineEvent` as an extension's.
 */
export class KindRegistry {
  readonly #schemas: SchemaRegistry;
  readonly #kinds = new Map<string, EventKind>();
  /** Template directories already read, by path (the built-in kinds share the package's). */
  readonly #dirs = new Map<string, TemplateSet>();

  constructor(schemas: SchemaRegistry) {
    this.#schemas = schemas;
  }

  get schemas(): SchemaRegistry {
    return this.#schemas;
  }

  /**
   * Registers a kind. Refuses with KIND_INVALID (naming the field of the spec) a malformed type,
   * one already defined, a schema that does not compile, templates that do not parse or leave a
   * part without an English or language-neutral default, bad attachment fields, and a sample
   * that breaks the schema.
   */
  define(type: string, spec: EventKindSpec<any>, origin: string): EventKind {
    if (typeof type !== 'string' || !TYPE.test(type) || type.length > 64) {
      throw refuse(`type: expected a dotted lowercase event type such as call.recording.ready, received ${JSON.stringify(type)?.slice(0, 80)}`, 'type');
    }
    if (this.#kinds.has(type)) throw refuse(`${type} is already defined (by ${this.#kinds.get(type)!.origin})`, 'type');
    if (!spec || typeof spec !== 'object') throw refuse(`${type}: expected a kind description object`, 'spec');
    const schema = spec.schema;
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw refuse(`${type}: schema must be a JSON Schema object (of the event's data)`, 'schema');
    const recipients = spec.recipients;
    if (recipients !== undefined && typeof recipients !== 'function') throw refuse(`${type}: recipients must be a function`, 'recipients');
    if (spec.context !== undefined && typeof spec.context !== 'function') throw refuse(`${type}: context must be a function`, 'context');
    const attachments = resolveAttachments(type, spec.attachments);
    const templates = this.#templates(type, spec.templates);
    const schemaPath = kindSchemaPath(type);
    try {
      this.#schemas.compile(schemaPath, envelope(type, schema));
    } catch (e) {
      throw refuse(`${type}: schema does not compile: ${(e as Error).message}`, 'schema', e);
    }
    const context = spec.context;
    const kind: EventKind = {
      type,
      origin,
      builtIn: origin === 'built-in',
      schemaPath,
      templates,
      attachments,
      recipient: (event) => (recipients ? recipients(event) : (event.data as { recipient: Recipient }).recipient),
      context: (event, tools) => (context ? context(event, tools) : {}),
    };
    this.#kinds.set(type, kind);
    try {
      if (spec.sample !== undefined) Object.assign(kind, { sample: this.#sample(type, spec.sample) });
    } catch (e) {
      this.remove(type);
      throw e;
    }
    return kind;
  }

  /** Forgets a kind (an extension whose register() failed after defining it). */
  remove(type: string): void {
    if (!this.#kinds.delete(type)) return;
    this.#schemas.remove(kindSchemaPath(type));
  }

  get(type: unknown): EventKind | undefined {
    return typeof type === 'string' ? this.#kinds.get(type) : undefined;
  }

  has(type: unknown): boolean {
    return typeof type === 'string' && this.#kinds.has(type);
  }

  /** Every registered type, built-ins first, in the order defined. */
  types(): string[] {
    return [...this.#kinds.keys()];
  }

  all(): EventKind[] {
    return [...this.#kinds.values()];
  }

  /**
   * Checks an envelope against its kind's schema and returns the plugin's own copy of it, in
   * which every `x-untrusted` field is neutralised. Rejects with EVENT_TYPE_UNKNOWN or
   * EVENT_INVALID, whose `field` is the JSON pointer of the first offending value and whose
   * `problems` list them all.
   */
  validate(raw: unknown): KindEvent {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new PluginError('EVENT_INVALID', `expected an event object, received ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`, { field: '/' });
    }
    const type = (raw as { type?: unknown }).type;
    const kind = this.get(type);
    if (!kind) {
      throw new PluginError('EVENT_TYPE_UNKNOWN', `/type: expected one of ${this.types().join(', ')}, received ${JSON.stringify(type)?.slice(0, 80)}`, { field: '/type' });
    }
    let copy: KindEvent;
    try {
      copy = structuredClone(raw) as KindEvent;
    } catch (e) {
      throw new PluginError('EVENT_INVALID', `invalid ${kind.type} event: it holds a value that is not plain data (${(e as Error).message})`, { field: '/', cause: e });
    }
    const validate = this.#schemas.validator(kind.schemaPath);
    if (!validate(copy)) {
      const problems = toProblems(validate.errors);
      const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
      throw new PluginError('EVENT_INVALID', `invalid ${kind.type} event: ${list}`, { field: problems[0]!.path, problems });
    }
    if (Number.isNaN(Date.parse(copy.occurredAt))) {
      // RFC 3339 allows a leap second (23:59:60), which Date cannot hold: read it as :59 rather than refuse the event.
      const leap = copy.occurredAt.replace(/^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):60/, '$1:59');
      if (leap === copy.occurredAt || Number.isNaN(Date.parse(leap))) {
        throw new PluginError('EVENT_INVALID', 'invalid event: /occurredAt is not a real date', { field: '/occurredAt' });
      }
      copy.occurredAt = leap;
    }
    return copy;
  }

  /**
   * Who an accepted event's mail goes to, by its kind. Rejects with EVENT_INVALID when the kind's
   * `recipients()` throws or returns no usable recipient (1 to 10 mail addresses).
   */
  recipient(event: KindEvent): Recipient {
    const kind = this.get(event.type);
    if (!kind) throw new PluginError('EVENT_TYPE_UNKNOWN', `/type: ${JSON.stringify(event.type)} is not a registered event kind`, { field: '/type' });
    let r: Recipient;
    try {
      r = kind.recipient(event);
    } catch (e) {
      throw new PluginError('EVENT_INVALID', `invalid ${event.type} event: its kind's recipients() threw (${(e as Error)?.message ?? e})`, { field: '/data', cause: e });
    }
    const validate = this.#schemas.validator('events/common.schema.json#/definitions/Recipient');
    const copy = structuredClone(r);
    if (!r || typeof r !== 'object' || !validate(copy)) {
      const problems = toProblems(validate.errors);
      throw new PluginError('EVENT_INVALID', `invalid ${event.type} event: its recipients() gave no usable recipient (${problems.map((p) => `${p.path} ${p.message}`).join('; ') || 'not an object'})`, {
        field: '/data/recipient',
        problems,
      });
    }
    return copy as Recipient;
  }

  /** Who an accepted (already checked) event's mail goes to. */
  recipientOf(event: KindEvent): Recipient {
    const kind = this.get(event.type);
    return kind ? kind.recipient(event) : (event.data as { recipient: Recipient }).recipient;
  }

  #templates(type: string, t: EventKindSpec['templates']): TemplateSet {
    let set: TemplateSet;
    if (typeof t === 'string') {
      let all = this.#dirs.get(t);
      if (!all) {
        if (!fs.existsSync(t)) throw refuse(`${type}: templates directory ${t} does not exist`, 'templates');
        all = loadTemplateDir(t);
        this.#dirs.set(t, all);
      }
      const parts = new Map([...all.parts].filter(([k]) => k.endsWith(`/${type}.subject`) || k.endsWith(`/${type}.text`) || k.endsWith(`/${type}.html`)));
      const languages = new Set([...parts.keys()].map((k) => k.slice(0, k.indexOf('/'))).filter(Boolean));
      const problems = all.problems.filter((p) => p.origin.includes(`${type}.`));
      set = { parts, partials: new Map(), languages, problems };
    } else if (t && typeof t === 'object' && !Array.isArray(t)) {
      set = inlineSet(type, t);
    } else {
      throw refuse(`${type}: templates must be a directory path or an object of Handlebars sources`, 'templates');
    }
    for (const [key, src] of set.parts) {
      try {
        parseTemplate(src.source);
      } catch (e) {
        throw refuse(`${type}: template ${src.origin} (${key}) does not parse: ${(e as Error).message}`, 'templates', e);
      }
    }
    for (const part of TEMPLATE_PARTS) {
      if (!set.parts.has(partKey('en', type, part)) && !set.parts.has(partKey(undefined, type, part))) {
        throw refuse(`${type}: templates have no ${part} in English or language-neutral form; every mail must be writable`, `templates/${part}`);
      }
    }
    return set;
  }

  #sample(type: string, s: NonNullable<EventKindSpec['sample']>): KindSample {
    const sample: KindSample = s && typeof s === 'object' && 'event' in s && (s as KindSample).event && typeof (s as KindSample).event === 'object' ? (s as KindSample) : { event: s as KindEvent };
    try {
      const event = this.validate(sample.event);
      if (event.type !== type) throw new PluginError('EVENT_INVALID', `/type: expected ${type}, received ${JSON.stringify(event.type)}`, { field: '/type' });
      this.recipient(event);
      return { event, ...(typeof sample.attachmentBytes === 'number' && { attachmentBytes: sample.attachmentBytes }) };
    } catch (e) {
      const err = e as PluginError;
      throw refuse(`${type}: sample is not a valid ${type} event: ${err.message}`, `sample${err.field && err.field !== '/' ? err.field : ''}`, e);
    }
  }
}

function resolveAttachments(type: string, list: EventKindSpec['attachments']): ResolvedAttachment[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw refuse(`${type}: attachments must be an array of { field, role?, name?, url? }`, 'attachments');
  const out: ResolvedAttachment[] = [];
  list.forEach((a, i) => {
    const at = `attachments/${i}`;
    if (!a || typeof a !== 'object' || typeof a.field !== 'string' || !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(a.field)) throw refuse(`${type}: ${at}/field must name a key of data`, `${at}/field`);
    const role = a.role ?? a.field.toLowerCase();
    if (!ROLE.test(role)) throw refuse(`${type}: ${at}/role must be lowercase letters, digits and dashes, received ${JSON.stringify(role)}`, `${at}/role`);
    const name = a.name ?? role;
    if (!ROLE.test(name)) throw refuse(`${type}: ${at}/name must be lowercase letters, digits and dashes, received ${JSON.stringify(name)}`, `${at}/name`);
    if (a.url !== undefined && a.url !== 'recordingUrl' && a.url !== 'faxUrl') throw refuse(`${type}: ${at}/url must be "recordingUrl" or "faxUrl"`, `${at}/url`);
    if (out.some((o) => o.role === role || o.field === a.field)) throw refuse(`${type}: ${at} repeats a field or role`, at);
    out.push(Object.freeze({ field: a.field, role, name, ...(a.url && { url: a.url }) }));
  });
  return out;
}

function inlineSet(type: string, t: KindTemplates): TemplateSet {
  const parts = new Map<string, TemplateSource>();
  const languages = new Set<string>();
  const add = (lang: string | undefined, src: Record<string, unknown>, at: string) => {
    for (const [k, v] of Object.entries(src)) {
      if (lang === undefined && k === 'languages') continue;
      if (!(TEMPLATE_PARTS as readonly string[]).includes(k)) throw refuse(`${type}: ${at}/${k}: unknown part; expected subject, text, html${lang === undefined ? ' or languages' : ''}`, `${at}/${k}`);
      if (typeof v !== 'string') throw refuse(`${type}: ${at}/${k} must be a Handlebars source string`, `${at}/${k}`);
      parts.set(partKey(lang, type, k as 'subject'), { source: v, origin: `kinds/${type}/${lang ? `${lang}/` : ''}${k}` });
      if (lang) languages.add(lang);
    }
  };
  add(undefined, t as Record<string, unknown>, 'templates');
  if (t.languages !== undefined) {
    if (!t.languages || typeof t.languages !== 'object') throw refuse(`${type}: templates/languages must be an object by language`, 'templates/languages');
    for (const [lang, src] of Object.entries(t.languages)) {
      const l = lang.toLowerCase();
      if (!LANG.test(l) || !src || typeof src !== 'object') throw refuse(`${type}: templates/languages/${lang}: expected a BCP 47 tag and an object of parts`, `templates/languages/${lang}`);
      add(l, src as Record<string, unknown>, `templates/languages/${lang}`);
    }
  }
  return parts.size === 0 ? EMPTY_SET : { parts, partials: new Map(), languages, problems: [] };
}
