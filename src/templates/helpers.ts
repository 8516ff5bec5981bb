import type Handlebars from 'handlebars';
import type { Formats, Locale } from './format';
import { budgetOf } from './render-budget';

type HelperOptions = { hash?: Record<string, unknown>; data?: { fmt?: Locale } };

const BUILT_IN = ['if', 'unless', 'each', 'with', 'lookup'] as const;
const OWN_NAMES = ['datetime', 'date', 'time', 'duration', 'phone', 'filesize', 'plural', 'number', 'default', 'eq'] as const;
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
    datetime: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), o?.hash?.dateStyle ?? 'full', o?.hash?.timeStyle ?? 'short'),
    /** `{{date event.occurredAt}}` (style="full|long|medium|short", default long) */
    date: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), o?.hash?.style ?? 'long', 'none'),
    /** `{{time event.occurredAt}}` (style="full|long|medium|short", default short) */
    time: (v: unknown, o: HelperOptions) => formats.formatDateTime(v, fmt(o), 'none', o?.hash?.style ?? 'short'),
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
  } satisfies Record<OwnName, (...args: any[]) => unknown>;
}

export type HelperName = (typeof BUILT_IN)[number] | OwnName;

/** Every helper name a template may use. */
export const ALLOWED_HELPERS: ReadonlySet<string> = new Set<string>([...BUILT_IN, ...OWN_NAMES]);

/** Compile options that make Handlebars itself refuse any helper outside the allowed set. */
export const KNOWN_HELPERS: Record<string, boolean> = {
  ...Object.fromEntries([...ALLOWED_HELPERS].map((h) => [h, true])),
  log: false,
};

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
export function createEnvironment(hb: typeof Handlebars, formats: Formats): typeof Handlebars {
  const env = hb.create();
  env.unregisterHelper('log');
  for (const [name, fn] of Object.entries(ownHelpers(formats))) env.registerHelper(name, fn as Handlebars.HelperDelegate);
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
