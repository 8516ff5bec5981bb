import * as crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Handlebars from 'handlebars';
import { LRUCache } from 'lru-cache';
import { convert as htmlToText, type FormatCallback } from 'html-to-text';
import { CssInliner } from './css-inliner';
import { SchemaRegistry } from '../config';
import { PluginError } from '../errors';
import { neutraliseLine } from '../events';
import type { HostLog } from '../host-api';
import { builtInKinds, type EventKind, type KindRegistry } from '../kinds';
import type { SpoolRecord } from '../spool';
import { buildContext, readerLocale, type TemplateContext, type TemplateTenant } from './context';
import { Formats, type Locale } from './format';
import { ALLOWED_HELPERS, createEnvironment, knownHelpers, type ExtensionHelper } from './helpers';
import { guardUrlAttributes } from './url-attributes';
import { resolveLanguage } from './language';
import { mailLanguage, partCandidates, textFromHtml, type PartLevel } from './part-lookup';
import { Budget, BudgetExceeded, DEFAULT_RENDER_LIMITS, type BudgetLimit, type RenderLimits } from './render-budget';
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
  /** Where the template lives: a file path, or a config path such as `tenants/acme/templates/<type>/subject`. */
  template: string;
  line?: number;
  column?: number;
  message: string;
  /** The render budget limit the template ran into, when that was the problem. */
  limit?: BudgetLimit;
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
  /** Unsaved sources that win over the tenant's own for this render. They are compiled for this render alone and never cached. */
  sources?: UnsavedSources;
  /** Receives every problem of this render (also those already logged before). */
  problems?: TemplateProblem[];
  /** Receives, for each entry of `problems`, a key that is the same for the same problem of the same source (for logging once). */
  problemKeys?: string[];
  /** The tenant's own templates, already resolved (a render worker gets them from the main thread); else read from its config and directory. */
  own?: TemplateSet;
  /** The budget of this render; the Renderer's own when omitted. */
  limits?: RenderLimits;
  /** Told which stage runs, before it runs (a render worker keeps it where the main thread can read it after stopping the worker). */
  stage?: (stage: RenderStage) => void;
  /** Stages in which no tenant template may run (after one of them had to be stopped from outside): the defaults are used there. */
  avoid?: ReadonlySet<RenderStage>;
  /** What beforeRender hooks added, seen by templates as `view`. */
  view?: Record<string, unknown>;
}

/** The steps of one render, in order. `css` is CSS inlining, `derive` the text part made from the tenant's HTML. */
export const RENDER_STAGES = ['subject', 'html', 'layout', 'css', 'derive', 'text'] as const;
export type RenderStage = (typeof RENDER_STAGES)[number];

type Compiled = (ctx: unknown, opts: { data: { fmt: Locale; budget?: Budget; html?: boolean }; partials: Partials }) => string;
type Partials = Readonly<Record<string, Compiled>>;

interface Candidate extends TemplateSource {
  /** Where it comes from (unsaved preview sources stand for the tenant's). */
  level: PartLevel;
  trusted: boolean;
  /** From preview sources: compiled for this render only. */
  unsaved: boolean;
}

/** Compiled templates kept, by source text; a cap keeps edits over months from piling up. */
const COMPILED_CACHE_MAX = 2_000;
/** Characters of template source the compiled cache may hold. */
const COMPILED_CACHE_CHARS = 32_000_000;
/** Tenants whose compiled partial sets are kept. */
const PARTIAL_SETS_MAX = 1_000;
/** Watched tenant template directories (each a few inotify watches). */
const DIRECTORIES_MAX = 256;
/** Problems remembered as logged. */
const REPORTED_MAX = 10_000;
/** Templates that ran out of time are skipped for this long before they are tried again, in milliseconds. */
const OVER_TIME_TTL_MS = 15 * 60_000;
const WRAPPER = '{{#> layout}}{{{__body}}}{{/layout}}';

/**
 * Renders a spooled message. Each part (subject, text, html) is looked up separately, in the
 * order of `partLevels` (tenant+language, tenant, default+language, default, English default).
 * Tenant sources come from the
 * tenant's config (`templates`, `partials`, `layout`) and its watched `templatesDir`, read afresh
 * for every message, so config and file changes apply at once; only compiled templates are
 * cached, by their source text. A tenant template that fails to compile or render is logged once
 * (tenant, template, line) and replaced by the next level, so the mail still goes out.
 * Each render gets its own partial set: the defaults overlaid by that tenant's, nothing else.
 */
