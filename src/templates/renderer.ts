import * as crypto from 'node:crypto';
import Handlebars from 'handlebars';
import { convert as htmlToText } from 'html-to-text';
import { CssInliner } from './css-inliner';
import { PluginError } from '../errors';
import { neutraliseLine } from '../events';
import type { HostLog } from '../host-api';
import type { SpoolRecord } from '../spool';
import { buildContext, readerLocale, type TemplateContext, type TemplateTenant } from './context';
import { Formats, type Locale } from './format';
import { createEnvironment, KNOWN_HELPERS } from './helpers';
import { resolveLanguage } from './language';
import { TemplateDirectory } from './template-directory';
import { assertSafe, locate, type TemplateKind } from './template-safety';
import { configTemplateSet, EMPTY_SET, loadTemplateDir, overlay, partKey, TEMPLATE_PARTS, type TemplatePart, type TemplateSet, type TemplateSource } from './template-set';

export { assertSafe } from './template-safety';
export { TEMPLATE_PARTS, type TemplatePart } from './template-set';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
  /** The language the mail was written in (Content-Language, `<html lang>`). */
  language: string;
}

/** A tenant template that failed and was replaced by the next level. */
export interface TemplateProblem {
  tenant: string;
  /** Where the template lives: a file path, or a config path such as `tenants/acme/templates/call.missed/subject`. */
  template: string;
  line?: number;
  column?: number;
  message: string;
}

/** Template sources not saved anywhere yet (an admin UI's editor), used by preview in place of the tenant's own. */
export interface UnsavedSources {
  subject?: string;
  text?: string;
  html?: string;
  layout?: string;
  partials?: Record<string, string>;
}

export interface RenderOptions {
  /** Unsaved sources that win over the tenant's own for this render. */
  sources?: UnsavedSources;
  /** Receives every problem of this render (also those already logged before). */
  problems?: TemplateProblem[];
}

type Compiled = (ctx: unknown, opts: { data: { fmt: Locale }; partials: Partials }) => string;
type Partials = Readonly<Record<string, Compiled>>;

interface Candidate extends TemplateSource {
  trusted: boolean;
}

/** Compiled templates kept, by source text; a cap keeps edits over months from piling up. */
const COMPILED_CACHE_MAX = 2_000;
const WRAPPER = '{{#> layout}}{{{__body}}}{{/layout}}';

/**
 * Renders a spooled message. Each part (subject, text, html) is looked up separately:
 * tenant+language, tenant, default+language, default (English). Tenant sources come from the
 * tenant's config (`templates`, `partials`, `layout`) and its watched `templatesDir`, read afresh
 * for every message, so config and file changes apply at once; only compiled templates are
 * cached, by their source text. A tenant template that fails to compile or render is logged once
 * (tenant, template, line) and replaced by the next level, so the mail still goes out.
 * Each render gets its own partial set: the defaults overlaid by that tenant's, nothing else.
 */
export class Renderer {
  /** Formatting with this instance's own Intl cache, shared by the context builder and the helpers. */
  readonly #formats = new Formats();
  readonly #hb = createEnvironment(Handlebars, this.#formats);
  readonly #log: HostLog;
  readonly #defaults: TemplateSet;
  readonly #compiled = new Map<string, Compiled>();
  readonly #css = new CssInliner({ preserveImportant: true, applyWidthAttributes: false, applyHeightAttributes: false });
  readonly #reported = new Set<string>();
  readonly #dirs = new Map<string, TemplateDirectory>();
  readonly #partialSets = new Map<string, { key: string; html: Partials; text: Partials; problems: TemplateProblem[] }>();
  readonly #defaultPartials: { html: Partials; text: Partials };
  readonly #defaultLayout: Compiled;

