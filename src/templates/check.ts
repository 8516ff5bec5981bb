import * as fs from 'node:fs';
import type { ResolvedConfig } from '../config';
import type { EventKind } from '../kinds';
import { buildContext, type TemplateTenant } from './context';
import { Formats } from './format';
import { ALLOWED_HELPERS } from './helpers';

const ALLOWED: ReadonlySet<string> = ALLOWED_HELPERS;
import { renderPreview, templateTenant } from './preview';
import { mailLanguage, partCandidates, textFromHtml, type FoundPart } from './part-lookup';
import type { TemplateProblem } from './renderer';
import type { RenderService } from './render-service';
import { previewRecord } from './samples';
import { findUnsafe, locate, type TemplateKind } from './template-safety';
import { partKey, TEMPLATE_PARTS, type TemplatePart, type TemplateSet, type TemplateSource } from './template-set';

/** One thing `templates check` found. Errors fail the check; warnings do not. */
export interface Finding {
  level: 'error' | 'warning';
  /** File path, or config path such as `tenants/acme.example.com/templates/<type>/subject`. */
  template: string;
  line?: number;
  column?: number;
  message: string;
}

export interface CheckOptions {
  /** Renders the samples on the same budget as mail (`delivery.renderTimeoutMs` and the caps). */
  render: RenderService;
  /** The plugin configuration; without one only the defaults are checked. */
  config?: ResolvedConfig;
  /** Check only this tenant (and the defaults). */
  tenant?: string;
  /** The package templates/ folder. */
  root: string;
}

/** Every key a kind's templates can see, from its sample; a kind without a sample gets the keys every kind has. */
const shapeOf = (kind: EventKind): unknown => contextShape(kind);

/**
 * Compiles every template (defaults, and each configured tenant's config and directory
 * templates) and reports syntax errors and forbidden constructs with line and column,
 * variables the event type's context does not have, unknown template files and event types,
 * missing default parts (errors) and tenant parts that are missing (warnings, naming the part
 * the renderer uses instead, from its own lookup).
 * Each template is also rendered with its event type's sample, on the render budget: a
 * template over it is an error naming the limit. Every problem of a file is reported, each with
 * its line and column (a syntax error ends what can be read of that file).
 */
