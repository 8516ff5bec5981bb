/**
 * Intl objects are expensive to construct (about 0.1 ms each, several per message) and immutable
 * once made, so they are memoised by constructor, locale and options. A pure cache with no
 * observable state, bounded so odd locales or options cannot grow it without limit. A
 * constructor that throws (an unknown time zone, a bad locale) caches nothing and still throws.
 * One instance per owner (the Renderer's Formats), never a module-level singleton.
 */
const MAX_ENTRIES = 256;

type IntlCtor<T> = new (locale?: string, options?: any) => T;

export class IntlCache {
  readonly #memo = new Map<IntlCtor<unknown>, Map<string, unknown>>();

  get<T>(ctor: IntlCtor<T>, locale: string, options?: object): T {
    let byKey = this.#memo.get(ctor);
    if (!byKey) this.#memo.set(ctor, (byKey = new Map()));
    const key = options ? `${locale}\0${JSON.stringify(options)}` : locale;
    let made = byKey.get(key) as T | undefined;
    if (!made) {
      made = new ctor(locale, options);
      if (byKey.size >= MAX_ENTRIES) byKey.clear();
      byKey.set(key, made);
    }
    return made;
  }
}
