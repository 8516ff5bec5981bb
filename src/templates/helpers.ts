import type Handlebars from 'handlebars';
import type { Formats, Locale } from './format';
import { budgetOf } from './render-budget';
import { escapeHtml, SafeHtml } from './safe-string';
import { safeUrl, URL_HELPER } from './url-attributes';

type HelperOptions = { hash?: Record<string, unknown>; data?: { fmt?: Locale; html?: boolean }; fn?: unknown };

/** A Handlebars helper an extension adds (`api.helper(name, fn)`). */
export type ExtensionHelper = (...args: any[]) => unknown;

const BUILT_IN = ['if', 'unless', 'each', 'with', 'lookup'] as const;
const OWN_NAMES = ['datetime', 'date', 'time', 'duration', 'phone', 'filesize', 'plural', 'number', 'default', 'eq', 'urlencode', 'tel'] as const;
type OwnName = (typeof OWN_NAMES)[number];

/**
 * The helpers templates may call; every one returns plain text, which Handlebars escapes in
 * HTML parts, so none can emit unescaped event data. Handlebars' `log` and `helperMissing`
 * tricks are not among them. The README's template guide documents each with an example.
 * `formats` is the Renderer's own (one Intl cache per instance).
 */
function ownHelpers(formats: Formats) {
  return {
    /** `{{datetime event.occurredAt}}`, `{{datetime event.occurredAt dateStyle="short" timeStyle="short"}}` */
    datetime: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), o?.hash?.dateStyle ?? 'full', o?.hash?.timeStyle ?? 'short', o?.hash?.zone),
    /** `{{date event.occurredAt}}` (style="full|long|medium|short", default long) */
    date: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), o?.hash?.style ?? 'long', 'none'),
    /** `{{time event.occurredAt}}` (style="full|long|medium|short", default short); times carry the zone unless zone=false */
    time: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), 'none', o?.hash?.style ?? 'short', o?.hash?.zone),
    /** `{{duration voicemail.durationSeconds}}` -> 1:05; `{{duration voicemail.durationSeconds style="long"}}` -> 1 minute, 5 seconds */
    duration: (v: unknown, o: HelperOptions) => formats.formatDuration(v, o?.hash?.style ?? 'digital', fmt(o).locale),
    /** `{{phone caller.number}}`; format="national|international" forces one form */
    phone: (v: unknown, o: HelperOptions) => formats.formatPhone(v, fmt(o).country, o?.hash?.format ?? 'auto'),
    /** `{{filesize attachment.bytes}}` -> 481.4 kB */
    filesize: (v: unknown, o: HelperOptions) => formats.formatSize(v, fmt(o).locale),
    /** `{{plural fax.pages one="# page" other="# pages"}}` (zero, two, few, many too) */
    plural: (v: unknown, o: HelperOptions) => formats.plural(v, o.hash ?? {}, fmt(o).locale),
    /** `{{number fax.pages}}` */
    number: (v: unknown, o: HelperOptions) => formats.formatNumber(v, fmt(o).locale),
    /** `{{default caller.name "unknown caller"}}`: the value, or the fallback when it is empty */
    default: (v: unknown, fallback: unknown) => (v === undefined || v === null || v === '' ? text(fallback) : text(v)),
    /** `{{#if (eq fax.status "partial")}}…{{/if}}` */
    eq: (a: unknown, b: unknown) => a === b,
    /** `https://crm.example/lookup?phone={{urlencode caller.number}}`: the value as one URL component */
    urlencode: (v: unknown) => encodeURIComponent(text(v)),
    /** `<a href="{{tel caller.number}}">`: a click-to-call `tel:` URI of the number's digits (and a leading +); empty without digits */
    tel: (v: unknown) => {
      const raw = text(v).trim();
      const digits = raw.replace(/[^0-9]/g, '').slice(0, 32);
      return digits ? `tel:${raw.startsWith('+') ? '+' : ''}${digits}` : '';
    },
  } satisfies Record<OwnName, (...args: any[]) => unknown>;
}

export type HelperName = (typeof BUILT_IN)[number] | OwnName;

/** Every helper name a template may use. */
export const ALLOWED_HELPERS: ReadonlySet<string> = new Set<string>([...BUILT_IN, ...OWN_NAMES]);

