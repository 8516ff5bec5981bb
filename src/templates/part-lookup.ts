import { FALLBACK_LANGUAGE, resolveLanguage } from './language';
import { partKey, type TemplatePart, type TemplateSet, type TemplateSource } from './template-set';

/**
 * One place a part of a mail can come from: the tenant's templates or the defaults (the event
 * kind's), for one language or language-neutral (`lang` unset).
 * @example { tenant: true } // the tenant's language-neutral part
 */
export interface PartLevel {
  readonly tenant: boolean;
  readonly lang?: string;
}

/** A level that has the part, and the part's source there. */
export interface FoundPart {
  readonly level: PartLevel;
  readonly source: TemplateSource;
}

/**
 * The mail's language and the languages to look its parts up in: the first of `wanted`
 * (the recipient's, the tenant's) that the kind's defaults or the tenant's own templates have.
 * @example mailLanguage(['de-AT', 'fr'], kind.templates, own) // { lang: 'de', chain: ['de'] }
 */
export function mailLanguage(wanted: (string | undefined)[], defaults: TemplateSet, own: TemplateSet): { lang: string; chain: string[] } {
  return resolveLanguage(wanted, new Set([...defaults.languages, ...own.languages]));
}

/**
 * The order each part is looked up in, first match wins: the tenant's part for each language of
 * the chain, the tenant's language-neutral part, the default for each language of the chain, the
 * language-neutral default (an extension kind's), the English default.
 * @example partLevels(['de-at', 'de']) // tenant de-at, tenant de, tenant, default de-at, default de, default, default en
 */
export function partLevels(chain: readonly string[]): PartLevel[] {
  const levels: PartLevel[] = [...chain.map((lang) => ({ tenant: true, lang })), { tenant: true }, ...chain.map((lang) => ({ tenant: false, lang })), { tenant: false }];
  if (!chain.includes(FALLBACK_LANGUAGE)) levels.push({ tenant: false, lang: FALLBACK_LANGUAGE });
  return levels;
}

/**
 * Every level that has the part, in lookup order. The renderer takes the first and, when a
 * tenant template there fails, the next; `templates check` names the one a mail gets.
 */
export function partCandidates(own: TemplateSet, defaults: TemplateSet, type: string, part: TemplatePart, chain: readonly string[]): FoundPart[] {
  const out: FoundPart[] = [];
  for (const level of partLevels(chain)) {
    const source = (level.tenant ? own : defaults).parts.get(partKey(level.lang, type, part));
    if (source) out.push({ level, source });
  }
  return out;
}

/**
 * Whether the text part is made from the mail's HTML rather than rendered from a text template:
 * when the HTML came from the tenant and the tenant has no text part at any of its levels.
 */
export function textFromHtml(htmlFromTenant: boolean, text: readonly { readonly level: PartLevel }[]): boolean {
  return htmlFromTenant && !text.some((c) => c.level.tenant);
}