export async function checkTemplates(o: CheckOptions): Promise<Finding[]> {
  const out: Finding[] = [];
  const renderer = o.render.renderer;
  const kinds = renderer.kinds;
  const helpers = renderer.helpers;
  const TYPES = kinds.types();
  const shapes = new Map<string, unknown>(kinds.all().map((k) => [k.type, shapeOf(k)]));
  // The layout wraps every kind's mail: it may use what every kind has (the first kind's shape stands for them).
  const layoutShape = { ...(shapes.get(TYPES[0]!) as object), __body: '' };
  const defaults = renderer.defaults;
  for (const p of defaults.problems) out.push({ level: 'error', template: p.origin, message: p.message });
  if (!defaults.languages.has('en')) out.push({ level: 'error', template: o.root, message: 'the default templates have no en/ folder: English is the last fallback' });
  for (const lang of defaults.languages) {
    for (const type of TYPES) {
      const kind = kinds.get(type)!;
      if (!kind.templates.languages.has(lang) && !kind.builtIn) continue;
      for (const part of TEMPLATE_PARTS) {
        const src = defaults.parts.get(partKey(lang, type, part)) ?? (kind.builtIn ? undefined : defaults.parts.get(partKey(undefined, type, part)));
        if (!src) out.push({ level: lang === 'en' ? 'error' : 'warning', template: `${o.root}/${lang}/${type}.${part}.hbs`, message: `missing part: ${lang} mail for ${type} uses the English ${part}` });
        else checkSource(src, part, shapes.get(type), type, out, helpers);
      }
    }
  }
  for (const src of defaults.partials.values()) checkSource(src, 'partial', undefined, undefined, out, helpers);
  for (const kind of kinds.all()) {
    if (kind.builtIn) continue;
    for (const part of TEMPLATE_PARTS) {
      const src = defaults.parts.get(partKey(undefined, kind.type, part));
      if (src) checkSource(src, part, shapes.get(kind.type), kind.type, out, helpers);
    }
  }
  if (defaults.layout) checkSource(defaults.layout, 'layout', layoutShape, undefined, out, helpers);

  const tenants = new Set<string>();
  if (o.config) for (const id of Object.keys(o.config.tenants)) tenants.add(id);
  if (o.tenant) {
    tenants.clear();
    tenants.add(o.tenant);
  }
  for (const id of tenants) {
    const config = o.config ?? ({ defaults: {}, tenants: {} } as unknown as ResolvedConfig);
    const tenant: TemplateTenant = templateTenant(config, id);
    const own: TemplateSet = renderer.tenantTemplates(tenant);
    const dir = tenant.templatesDir?.replace(/\{tenant\}/g, id);
    if (dir && !fs.existsSync(dir)) out.push({ level: 'error', template: `tenants/${id}/templatesDir`, message: `${dir} does not exist: the tenant's mail uses the defaults` });
    for (const p of own.problems) out.push({ level: 'error', template: p.origin, message: p.message });
    for (const src of own.partials.values()) checkSource(src, 'partial', undefined, undefined, out, helpers);
    if (own.layout) checkSource(own.layout, 'layout', layoutShape, undefined, out, helpers);
    const levels = new Set<string | undefined>([undefined, ...own.languages]);
    for (const key of own.parts.keys()) {
      const type = key.slice(key.indexOf('/') + 1).replace(/\.(subject|text|html)$/, '');
      if (!kinds.has(type)) {
        out.push({ level: 'error', template: own.parts.get(key)!.origin, message: `unknown event type "${type}": expected one of ${TYPES.join(', ')}` });
      }
    }
    for (const type of TYPES) {
      const defaultsOfKind = kinds.get(type)!.templates;
      for (const lang of levels) {
        const have = TEMPLATE_PARTS.filter((p) => own.parts.has(partKey(lang, type, p)));
        // A language level: looked up as for a recipient of that language. The language-neutral level: for any language, so no language of the chain.
        const chain = lang ? mailLanguage([lang], defaultsOfKind, own).chain : [];
        for (const part of TEMPLATE_PARTS) {
          const src = own.parts.get(partKey(lang, type, part));
          if (src) {
            checkSource(src, part, shapes.get(type), type, out, helpers);
            continue;
          }
          if (have.length === 0) continue;
          const where = lang ? `tenants/${id}: ${type} (${lang})` : `tenants/${id}: ${type}`;
          const find = (p: TemplatePart) => partCandidates(own, defaultsOfKind, type, p, chain);
          out.push({ level: 'warning', template: where, message: `missing part: ${part}; ${usedInstead(part, find, lang === undefined)}` });
        }
      }
      // Render once with the sample, in each of the tenant's languages, to catch what only shows at run time.
      for (const lang of kinds.get(type)!.sample ? levels : []) {
        const problems: TemplateProblem[] = (await renderPreview({ render: o.render, kinds, config, anyTenant: true }, { tenant: id, eventType: type, ...(lang && { language: lang }) })).problems;
        for (const p of problems) {
          if (p.limit === undefined && out.some((f) => f.template === p.template && f.level === 'error')) continue;
          out.push({ level: 'error', template: p.template, ...(p.line !== undefined && { line: p.line }), ...(p.column !== undefined && { column: p.column }), message: p.message });
        }
      }
    }
  }
  return dedupe(out);
}

/** What a mail uses for a part the tenant lacks at a level: the renderer's own lookup (`find`), said in words. */
function usedInstead(part: TemplatePart, find: (p: TemplatePart) => FoundPart[], anyLanguage: boolean): string {
  if (part === 'text') {
    const html = find('html')[0];
    if (html && textFromHtml(html.level.tenant, find('text'))) return `the mail's text is made from its HTML, ${describe(html, 'html')}`;
  }
  const used = find(part)[0];
  if (!used) return `no template has it (the English default ${part} is missing)`;
  if (anyLanguage && !used.level.tenant) return `the mail uses the default ${part} in its language`;
  return `the mail uses ${describe(used, part)}`;
}

/** `the tenant's language-neutral html (origin)`, `the de default subject`, `the English default text`. */
function describe(c: FoundPart, part: TemplatePart): string {
  if (c.level.tenant) return `the tenant's ${c.level.lang ?? 'language-neutral'} ${part} (${c.source.origin})`;
  if (!c.level.lang) return `the language-neutral default ${part}`;
  return `the ${c.level.lang === 'en' ? 'English' : c.level.lang} default ${part}`;
}

