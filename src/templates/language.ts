/** The language every mail can fall back to: the default templates are complete in it. */
export const FALLBACK_LANGUAGE = 'en';

/**
 * Picks the template language from the wanted tags in order (recipient's, tenant's), each tried
 * as given and by its primary subtag (`de-AT` → `de`), among the supported ones; English when
 * none fits, so a mail always goes out. `chain` is the order to look templates up in.
 * @example resolveLanguage(['de-AT', 'fr'], new Set(['en', 'de'])) // { lang: 'de', chain: ['de'] }
 */
export function resolveLanguage(wanted: (string | undefined)[], supported: ReadonlySet<string>): { lang: string; chain: string[] } {
  for (const tag of wanted) {
    if (!tag) continue;
    const lower = tag.toLowerCase();
    const primary = lower.split('-')[0]!;
    if (supported.has(lower)) return { lang: lower, chain: lower === primary ? [lower] : [lower, primary] };
    if (supported.has(primary)) return { lang: primary, chain: [primary] };
  }
  return { lang: FALLBACK_LANGUAGE, chain: [FALLBACK_LANGUAGE] };
}
