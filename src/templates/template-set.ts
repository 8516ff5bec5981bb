import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TenantSettings } from '../generated/schema-types';
import { TEMPLATE_SIZE_LIMITS, type TemplateKind } from './template-safety';

export const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
export type TemplatePart = (typeof TEMPLATE_PARTS)[number];

/** One template source and where it came from (a file path or a config path), for reports. */
export interface TemplateSource {
  source: string;
  origin: string;
}

/** Something wrong with a template file that kept it from being loaded. */
export interface LoadProblem {
  origin: string;
  message: string;
}

/**
 * The templates of one level: the package defaults, a tenant's directory or a tenant's config.
 * Part keys are `<lang>/<type>.<part>`, or `/<type>.<part>` for the language-neutral ones.
 */
export interface TemplateSet {
  readonly parts: ReadonlyMap<string, TemplateSource>;
  readonly partials: ReadonlyMap<string, TemplateSource>;
  readonly layout?: TemplateSource;
  /** Languages with at least one part of their own. */
  readonly languages: ReadonlySet<string>;
  readonly problems: readonly LoadProblem[];
}

export const EMPTY_SET: TemplateSet = { parts: new Map(), partials: new Map(), languages: new Set(), problems: [] };

export const partKey = (lang: string | undefined, type: string, part: TemplatePart) => `${lang ?? ''}/${type}.${part}`;

const LANG_DIR = /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/;
const PART_FILE = /^([a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+)\.(subject|text|html)\.hbs$/;
const PARTIAL_FILE = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.hbs$/;
/** Entries of a templates directory that are not templates. */
const IGNORED = new Set(['samples', 'README.md']);

function readLimited(file: string, kind: TemplateKind, problems: LoadProblem[]): string | undefined {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile()) {
      problems.push({ origin: file, message: 'not a regular file (symbolic links are not followed)' });
      return undefined;
    }
    if (st.size > TEMPLATE_SIZE_LIMITS[kind] * 4) {
      problems.push({ origin: file, message: `file is ${st.size} bytes; the limit for ${kind} templates is ${TEMPLATE_SIZE_LIMITS[kind]} characters` });
      return undefined;
    }
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    problems.push({ origin: file, message: `cannot be read: ${(e as Error).message}` });
    return undefined;
  }
}

/**
 * Reads a templates directory laid out like the package's templates/:
 * `layout.html.hbs`, `partials/<name>.hbs`, `<type>.<part>.hbs` (any language) and
 * `<lang>/<type>.<part>.hbs`. Unknown entries are reported, not loaded.
 */
export function loadTemplateDir(dir: string): TemplateSet {
  const parts = new Map<string, TemplateSource>();
  const partials = new Map<string, TemplateSource>();
  const languages = new Set<string>();
  const problems: LoadProblem[] = [];
  let layout: TemplateSource | undefined;
  const put = (lang: string | undefined, name: string, file: string) => {
    const m = PART_FILE.exec(name);
    if (!m) {
      problems.push({ origin: file, message: 'unknown template file: expected <event type>.<subject|text|html>.hbs' });
      return;
    }
    const source = readLimited(file, m[2] as TemplatePart, problems);
    if (source === undefined) return;
    parts.set(partKey(lang, m[1]!, m[2] as TemplatePart), { source, origin: file });
    if (lang) languages.add(lang);
  };
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return { ...EMPTY_SET, problems: [{ origin: dir, message: `cannot be read: ${(e as Error).message}` }] };
  }
  for (const ent of entries) {
    const file = path.join(dir, ent.name);
    if (IGNORED.has(ent.name) || ent.name.startsWith('.')) continue;
    if (ent.isDirectory() && ent.name === 'partials') {
      for (const p of safeList(file, problems)) {
        const m = PARTIAL_FILE.exec(p);
        if (!m) {
          problems.push({ origin: path.join(file, p), message: 'unknown partial file: expected <name>.hbs, name of letters, digits, - and _' });
          continue;
        }
        const source = readLimited(path.join(file, p), 'partial', problems);
        if (source !== undefined) partials.set(m[1]!, { source, origin: path.join(file, p) });
      }
    } else if (ent.isDirectory() && LANG_DIR.test(ent.name)) {
      for (const p of safeList(file, problems)) put(ent.name, p, path.join(file, p));
    } else if (ent.name === 'layout.html.hbs') {
      const source = readLimited(file, 'layout', problems);
      if (source !== undefined) layout = { source, origin: file };
    } else if (ent.isFile() || ent.isSymbolicLink()) {
      put(undefined, ent.name, file);
    } else {
      problems.push({ origin: file, message: 'unknown entry: expected partials/, a language folder such as de/, layout.html.hbs or <type>.<part>.hbs' });
    }
  }
  return { parts, partials, languages, problems, ...(layout && { layout }) };
}

function safeList(dir: string, problems: LoadProblem[]): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    problems.push({ origin: dir, message: `cannot be read: ${(e as Error).message}` });
    return [];
  }
}

/** The template keys of a tenant's settings: `templates`, `partials`, `layout`. */
export type TemplateSettings = Pick<TenantSettings, 'templates' | 'partials' | 'layout'>;

/** The templates a tenant's configuration holds, with config paths as origins. */
export function configTemplateSet(t: TemplateSettings, prefix: string): TemplateSet {
  const parts = new Map<string, TemplateSource>();
  const partials = new Map<string, TemplateSource>();
  const languages = new Set<string>();
  for (const [type, own] of Object.entries(t.templates ?? {})) {
    if (!own) continue;
    for (const p of TEMPLATE_PARTS) {
      if (typeof own[p] === 'string') parts.set(partKey(undefined, type, p), { source: own[p]!, origin: `${prefix}/templates/${type}/${p}` });
    }
    for (const [lang, perLang] of Object.entries(own.languages ?? {})) {
      const l = lang.toLowerCase();
      for (const p of TEMPLATE_PARTS) {
        if (typeof perLang?.[p] === 'string') {
          parts.set(partKey(l, type, p), { source: perLang[p]!, origin: `${prefix}/templates/${type}/languages/${lang}/${p}` });
          languages.add(l);
        }
      }
    }
  }
  for (const [name, source] of Object.entries(t.partials ?? {})) partials.set(name, { source, origin: `${prefix}/partials/${name}` });
  const layout = typeof t.layout === 'string' ? { source: t.layout, origin: `${prefix}/layout` } : undefined;
  return { parts, partials, languages, problems: [], ...(layout && { layout }) };
}

/** `over` wins wherever both have a template. */
export function overlay(over: TemplateSet, under: TemplateSet): TemplateSet {
  if (under === EMPTY_SET) return over;
  if (over === EMPTY_SET) return under;
  const layout = over.layout ?? under.layout;
  return {
    parts: new Map([...under.parts, ...over.parts]),
    partials: new Map([...under.partials, ...over.partials]),
    languages: new Set([...under.languages, ...over.languages]),
    problems: [...over.problems, ...under.problems],
    ...(layout && { layout }),
  };
}