/** Names no extension helper may take: the built-in ones, Handlebars' own and the internal URL guard. */
export const RESERVED_HELPERS: ReadonlySet<string> = new Set<string>([...ALLOWED_HELPERS, 'log', 'helperMissing', 'blockHelperMissing', URL_HELPER, 'constructor', '__proto__']);

/** Compile options that make Handlebars itself refuse any helper outside the allowed set (plus `extra`, an instance's extension helpers). */
export function knownHelpers(extra: Iterable<string> = []): Record<string, boolean> {
  return { ...Object.fromEntries([...ALLOWED_HELPERS, ...extra, URL_HELPER].map((h) => [h, true])), log: false };
}

/** Compile options that make Handlebars itself refuse any helper outside the allowed set. */
export const KNOWN_HELPERS: Record<string, boolean> = knownHelpers();

function fmt(o: HelperOptions): Locale {
  return o?.data?.fmt ?? { locale: 'en', timeZone: 'UTC' };
}

function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

/**
 * A Handlebars environment of its own with exactly the allowed helpers (nothing registered
 * globally), formatting with `formats`. Every helper call, `#each` iteration and partial call
 * (inline partials too) is counted against the render's Budget when its data frame has one.
 */
export function createEnvironment(hb: typeof Handlebars, formats: Formats, extensions: ReadonlyMap<string, ExtensionHelper> = new Map()): typeof Handlebars {
  const env = hb.create();
  env.unregisterHelper('log');
  for (const [name, fn] of Object.entries(ownHelpers(formats))) env.registerHelper(name, fn as Handlebars.HelperDelegate);
  env.registerHelper(URL_HELPER, (v: unknown) => safeUrl(v instanceof SafeHtml ? v.toString() : v));
  for (const [name, fn] of extensions) env.registerHelper(name, escaped(fn, env) as Handlebars.HelperDelegate);
  const helpers = env.helpers as Record<string, (...args: unknown[]) => unknown>;
  for (const [name, fn] of Object.entries(helpers)) helpers[name] = counted(name, fn);
  // Only this environment's VM is replaced: templates it compiles call partials through it.
  const vm = (env as unknown as { VM: Record<string, unknown> & { invokePartial: (this: unknown, ...a: unknown[]) => unknown } }).VM;
  const invokePartial = vm.invokePartial;
  (env as unknown as { VM: unknown }).VM = {
    ...vm,
    invokePartial(this: unknown, partial: unknown, context: unknown, options: unknown) {
      const budget = budgetOf(options);
      if (!budget) return invokePartial.call(this, partial, context, options);
      budget.enterPartial();
      try {
        const out = invokePartial.call(this, partial, context, options);
        if (typeof out === 'string') budget.output(out.length);
        return out;
      } finally {
        budget.leavePartial();
      }
    },
  };
  return env;
}

/**
 * An extension helper whose output is escaped unless it was made with safeString: a value that
 * merely looks like Handlebars' SafeString (anything with toHTML) is turned into text, and a
 * block helper's result (which Handlebars would emit as it is) is escaped in HTML parts.
 */
function escaped(fn: ExtensionHelper, env: typeof Handlebars): ExtensionHelper {
  return function (this: unknown, ...args: unknown[]) {
    const options = args[args.length - 1] as HelperOptions | undefined;
    const out = fn.apply(this, args);
    if (out instanceof SafeHtml) return new env.SafeString(out.toHTML());
    const value = out !== null && typeof out === 'object' && typeof (out as { toHTML?: unknown }).toHTML === 'function' ? String(out) : out;
    if (typeof options?.fn === 'function' && options.data?.html) return escapeHtml(value);
    return value;
  };
}

function counted(name: string, fn: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]) {
    const options = args[args.length - 1] as { fn?: unknown } | undefined;
    const budget = budgetOf(options);
    if (budget) {
      budget.step();
      if (name === 'each' && typeof options?.fn === 'function') {
        const body = options.fn as (this: unknown, ...a: unknown[]) => string;
        let total = 0;
        args[args.length - 1] = {
          ...options,
          fn(this: unknown, ...a: unknown[]) {
            budget.step();
            const out = body.apply(this, a);
            total += out.length;
            budget.output(total);
            return out;
          },
        };
      }
    }
    return fn.apply(this, args);
  };
}