  constructor(root: string, log: HostLog) {
    this.#log = log;
    this.#defaults = loadTemplateDir(root);
    for (const p of this.#defaults.problems) log.warn('default template file skipped', { file: p.origin, error: p.message });
    const html: Record<string, Compiled> = {};
    const text: Record<string, Compiled> = {};
    for (const [name, src] of this.#defaults.partials) {
      html[name] = this.#compile(src.source, 'partial', true, false);
      text[name] = this.#compile(src.source, 'partial', true, true);
    }
    this.#defaultPartials = { html: Object.freeze(html), text: Object.freeze(text) };
    if (!this.#defaults.layout) throw new PluginError('TEMPLATE_INVALID', `no layout.html.hbs in ${root}`);
    this.#defaultLayout = this.#compile(this.#defaults.layout.source, 'layout', true, false);
  }

  /** The default templates (package templates/). */
  get defaults(): TemplateSet {
    return this.#defaults;
  }

  /** The best default language for a BCP 47 tag: exact, then its primary subtag, then English. */
  language(tag: string | undefined): string {
    return resolveLanguage([tag], this.#defaults.languages).lang;
  }

  /** A tenant's own templates: its config over its directory. */
  tenantTemplates(tenant: TemplateTenant, prefix = `tenants/${tenant.id}`): TemplateSet {
    const fromConfig = configTemplateSet(tenant, prefix);
    const usableId = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(tenant.id);
    const dir = tenant.templatesDir && usableId ? this.#dir(tenant.templatesDir.replace(/\{tenant\}/g, tenant.id)).get() : EMPTY_SET;
    return overlay(fromConfig, dir);
  }

  render(rec: SpoolRecord, tenant: TemplateTenant, opts: RenderOptions = {}): RenderedMail {
    let own = this.tenantTemplates(tenant);
    const unsaved = opts.sources ? unsavedSet(opts.sources, rec.type) : EMPTY_SET;
    if (opts.sources) own = overlay({ ...unsaved, parts: new Map() }, own);
    const recipient = (rec.event.data as { recipient: { language?: string } }).recipient;
    const supported = new Set([...this.#defaults.languages, ...own.languages]);
    const { lang, chain } = resolveLanguage([recipient.language, tenant.language], supported);
    const fmt = readerLocale(rec, tenant, lang, this.#formats);
    const ctx = buildContext(rec, tenant, lang, this.#formats, fmt);
    const report = (src: TemplateSource, e: unknown) => this.#problem(tenant.id, src, e, opts.problems);
    const partials = this.#tenantPartials(tenant.id, own, report, opts.problems);

    const candidates = (p: TemplatePart) => {
      const out: Candidate[] = [];
      const add = (set: TemplateSet, l: string | undefined, trusted: boolean) => {
        const s = set.parts.get(partKey(l, rec.type, p));
        if (s) out.push({ ...s, trusted });
      };
      add(unsaved, undefined, false);
      for (const l of chain) add(own, l, false);
      add(own, undefined, false);
      for (const l of chain) add(this.#defaults, l, true);
      add(this.#defaults, 'en', true);
      return out;
    };
    const renderPart = (p: TemplatePart, c: TemplateContext): { out: string; fromTenant: boolean } => {
      const noEscape = p !== 'html';
      for (const cand of candidates(p)) {
        try {
          const fn = this.#compile(cand.source, p, cand.trusted, noEscape);
          return { out: fn(c, { data: { fmt }, partials: noEscape ? partials.text : partials.html }), fromTenant: !cand.trusted };
        } catch (e) {
          if (!cand.trusted) {
            report(cand, e);
            continue;
          }
          // A default failing with the tenant's partials: the tenant's partial broke it. Retry with the defaults alone.
          const fn = this.#compile(cand.source, p, true, noEscape);
          return { out: fn(c, { data: { fmt }, partials: noEscape ? this.#defaultPartials.text : this.#defaultPartials.html }), fromTenant: false };
        }
      }
      throw new PluginError('TEMPLATE_INVALID', `no default template for ${rec.type}.${p}`);
    };

    ctx.subject = neutraliseLine(renderPart('subject', ctx).out, 250);
    const body = renderPart('html', ctx);
    const html = this.#layout(ctx, body.out, own, partials.html, fmt, report);
    const hasOwnText = unsaved.parts.has(partKey(undefined, rec.type, 'text')) || [...chain, undefined].some((l) => own.parts.has(partKey(l, rec.type, 'text')));
    const text = body.fromTenant && !hasOwnText ? deriveText(html) : renderPart('text', ctx).out;
    return { subject: ctx.subject, text: text.replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim() + '\n', html, language: lang };
  }

  #layout(ctx: TemplateContext, body: string, own: TemplateSet, partials: Partials, fmt: Locale, report: (s: TemplateSource, e: unknown) => void): string {
    const wrapper = this.#compile(WRAPPER, 'layout', true, false);
    const data = { ...ctx, __body: body };
    let html: string | undefined;
    if (own.layout) {
      try {
        html = wrapper(data, { data: { fmt }, partials: { ...partials, layout: this.#compile(own.layout.source, 'layout', false, false) } });
      } catch (e) {
        report(own.layout, e);
      }
    }
    html ??= wrapper(data, { data: { fmt }, partials: { ...partials, layout: this.#defaultLayout } });
    try {
      return this.#css.inline(html);
    } catch (e) {
      this.#log.warn('CSS inlining failed; the HTML part is sent with its <style> block', { error: (e as Error).message });
      return html;
    }
  }

  /** The partials a tenant's render sees: the defaults overlaid by the tenant's own, compiled once per set of sources. */
  #tenantPartials(tenant: string, own: TemplateSet, report: (s: TemplateSource, e: unknown) => void, sink: TemplateProblem[] | undefined) {
    if (own.partials.size === 0) return this.#defaultPartials;
    const key = hash([...own.partials].map(([n, s]) => `${n}\0${s.source}`).join('\0\0'));
    let entry = this.#partialSets.get(tenant);
    if (!entry || entry.key !== key) {
      const html: Record<string, Compiled> = { ...this.#defaultPartials.html };
      const text: Record<string, Compiled> = { ...this.#defaultPartials.text };
      const problems: TemplateProblem[] = [];
      for (const [name, src] of own.partials) {
        try {
          html[name] = this.#compile(src.source, 'partial', false, false);
          text[name] = this.#compile(src.source, 'partial', false, true);
        } catch (e) {
          problems.push(this.#toProblem(tenant, src, e));
          report(src, e);
        }
      }
      entry = { key, html: Object.freeze(html), text: Object.freeze(text), problems };
      this.#partialSets.set(tenant, entry);
    } else if (sink) {
      sink.push(...entry.problems);
    }
    return entry;
  }

  #compile(source: string, kind: TemplateKind, trusted: boolean, noEscape: boolean): Compiled {
    const key = `${trusted ? 't' : 'u'}${noEscape ? 'n' : 'e'}${kind}\0${source}`;
    let fn = this.#compiled.get(key);
    if (!fn) {
      if (!trusted) assertSafe(source, kind);
      const t = this.#hb.compile(source, { noEscape, strict: false, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true });
      fn = t as unknown as Compiled;
      if (this.#compiled.size >= COMPILED_CACHE_MAX) this.#compiled.clear();
      this.#compiled.set(key, fn);
    }
    return fn;
  }

  #toProblem(tenant: string, src: TemplateSource, e: unknown): TemplateProblem {
    const message = (e instanceof PluginError ? e.message : String((e as Error)?.message ?? e)).replace(/ \(line \d+, column \d+\)$/, '').replace(/ - \d+:\d+$/, '');
    return { tenant, template: src.origin, ...locate(e), message };
  }

  /** Logs a failing tenant template once per distinct source, not once per message. */
  #problem(tenant: string, src: TemplateSource, e: unknown, sink: TemplateProblem[] | undefined): void {
    const problem = this.#toProblem(tenant, src, e);
    sink?.push(problem);
    const key = hash(`${tenant}\0${src.origin}\0${src.source}`);
    if (this.#reported.has(key)) return;
    if (this.#reported.size >= COMPILED_CACHE_MAX) this.#reported.clear();
    this.#reported.add(key);
    this.#log.warn('tenant template failed; the next level is used for this part', { code: 'TEMPLATE_INVALID', ...problem });
  }

  #dir(dir: string): TemplateDirectory {
    let d = this.#dirs.get(dir);
    if (!d) {
      d = new TemplateDirectory(dir, this.#log);
      this.#dirs.set(dir, d);
    }
    return d;
  }

  /** Stops watching every templates directory. */
  dispose(): void {
    for (const d of this.#dirs.values()) d.dispose();
    this.#dirs.clear();
  }
}

function hash(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

function unsavedSet(s: UnsavedSources, type: string): TemplateSet {
  const parts = new Map<string, TemplateSource>();
  for (const p of TEMPLATE_PARTS) if (typeof s[p] === 'string') parts.set(partKey(undefined, type, p), { source: s[p]!, origin: `unsaved/${type}/${p}` });
  const partials = new Map(Object.entries(s.partials ?? {}).map(([n, source]) => [n, { source, origin: `unsaved/partials/${n}` }]));
  const layout = typeof s.layout === 'string' ? { source: s.layout, origin: 'unsaved/layout' } : undefined;
  return { parts, partials, languages: new Set(), problems: [], ...(layout && { layout }) };
}

/** The text part of a tenant's HTML-only mail. */
export function deriveText(html: string): string {
  return htmlToText(html, {
    wordwrap: 78,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'table', format: 'block' },
      { selector: 'tr', format: 'block' },
      { selector: 'td', format: 'inline' },
    ],
  });
}