function dedupe(list: Finding[]): Finding[] {
  const seen = new Set<string>();
  return list.filter((f) => {
    const k = `${f.level}\0${f.template}\0${f.line}\0${f.column}\0${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function checkSource(src: TemplateSource, kind: TemplateKind, shape: unknown, type: string | undefined, out: Finding[], allowed: ReadonlySet<string> = ALLOWED): void {
  let found: ReturnType<typeof findUnsafe>;
  try {
    found = findUnsafe(src.source, kind, allowed);
  } catch (e) {
    out.push({ level: 'error', template: src.origin, ...locate(e), message: (e as Error).message.replace(/ \(line \d+, column \d+\)$/, '') });
    return;
  }
  const list: Finding[] = found.problems.map((p) => ({ level: 'error', template: src.origin, line: p.line, column: p.column, message: p.message }));
  if (shape !== undefined) {
    for (const v of unknownVariables(found.ast, shape, allowed)) {
      if (list.some((f) => f.line === v.line && f.column === v.column)) continue; // a helper written as a variable, already said
      list.push({ level: 'error', template: src.origin, line: v.line, column: v.column, message: `unknown variable "${v.path}"${type ? ` (not in the ${type} context)` : ''}` });
    }
  }
  list.sort((a, b) => a.line! - b.line! || a.column! - b.column!);
  out.push(...list);
}

/**
 * Every key a template of this event kind can see: the context of its sample (which, for that,
 * carries every optional field), plus the optional keys every kind may leave out.
 */
export function contextShape(kind: EventKind): unknown {
  const sample = kind.sample ?? { event: { id: 'x', type: kind.type, tenant: 'x', occurredAt: '2026-01-01T00:00:00Z', data: { recipient: { extension: '1', email: ['x@x.example'] } } }, attachmentBytes: 1 };
  let ctx: Record<string, any>;
  try {
    ctx = buildContext(previewRecord(sample.event, sample.event.tenant, sample.attachmentBytes ?? 1, kind), { id: 'x', attachments: { recordingUrl: 'https://x/', faxUrl: 'https://x/' } }, 'en', new Formats(), kind) as unknown as Record<string, any>;
  } catch {
    return undefined; // a kind whose context cannot be built without a sample: its variables are not checked
  }
  ctx.brand = { ...ctx.brand, logoUrl: '', footer: '' };
  ctx.attachment = { included: true, omitted: true, missing: true, filename: '', size: '', bytes: 0, contentType: '', url: '' };
  ctx.recipient = { ...ctx.recipient, name: '', language: '', timeZone: '' };
  // What beforeRender hooks add is not known here: anything under view is accepted.
  ctx.view = undefined;
  if (ctx.caller && typeof ctx.caller === 'object') ctx.caller = { name: '', ...ctx.caller };
  return ctx;
}

interface Unknown {
  path: string;
  line: number;
  column: number;
}

type AnyNode = { type: string; loc?: { start: { line: number; column: number } } } & Record<string, any>;

/** Variables a template reads that its context does not have, following #each/#with scopes, ../ and @root. */
export function unknownVariables(ast: hbs.AST.Program, root: unknown, allowed: ReadonlySet<string> = ALLOWED_HELPERS): Unknown[] {
  const found: Unknown[] = [];
  const report = (p: AnyNode) => found.push({ path: String(p.original), line: p.loc?.start.line ?? 0, column: (p.loc?.start.column ?? 0) + 1 });

  const resolve = (p: AnyNode, scopes: unknown[], locals: Set<string>): { ok: boolean; value: unknown } => {
    const parts: string[] = p.parts ?? [];
    if (p.data) {
      if (parts[0] !== 'root') return { ok: true, value: undefined };
      return walk(root, parts.slice(1));
    }
    if (p.depth === 0 && parts.length > 0 && locals.has(parts[0]!)) return { ok: true, value: undefined };
    const scope = scopes[Math.max(0, scopes.length - 1 - (p.depth ?? 0))];
    return walk(scope, parts);
  };
  const walk = (start: unknown, parts: string[]): { ok: boolean; value: unknown } => {
    let cur = start;
    for (const key of parts) {
      if (cur === undefined) return { ok: true, value: undefined }; // unknown shape (a local, an each item of unknown type)
      if (Array.isArray(cur)) {
        if (key === 'length') cur = 0;
        else if (/^\d+$/.test(key)) cur = cur[0];
        else return { ok: false, value: undefined };
      } else if (cur !== null && typeof cur === 'object') {
        if (!Object.hasOwn(cur, key)) return { ok: false, value: undefined };
        cur = (cur as Record<string, unknown>)[key];
      } else if (typeof cur === 'string' && key === 'length') {
        cur = 0;
      } else {
        return { ok: false, value: undefined };
      }
    }
    return { ok: true, value: cur };
  };
  const expr = (n: AnyNode | undefined, scopes: unknown[], locals: Set<string>): unknown => {
    if (!n) return undefined;
    if (n.type === 'PathExpression') {
      const r = resolve(n, scopes, locals);
      if (!r.ok) report(n);
      return r.value;
    }
    if (n.type === 'SubExpression') return call(n, scopes, locals);
    return undefined;
  };
  const call = (n: AnyNode, scopes: unknown[], locals: Set<string>): unknown => {
    const isHelper = (n.params?.length ?? 0) > 0 || (n.hash?.pairs?.length ?? 0) > 0 || (n.path?.type === 'PathExpression' && allowed.has(n.path.original) && n.type !== 'BlockStatement');
    const values = (n.params ?? []).map((p: AnyNode) => expr(p, scopes, locals));
    for (const pair of n.hash?.pairs ?? []) expr(pair.value, scopes, locals);
    if (!isHelper) return expr(n.path, scopes, locals);
    return values[0];
  };
  const program = (prog: AnyNode | undefined, scopes: unknown[], locals: Set<string>) => {
    for (const s of prog?.body ?? []) statement(s, scopes, locals);
  };
  const statement = (n: AnyNode, scopes: unknown[], locals: Set<string>) => {
    switch (n.type) {
      case 'MustacheStatement':
      case 'SubExpression':
        call(n, scopes, locals);
        break;
      case 'BlockStatement':
      case 'DecoratorBlock': {
        const name = n.path?.original;
        const first = (n.params ?? [])[0] as AnyNode | undefined;
        for (const pair of n.hash?.pairs ?? []) expr(pair.value, scopes, locals);
        const inner = new Set([...locals, ...(n.program?.blockParams ?? [])]);
        if (n.type === 'DecoratorBlock') {
          program(n.program, scopes, locals);
          break;
        }
        if (name === 'each' || name === 'with') {
          const value = expr(first, scopes, locals);
          for (const p of (n.params ?? []).slice(1)) expr(p, scopes, locals);
          const item = name === 'each' ? (Array.isArray(value) ? value[0] : value && typeof value === 'object' ? Object.values(value)[0] : undefined) : value;
          program(n.program, [...scopes, item], inner);
        } else if (name === 'if' || name === 'unless' || allowed.has(name)) {
          for (const p of n.params ?? []) expr(p, scopes, locals);
          program(n.program, scopes, inner);
        } else {
          const value = expr(n.path, scopes, locals);
          program(n.program, [...scopes, Array.isArray(value) ? value[0] : value], inner);
        }
        program(n.inverse, scopes, locals);
        break;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement':
        for (const p of n.params ?? []) expr(p, scopes, locals);
        for (const pair of n.hash?.pairs ?? []) expr(pair.value, scopes, locals);
        if (n.type === 'PartialBlockStatement') program(n.program, scopes, locals);
        break;
    }
  };
  program(ast as unknown as AnyNode, [root], new Set());
  return found;
}

/** `file:line:column: level: message`, one per line, then a summary. */
export function formatFindings(list: Finding[]): string {
  const lines = list.map((f) => `${f.template}${f.line !== undefined ? `:${f.line}${f.column !== undefined ? `:${f.column}` : ''}` : ''}: ${f.level}: ${f.message}`);
  const errors = list.filter((f) => f.level === 'error').length;
  lines.push(`${errors} error${errors === 1 ? '' : 's'}, ${list.length - errors} warning${list.length - errors === 1 ? '' : 's'}`);
  return lines.join('\n');
}