export class Renderer {
  /** Formatting with this instance's own Intl cache, shared by the context builder and the helpers. */
  readonly #formats = new Formats();
  readonly #hb: typeof Handlebars;
  /** Every helper a template may call: the built-in ones and this instance's extension helpers. */
  readonly #allowed: ReadonlySet<string>;
  readonly #known: Record<string, boolean>;
  readonly #log: HostLog;
  readonly #kinds: KindRegistry;
  /** The package templates/ folder: the layout and the partials every kind's mail shares. */
  readonly #shared: TemplateSet;
  readonly #limits: RenderLimits;
  readonly #compiled = new LRUCache<string, Compiled>({ max: COMPILED_CACHE_MAX, maxSize: COMPILED_CACHE_CHARS, sizeCalculation: (_v, k) => Math.max(1, k.length) });
  readonly #css = new CssInliner({ preserveImportant: true, applyWidthAttributes: false, applyHeightAttributes: false });
  readonly #reported = new LRUCache<string, true>({ max: REPORTED_MAX });
  readonly #dirs = new LRUCache<string, TemplateDirectory>({ max: DIRECTORIES_MAX, dispose: (d) => d.dispose() });
  readonly #partialSets = new LRUCache<string, { key: string; html: Partials; text: Partials; problems: TemplateProblem[]; keys: string[] }>({ max: PARTIAL_SETS_MAX });
  /** Tenant sources (and partial sets) that ran out of time: skipped at once for a while, so a bomb costs its time once, not once per mail. */
  readonly #overTime = new LRUCache<string, true>({ max: REPORTED_MAX, ttl: OVER_TIME_TTL_MS });
  readonly #defaultPartials: { html: Partials; text: Partials };
  readonly #defaultLayout: Compiled;

