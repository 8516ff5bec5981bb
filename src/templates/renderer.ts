import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import type { EffectiveTenant } from '../config';
import { PluginError } from '../errors';
import { neutraliseLine } from '../events';
import type { HostLog } from '../host-api';
import type { SpoolRecord } from '../spool';
import { buildContext, type TemplateContext } from './context';

export const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
export type TemplatePart = (typeof TEMPLATE_PARTS)[number];

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
  /** The language the mail was written in (Content-Language). */
  language: string;
}

type Compiled = (ctx: TemplateContext) => string;

/**
 * Renders a spooled message with the tenant's templates, part by part falling back to the
 * defaults under templates/. Tenant templates may not use triple-stash; one that fails to
 * compile or render is logged once and replaced by the default, so the mail still goes out.
 */
export class Renderer {
  readonly #hb = Handlebars.create();
  readonly #root: string;
  readonly #log: HostLog;
  readonly #compiled = new Map<string, Compiled>();
  readonly #reported = new Set<string>();
  readonly #languages: Set<string>;

  constructor(root: string, log: HostLog) {
    this.#root = root;
    this.#log = log;
    const partials = path.join(root, 'partials');
    for (const f of fs.readdirSync(partials)) {
      if (f.endsWith('.hbs')) this.#hb.registerPartial(f.slice(0, -4), fs.readFileSync(path.join(partials, f), 'utf8'));
    }
    this.#hb.registerPartial('layout', fs.readFileSync(path.join(root, 'layout.html.hbs'), 'utf8'));
    this.#languages = new Set(fs.readdirSync(root).filter((d) => /^[a-z]{2,3}$/.test(d)));
  }

  /** The best default language for a BCP 47 tag: exact, then its primary subtag, then English. */
  language(tag: string | undefined): string {
    if (tag) {
      const lower = tag.toLowerCase();
      if (this.#languages.has(lower)) return lower;
      const primary = lower.split('-')[0]!;
      if (this.#languages.has(primary)) return primary;
    }
    return 'en';
  }

  render(rec: SpoolRecord, tenant: EffectiveTenant): RenderedMail {
    const recipient = (rec.event.data as { recipient: { language?: string } }).recipient;
    const lang = this.language(recipient.language ?? tenant.language);
    const ctx = buildContext(rec, tenant, lang);
    const own = tenant.templates?.[rec.type];
    const part = (p: TemplatePart) => this.#renderPart(p, rec.type, lang, own?.[p], ctx, tenant.id);
    ctx.subject = neutraliseLine(part('subject'), 250);
    const text = part('text').replace(/\n{3,}/g, '\n\n').trim() + '\n';
    const html = part('html');
    return { subject: ctx.subject, text, html, language: lang };
  }

  #renderPart(p: TemplatePart, type: string, lang: string, tenantSource: string | undefined, ctx: TemplateContext, tenant: string): string {
    if (tenantSource !== undefined) {
      try {
        return this.#wrap(p, this.#compile(p, tenantSource, true))(ctx);
      } catch (e) {
        this.#reportOnce(tenant, type, p, tenantSource, e);
      }
    }
    const file = path.join(this.#root, lang, `${type}.${p}.hbs`);
    const source = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : fs.readFileSync(path.join(this.#root, 'en', `${type}.${p}.hbs`), 'utf8');
    return this.#wrap(p, this.#compile(p, source, false))(ctx);
  }

  #wrap(p: TemplatePart, body: Compiled): Compiled {
    if (p !== 'html') return body;
    const layout = this.#compile('html', '{{#> layout}}{{{__body}}}{{/layout}}', false);
    return (ctx) => layout({ ...ctx, __body: body(ctx) } as TemplateContext);
  }

  #compile(p: TemplatePart, source: string, untrusted: boolean): Compiled {
    const key = `${p}\0${untrusted}\0${source}`;
    let fn = this.#compiled.get(key);
    if (!fn) {
      if (untrusted) assertSafe(source);
      const t = this.#hb.compile(source, { noEscape: p !== 'html', strict: false });
      fn = (ctx) => t(ctx);
      this.#compiled.set(key, fn);
    }
    return fn;
  }

  #reportOnce(tenant: string, type: string, part: TemplatePart, source: string, e: unknown): void {
    const key = `${tenant}\0${type}\0${part}\0${crypto.createHash('sha256').update(source).digest('hex')}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    const err = e instanceof PluginError ? e : new PluginError('TEMPLATE_INVALID', (e as Error).message, { cause: e });
    this.#log.warn('tenant template failed; using the default for this part', { code: err.code, tenant, template: `${type}.${part}`, error: err.message });
  }
}

/** Refuses a tenant template that could emit unescaped data: `{{{x}}}` or `{{& x}}`. */
export function assertSafe(source: string): void {
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as { type?: string; escaped?: boolean; loc?: { start: { line: number; column: number } } };
    if ((n.type === 'MustacheStatement' || n.type === 'Decorator') && n.escaped === false) {
      const at = n.loc ? ` at line ${n.loc.start.line}, column ${n.loc.start.column + 1}` : '';
      throw new PluginError('TEMPLATE_INVALID', `triple-stash (unescaped output) is not allowed in tenant templates${at}`);
    }
    for (const v of Object.values(node)) if (v && typeof v === 'object') Array.isArray(v) ? v.forEach(visit) : visit(v);
  };
  visit(Handlebars.parse(source));
}
