import type { TemplateSet } from '../templates/template-set';

/**
 * Terminology:
 * - an **event kind** is everything the plugin knows about one PBX event type
 *   (`call.recording.ready`, say): its schema, which fields are untrusted,
 *   which carry files, who gets the mail, what the templates see, a sample and the default
 *   templates. The built-in kinds and an extension's kinds are defined the same way.
 * - the **envelope** is what the PBX sends: `{ id, type, tenant, occurredAt, data }`; a kind's
 *   schema describes `data`, the envelope around it is the same for every kind.
 */

/**
 * An accepted event: validated against its kind's schema, every `x-untrusted` field neutralised.
 * @example { id: 'rec-1', type: 'call.recording.ready', tenant: 'acme.example.com', occurredAt: '2026-11-28T12:00:00Z', data: { recipient, title: 'Call with Bob' } }
 */
export interface KindEvent<D = Record<string, unknown>> {
  id: string;
  type: string;
  tenant: string;
  /** RFC 3339 date-time. */
  occurredAt: string;
  data: D;
}

/**
 * Who a kind's mail goes to (the shape of `data.recipient` in the built-in kinds).
 * @example { extension: '201', name: 'Alice', email: ['alice@acme.example.com'], language: 'de', timeZone: 'Europe/Berlin' }
 */
export interface Recipient {
  extension: string;
  name?: string;
  /** 1 to 10 mail addresses. */
  email: string[];
  /** BCP 47 tag: the mail's language when the kind has templates in it. */
  language?: string;
  /** IANA zone the mail's times are shown in. */
  timeZone?: string;
}

/**
 * One field of `data` that holds a FileRef (`{ path, contentType, filename? }`) to copy into the
 * spool at intake and attach at delivery (up to the tenant's `attachments.maxBytes`).
 * @example { field: 'recording', role: 'recording', name: 'recording', url: 'recordingUrl' }
 */
export interface AttachmentField {
  /** The key in `data`, e.g. `recording`. */
  field: string;
  /** What the file is, lowercase letters, digits and dashes (also the file's name in the spool). @default the field */
  role?: string;
  /** First word of the attachment's name in the mail (`<name>-20261128-120000-15550100.wav`). @default the role */
  name?: string;
  /** The tenant URL template (`attachments.recordingUrl` or `attachments.faxUrl`) that links the file when it is not attached. */
  url?: 'recordingUrl' | 'faxUrl';
}

/** An AttachmentField with its defaults filled in. */
export interface ResolvedAttachment {
  readonly field: string;
  readonly role: string;
  readonly name: string;
  readonly url?: 'recordingUrl' | 'faxUrl';
}

/** Handlebars sources of a kind's mail, each part optional. */
export interface PartSources {
  subject?: string;
  text?: string;
  html?: string;
}

/**
 * A kind's default templates given inline: language-neutral parts and per-language ones (the
 * same shape as a tenant's `templates[type]`). Every part must exist in English or
 * language-neutral form, so a mail can always be written.
 * @example { languages: { en: { subject: 'Recording: {{event.data.title}}', text: '…', html: '…' }, de: { subject: 'Aufnahme: {{event.data.title}}' } } }
 */
export interface KindTemplates extends PartSources {
  languages?: Record<string, PartSources>;
}

/** A sample event for previews and `templates check`, and the size its files are shown with. */
export interface KindSample<D = Record<string, unknown>> {
  event: KindEvent<D>;
  /** @default 0 */
  attachmentBytes?: number;
}

/**
 * Formatting for a kind's context builder, in the reader's language, zone and tenant country.
 * @example tools.phone('+493012345678') // '030 12345678' for a tenant in DE
 */
export interface ContextTools {
  /** The reader's locale, e.g. `de-AT`. */
  readonly locale: string;
  /** The zone times are shown in. */
  readonly timeZone: string;
  /** A phone number for reading (national in the tenant's country, else international). */
  phone(value: unknown): string;
  /** Seconds as `1:05`, or `1 minute, 5 seconds` with style `long`. */
  duration(seconds: unknown, style?: 'digital' | 'long'): string;
  /** A date-time as full date and short time with the zone (`Samstag, 28. November 2026 um 13:00 MEZ`). */
  dateTime(value: unknown): string;
  /** Bytes as `481.4 kB` (`578 bytes` below 1 kB). */
  size(bytes: unknown): string;
  /** The built-in `caller` variable of a party (`{ number, name? }`): adds `numberFormatted` and `display`. */
  caller<P extends { number: string; name?: string }>(party: P): P & { numberFormatted: string; display: string };
}

/**
 * What `defineEvent` takes: the whole description of one event kind.
 * @example
 * api.defineEvent('voicemail.box.full', {
 *   schema: { type: 'object', additionalProperties: false, required: ['recipient', 'used'], properties: { recipient: api.shapes.Recipient, used: { type: 'integer', description: 'Messages in the box.' } } },
 *   templates: { subject: 'Your voicemail box is full', text: '{{event.data.used}} messages', html: '<p>{{event.data.used}} messages</p>' },
 * });
 */
export interface EventKindSpec<D = Record<string, unknown>> {
  /**
   * JSON Schema (draft-07) of the event's `data`. `"x-untrusted": true` on a string property
   * marks caller-controlled text, neutralised like a caller name (`{ "limit": n, "multiline": true }`
   * for long text). `api.shapes` has the built-in Recipient, Party and FileRef.
   */
  schema: Record<string, unknown>;
  /** Default templates: inline sources, or the path of a directory laid out like the package's `templates/` (`<lang>/<type>.<part>.hbs`). */
  templates: string | KindTemplates;
  /** Who gets the mail. @default event.data.recipient */
  recipients?: (event: KindEvent<D>) => Recipient;
  /** Fields of `data` holding files to attach. @default none */
  attachments?: AttachmentField[];
  /** Convenience variables the templates see beside `event`, `recipient`, `when`, `brand`… @default none */
  context?: (event: KindEvent<D>, tools: ContextTools) => Record<string, unknown>;
  /** A sample for previews and `templates check`; validated against `schema` when defined. */
  sample?: KindEvent<D> | KindSample<D>;
}

/** A registered kind, as every stage of the pipeline uses it. */
export interface EventKind {
  readonly type: string;
  /** `built-in`, or the extension that defined it. */
  readonly origin: string;
  readonly builtIn: boolean;
  /** Path of its envelope schema in the SchemaRegistry. */
  readonly schemaPath: string;
  /** Its default templates (parts of this type only). */
  readonly templates: TemplateSet;
  readonly attachments: readonly ResolvedAttachment[];
  recipient(event: KindEvent): Recipient;
  context(event: KindEvent, tools: ContextTools): Record<string, unknown>;
  readonly sample?: KindSample;
}

/** The part of the extension API that defines kinds (what a built-in kind's module uses). */
export interface KindApi {
  /**
   * Defines an event kind (see ExtensionApi.defineEvent).
   * @example api.defineEvent('trunk.down', { schema, templates: path.join(__dirname, 'templates') })
   */
  defineEvent<D = Record<string, unknown>>(type: string, spec: EventKindSpec<D>): void;
  /**
   * JSON Schemas of the shared shapes, for `$ref` from a kind's schema.
   * @example { type: 'object', properties: { recipient: api.shapes.Recipient, caller: api.shapes.Party, file: api.shapes.FileRef } }
   */
  readonly shapes: { readonly Recipient: { $ref: string }; readonly Party: { $ref: string }; readonly FileRef: { $ref: string } };
}