  constructor(root: string, log: HostLog, limits: RenderLimits = DEFAULT_RENDER_LIMITS, kinds: KindRegistry = builtInKinds(new SchemaRegistry()), helpers: ReadonlyMap<string, ExtensionHelper> = new Map()) {
    this.#hb = createEnvironment(Handlebars, this.#formats, helpers);
    this.#allowed = new Set([...ALLOWED_HELPERS, ...helpers.keys()]);
    this.#known = knownHelpers(helpers.keys());
    this.#log = log;
    this.#limits = limits;
    this.#kinds = kinds;
    this.#shared = loadTemplateDir(root);
    for (const p of this.#shared.problems) log.warn('default template file skipped', { file: p.origin, error: p.message });
    const html: Record<string, Compiled> = {};
    const text: Record<string, Compiled> = {};
    for (const [name, src] of this.#shared.partials) {
      html[name] = this.#compile(src.source, 'partial', true, false);
      text[name] = this.#compile(src.source, 'partial', true, true);
    }
    this.#defaultPartials = { html: Object.freeze(html), text: Object.freeze(text) };
    if (!this.#shared.layout) throw new PluginError('TEMPLATE_INVALID', `no layout.html.hbs in ${root}`);
    this.#defaultLayout = this.#compile(this.#shared.layout.source, 'layout', true, false);
  }

  /** Every helper name a template may use here (built-in and extension helpers). */
  get helpers(): ReadonlySet<string> {
    return this.#allowed;
  }

  /** The event kinds this renderer knows. */
  get kinds(): KindRegistry {
    return this.#kinds;
  }

  /** The default templates: the shared layout and partials, and every registered kind's parts. */
  get defaults(): TemplateSet {
    const kinds = this.#kinds.all();
    return {
      ...this.#shared,
      parts: new Map(kinds.flatMap((k) => [...k.templates.parts])),
      languages: new Set(kinds.flatMap((k) => [...k.templates.languages])),
      problems: [...new Map([...this.#shared.problems, ...kinds.flatMap((k) => k.templates.problems)].map((p) => [`${p.origin}\0${p.message}`, p])).values()],
    };
  }

  /** The best default language for a BCP 47 tag: exact, then its primary subtag, then English. */
  language(tag: string | undefined): string {
    return resolveLanguage([tag], new Set(this.#kinds.all().flatMap((k) => [...k.templates.languages]))).lang;
  }

  #kind(type: string): EventKind {
    const kind = this.#kinds.get(type);
    if (!kind) throw new PluginError('EVENT_TYPE_UNKNOWN', `no event kind ${JSON.stringify(type)} is registered (an extension that defined it is not loaded)`, { field: '/type' });
    return kind;
  }

  /** A tenant's own templates: its config over its directory. */
  tenantTemplates(tenant: TemplateTenant, prefix = `tenants/${tenant.id}`): TemplateSet {
    const fromConfig = configTemplateSet(tenant, prefix);
    const usableId = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(tenant.id);
    const dir = tenant.templatesDir && usableId ? this.#dir(tenant.templatesDir.replace(/\{tenant\}/g, tenant.id)).get() : EMPTY_SET;
    return overlay(fromConfig, dir);
  }

  render(rec: SpoolRecord, tenant: TemplateTenant, opts: RenderOptions = {}): RenderedMail {
    const limits = opts.limits ?? this.#limits;
    /** Time spent in tenant code so far in this mail: only that counts against the limit, not the defaults or a cold start. */
    let spent = 0;
    const avoid = opts.avoid ?? new Set<RenderStage>();
    const stage = opts.stage ?? (() => undefined);
    let own = opts.own ?? this.tenantTemplates(tenant);
    const unsaved = opts.sources ? unsavedSet(opts.sources, rec.type) : EMPTY_SET;
    const uncachedPartials = !!opts.sources && (unsaved.partials.size > 0 || unsaved.layout !== undefined);
    if (opts.sources) own = overlay({ ...unsaved, parts: new Map() }, own);
    const kind = this.#kind(rec.type);
    const defaults = kind.templates;
    const recipient = kind.recipient(rec.event);
    const { lang, chain } = mailLanguage([recipient.language, tenant.language], defaults, own);
    const fmt = readerLocale(recipient, tenant, lang, this.#formats);
    const ctx = buildContext(rec, tenant, lang, this.#formats, kind, fmt, opts.view);
    // An extension kind's own templates are trusted like the defaults but run extension code (its helpers): on the budget.
    const budgetDefaults = !kind.builtIn;
    const sink = { problems: opts.problems, keys: opts.problemKeys };
    const report = (src: TemplateSource, e: unknown) => this.#problem(tenant.id, src, e, sink);
    const tenantSet = this.#tenantPartials(tenant.id, own, report, sink, uncachedPartials);
    /** Set once this mail's time is spent: every later tenant template of it is skipped. */
    let outOfTime = false;
    const overTimeKey = (src: TemplateSource) => hash(`${tenant.id}\0${src.origin}\0${src.source}`);
    const partialsKey = 'key' in tenantSet ? hash(`${tenant.id}\0partials\0${tenantSet.key}`) : undefined;
    const tenantPartialsFor = (s: RenderStage) => (tenantSet === this.#defaultPartials || outOfTime || avoid.has(s) || (partialsKey !== undefined && this.#overTime.has(partialsKey)) ? undefined : tenantSet);
    /** Runs a template; with tenant code involved, on the budget, and a time overrun ends every later tenant template of this mail. */
    const run = (fn: Compiled, data: unknown, partials: Partials, budgeted: boolean, overTime: () => void) => {
      if (!budgeted) return fn(data, { data: { fmt }, partials });
      const start = performance.now();
      const budget = new Budget(limits, start + limits.timeMs - spent);
      try {
        budget.checkTime();
        const out = fn(data, { data: { fmt, budget }, partials });
        budget.output(out.length);
        return out;
      } catch (e) {
        if (e instanceof BudgetExceeded && e.limit === 'timeMs') {
          outOfTime = true;
          overTime();
        }
        throw e;
      } finally {
        spent += performance.now() - start;
      }
    };

    const candidates = (p: TemplatePart) => {
      const out: Candidate[] = [];
      const fromPreview = unsaved.parts.get(partKey(undefined, rec.type, p));
      if (fromPreview) out.push({ ...fromPreview, level: { tenant: true }, trusted: false, unsaved: true });
      for (const c of partCandidates(own, defaults, rec.type, p, chain)) out.push({ ...c.source, level: c.level, trusted: !c.level.tenant, unsaved: false });
      return out;
    };
    const renderPart = (p: TemplatePart, c: TemplateContext): { out: string; fromTenant: boolean } => {
      const noEscape = p !== 'html';
      const pick = (set: { html: Partials; text: Partials }) => (noEscape ? set.text : set.html);
      stage(p);
      for (const cand of candidates(p)) {
        if (!cand.trusted) {
          if (outOfTime || avoid.has(p)) continue;
          if (this.#overTime.has(overTimeKey(cand))) {
            report(cand, new BudgetExceeded('timeMs', limits));
            continue;
          }
          try {
            const fn = this.#compile(cand.source, p, false, noEscape, !cand.unsaved);
            return { out: run(fn, c, pick(tenantSet), true, () => this.#overTime.set(overTimeKey(cand), true)), fromTenant: true };
          } catch (e) {
            report(cand, e);
            continue;
          }
        }
        const fn = this.#compile(cand.source, p, true, noEscape);
        const theirs = tenantPartialsFor(p);
        if (theirs) {
          try {
            return { out: run(fn, c, pick(theirs), true, () => this.#overTime.set(partialsKey!, true)), fromTenant: false };
          } catch (e) {
            // A default failing with the tenant's partials: a tenant partial broke it. Retry with the defaults alone.
            report(partialsSource(own), e);
          }
        }
        if (budgetDefaults) return { out: run(fn, c, pick(this.#defaultPartials), true, () => undefined), fromTenant: false };
        return { out: fn(c, { data: { fmt }, partials: pick(this.#defaultPartials) }), fromTenant: false };
      }
      throw new PluginError('TEMPLATE_INVALID', `no default template for ${rec.type}.${p}`);
    };

    ctx.subject = neutraliseLine(renderPart('subject', ctx).out, 250);
    const body = renderPart('html', ctx);
    stage('layout');
    let html = this.#layout(ctx, body.out, own, {
      defaultsOnly: outOfTime || avoid.has('layout'),
      partials: tenantPartialsFor('layout')?.html,
      run: (fn, data, partials, overTime) => run(fn, data, partials, true, overTime),
      skip: (src) => (this.#overTime.has(overTimeKey(src)) ? new BudgetExceeded('timeMs', limits) : undefined),
      overTime: (src) => this.#overTime.set(overTimeKey(src), true),
      report,
      fmt,
    });
    const tenantHtml = body.fromTenant || html.fromTenant;
    stage('css');
    if (!(tenantHtml && avoid.has('css'))) html = { ...html, out: this.#inline(html.out) };
    let text: string;
    if (textFromHtml(body.fromTenant, candidates('text')) && !avoid.has('derive')) {
      stage('derive');
      text = deriveText(html.out);
    } else {
      text = renderPart('text', ctx).out;
    }
    return { subject: ctx.subject, text: text.replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim() + '\n', html: html.out, language: lang };
  }

  #layout(ctx: TemplateContext, body: string, own: TemplateSet, o: LayoutOptions): { out: string; fromTenant: boolean } {
    const wrapper = this.#compile(WRAPPER, 'layout', true, false);
    const data = { ...ctx, __body: body };
    if (own.layout && !o.defaultsOnly) {
      const layout = own.layout;
      const skipped = o.skip(layout);
      if (skipped) {
        o.report(layout, skipped);
      } else {
        try {
          const fn = this.#compile(layout.source, 'layout', false, false, !layout.origin.startsWith('unsaved/'));
          return { out: o.run(wrapper, data, { ...(o.partials ?? this.#defaultPartials.html), layout: fn }, () => o.overTime(layout)), fromTenant: true };
        } catch (e) {
          o.report(layout, e);
        }
      }
    }
    if (o.partials && !o.defaultsOnly) {
      try {
        return { out: o.run(wrapper, data, { ...o.partials, layout: this.#defaultLayout }, () => undefined), fromTenant: false };
      } catch (e) {
        o.report(partialsSource(own), e);
      }
    }
    return { out: wrapper(data, { data: { fmt: o.fmt }, partials: { ...this.#defaultPartials.html, layout: this.#defaultLayout } }), fromTenant: false };
  }

  #inline(html: string): string {
    try {
      return this.#css.inline(html);
    } catch (e) {
      this.#log.warn('CSS inlining failed; the HTML part is sent with its <style> block', { error: (e as Error).message });
      return html;
    }
  }

  /**
   * The partials a tenant's render sees: the defaults overlaid by the tenant's own, compiled once
   * per set of sources (unsaved preview partials: for this render alone, never kept).
   */
  #tenantPartials(tenant: string, own: TemplateSet, report: (s: TemplateSource, e: unknown) => void, sink: ProblemSink, uncached: boolean) {
    if (own.partials.size === 0) return this.#defaultPartials;
    const key = hash([...own.partials].map(([n, s]) => `${n}\0${s.source}`).join('\0\0'));
    let entry = uncached ? undefined : this.#partialSets.get(tenant);
    if (!entry || entry.key !== key) {
      const html: Record<string, Compiled> = { ...this.#defaultPartials.html };
      const text: Record<string, Compiled> = { ...this.#defaultPartials.text };
      const problems: TemplateProblem[] = [];
      const keys: string[] = [];
      for (const [name, src] of own.partials) {
        const cache = !src.origin.startsWith('unsaved/');
        try {
          html[name] = this.#compile(src.source, 'partial', false, false, cache);
          text[name] = this.#compile(src.source, 'partial', false, true, cache);
        } catch (e) {
          problems.push(this.#toProblem(tenant, src, e));
          keys.push(problemKey(tenant, src, e));
          report(src, e);
        }
      }
      entry = { key, html: Object.freeze(html), text: Object.freeze(text), problems, keys };
      if (!uncached) this.#partialSets.set(tenant, entry);
    } else {
      sink.problems?.push(...entry.problems);
      sink.keys?.push(...entry.keys);
    }
    return entry;
  }

  #compile(source: string, kind: TemplateKind, trusted: boolean, noEscape: boolean, cache = true): Compiled {
    if (typeof source !== 'string') throw new PluginError('TEMPLATE_INVALID', `a template source must be a string, received ${typeof source}`);
    const key = `${trusted ? 't' : 'u'}${noEscape ? 'n' : 'e'}${kind}\0${source}`;
    let fn = cache ? this.#compiled.get(key) : undefined;
    if (!fn) {
      const ast = trusted ? this.#hb.parse(source) : assertSafe(source, kind, this.#allowed);
      // In HTML, a value that starts a URL attribute goes through the URL guard (javascript: becomes #).
      const t = this.#hb.compile(noEscape ? ast : guardUrlAttributes(ast), { noEscape, strict: false, knownHelpers: this.#known, knownHelpersOnly: true });
      // Compile now rather than on first call, so compiling is never counted as render time. (_setup is redone by every call.)
      (t as unknown as { _setup(o: object): unknown })._setup({});
      const raw = t as unknown as Compiled;
      const html = !noEscape;
      // Extension block helpers read whether they write HTML (their result is escaped there).
      fn = (ctx, opts) => raw(ctx, { ...opts, data: { ...opts.data, html } });
      if (cache) this.#compiled.set(key, fn);
    }
    return fn;
  }

  #toProblem(tenant: string, src: TemplateSource, e: unknown): TemplateProblem {
    const message = (e instanceof PluginError ? e.message : String((e as Error)?.message ?? e)).replace(/ \(line \d+, column \d+\)$/, '').replace(/ - \d+:\d+$/, '');
    return { tenant, template: src.origin, ...locate(e), message, ...(e instanceof BudgetExceeded && { limit: e.limit }) };
  }

  /** Logs a failing tenant template once per distinct source, not once per message. */
  #problem(tenant: string, src: TemplateSource, e: unknown, sink: ProblemSink): void {
    const problem = this.#toProblem(tenant, src, e);
    const key = problemKey(tenant, src, e);
    sink.problems?.push(problem);
    sink.keys?.push(key);
    if (this.#reported.has(key)) return;
    this.#reported.set(key, true);
    this.#log.warn('tenant template failed; the next level is used for this part', { code: 'TEMPLATE_INVALID', ...problem });
  }

  /** How many entries each cache holds, and how many directory watchers are open (for tests and status). */
  cacheSizes(): { compiled: number; partialSets: number; directories: number; watchers: number; reported: number; overTime: number; cssShapes: number } {
    let watchers = 0;
    for (const d of this.#dirs.values()) watchers += d.watchers;
    return { compiled: this.#compiled.size, partialSets: this.#partialSets.size, directories: this.#dirs.size, watchers, reported: this.#reported.size, overTime: this.#overTime.size, cssShapes: this.#css.shapes };
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
    this.#dirs.clear();
  }
}

interface LayoutOptions {
  /** The tenant's layout and partials may not run. */
  defaultsOnly: boolean;
  /** The tenant's partials (over the defaults), when they may run. */
  partials: Partials | undefined;
  run: (fn: Compiled, data: unknown, partials: Partials, overTime: () => void) => string;
  /** Why a tenant layout is skipped without running, if it is. */
  skip: (src: TemplateSource) => Error | undefined;
  overTime: (src: TemplateSource) => void;
  report: (s: TemplateSource, e: unknown) => void;
  fmt: Locale;
}

interface ProblemSink {
  problems: TemplateProblem[] | undefined;
  keys: string[] | undefined;
}

function hash(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** The same for the same problem (its message and limit) of the same source of the same tenant. */
function problemKey(tenant: string, src: TemplateSource, e: unknown): string {
  const what = e instanceof BudgetExceeded ? e.limit : String((e as Error)?.message ?? e);
  return hash(`${tenant}\0${src.origin}\0${src.source}\0${what}`);
}

/** The tenant's partials, as one source for reports: a default template broke with them. */
function partialsSource(own: TemplateSet): TemplateSource {
  const list = [...own.partials.values()];
  return { origin: list.map((s) => s.origin).join(', '), source: list.map((s) => s.source).join('\0') };
}

function unsavedSet(s: UnsavedSources, type: string): TemplateSet {
  const parts = new Map<string, TemplateSource>();
  for (const p of TEMPLATE_PARTS) if (typeof s[p] === 'string') parts.set(partKey(undefined, type, p), { source: s[p]!, origin: `unsaved/${type}/${p}` });
  const partials = new Map(Object.entries(s.partials ?? {}).map(([n, source]) => [n, { source, origin: `unsaved/partials/${n}` }]));
  const layout = typeof s.layout === 'string' ? { source: s.layout, origin: 'unsaved/layout' } : undefined;
  return { parts, partials, languages: new Set(), problems: [], ...(layout && { layout }) };
}

/** The text part of a tenant's HTML-only mail. A table row of cells reads `Label: value`. */
export function deriveText(html: string): string {
  return htmlToText(html, {
    wordwrap: 78,
    formatters: { tableRow, tableCell },
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'table', format: 'block' },
      { selector: 'tr', format: 'tableRow' },
      { selector: 'td', format: 'tableCell' },
      { selector: 'th', format: 'tableCell' },
    ],
  });
}

type DomNode = { type: string; name?: string; data?: string; children?: DomNode[]; parent?: DomNode | null };

const textOf = (n: DomNode): string => (n.type === 'text' ? (n.data ?? '') : (n.children ?? []).map(textOf).join(''));

/** The cells of a row that have text. */
const cellsOf = (row: DomNode | null | undefined): DomNode[] => (row?.children ?? []).filter((c) => c.type === 'tag' && (c.name === 'td' || c.name === 'th') && textOf(c).trim() !== '');

/** A row: a line of its own; rows of label and value follow each other without a blank line. */
const tableRow: FormatCallback = (elem, walk, builder) => {
  const breaks = cellsOf(elem as unknown as DomNode).length > 1 ? 1 : 2;
  builder.openBlock({ leadingLineBreaks: breaks });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: breaks });
};

/** A cell, inline: the first of a row's cells is followed by `: ` (unless it ends in a colon already), the others by a space. */
const tableCell: FormatCallback = (elem, walk, builder) => {
  walk(elem.children, builder);
  const node = elem as unknown as DomNode;
  const cells = cellsOf(node.parent);
  const at = cells.indexOf(node);
  if (at < 0 || at === cells.length - 1) return;
  builder.addInline(at === 0 && !/[:：]\s*$/.test(textOf(node)) ? ': ' : ' ');
};
