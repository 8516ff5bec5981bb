import type { HostLog } from '../host-api';
import type { Hook, HookName } from '../hooks';
import type { EventKindSpec, KindApi } from '../kinds';
import type { SafeHtml } from '../templates/safe-string';

/**
 * What an extension module's `register(api)` is given. Everything it registers belongs to the
 * plugin instance that loaded it; registering is possible only while `register` runs (until
 * `activate()` resolves), and a `register` that throws or rejects has nothing it registered kept.
 *
 * @example
 * // my-extension/index.js, named in the configuration as "extensions": ["/opt/pbx/my-extension"]
 * exports.register = (api) => {
 *   api.defineEvent('trunk.down', { schema, templates: { subject: 'Trunk {{event.data.trunk}} is down', text: '…', html: '…' } });
 *   api.hook('beforeSend', ({ message }) => { message.headers['X-Trunk-Alert'] = 'yes'; });
 * };
 */
export interface ExtensionApi extends KindApi {
  /**
   * Defines an event kind: the plugin then subscribes to `type`, validates its events against
   * `schema` (refusing bad ones with EVENT_INVALID naming the field), neutralises its
   * `x-untrusted` fields, spools, schedules, renders (tenants override it under
   * `templates[type]`), previews and checks it like a built-in kind. Refused with KIND_INVALID.
   * @example
   * api.defineEvent('call.recording.ready', {
   *   schema: { type: 'object', additionalProperties: false, required: ['recipient', 'title', 'url'], properties: {
   *     recipient: api.shapes.Recipient,
   *     title: { type: 'string', description: 'Call title.', 'x-untrusted': true },
   *     url: { type: 'string', description: 'Where to listen.', pattern: '^https://' } } },
   *   templates: path.join(__dirname, 'templates'),
   *   sample: { id: 'sample-1', type: 'call.recording.ready', tenant: 'sample.example.com', occurredAt: '2026-11-28T12:00:00Z', data: { … } },
   * });
   */
  defineEvent<D = Record<string, unknown>>(type: string, spec: EventKindSpec<D>): void;
  /**
   * Registers a hook of the closed set (onAccepted, beforeRender, beforeSend, afterDelivery,
   * onOutcome), each called with one state object and on the budget `delivery.hookTimeoutMs`.
   * An unknown name or a non-function is refused with HOOK_INVALID.
   * @example api.hook('beforeSend', ({ event, message }) => { if (event.type.startsWith('call.')) message.headers['X-CRM'] = 'https://crm.example'; })
   */
  hook<N extends HookName>(name: N, fn: Hook<N>): void;
  /**
   * Adds a Handlebars helper for every template (defaults, tenants', this and other extensions').
   * Its output is HTML-escaped unless it returns `api.safeString(...)`. A name a built-in helper
   * or another extension already has is refused with HELPER_INVALID. A helper that throws fails
   * only the template it was called from (a tenant template falls back to the next level).
   * @example api.helper('initials', (name) => String(name ?? '').split(/\s+/).map((w) => w[0] ?? '').join(''))
   */
  helper(name: string, fn: (...args: any[]) => unknown): void;
  /**
   * Marks helper output as HTML the helper has made safe: the only way a helper emits markup.
   * Escape every value that came from the event with `api.escape`.
   * @example api.helper('badge', (label) => api.safeString(`<b class="badge">${api.escape(label)}</b>`))
   */
  safeString(html: string): SafeHtml;
  /**
   * HTML-escapes text exactly as `{{value}}` does in an HTML template.
   * @example api.escape('<b>') // '&lt;b&gt;'
   */
  escape(value: unknown): string;
  /**
   * The host's logger, every line tagged with `extension: <name>`.
   * @example api.log.info('CRM lookup failed', { status: 503 })
   */
  readonly log: HostLog;
  /**
   * This extension's name: its package's `name`, else the module file's.
   * @example api.log.info(`${api.name} loaded`)
   */
  readonly name: string;
}

/**
 * What an extension module exports.
 * @example module.exports = { register(api) { api.hook('onAccepted', ({ event }) => api.log.info('accepted', { id: event.id })); } };
 */
export interface ExtensionModule {
  register(api: ExtensionApi): void | Promise<void>;
}

/** How one configured extension fared at activation (`status().extensions`). */
export interface ExtensionStatus {
  /** As written in the configuration's `extensions`. */
  module: string;
  /** Its package name, else the file's base name. */
  name: string;
  /** The file that was loaded, when it was found. */
  path?: string;
  state: 'loaded' | 'failed';
  /** Why it failed (EXTENSION_FAILED), when it did. */
  error?: { code: 'EXTENSION_FAILED'; message: string };
  /** Event types it defined. */
  kinds: string[];
  /** Hooks it registered, by name. */
  hooks: string[];
  /** Template helpers it added. */
  helpers: string[];
}
