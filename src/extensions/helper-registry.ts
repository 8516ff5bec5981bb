import { PluginError } from '../errors';
import { RESERVED_HELPERS, type ExtensionHelper } from '../templates/helpers';

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The template helpers extensions added to one plugin instance (or one render worker). */
export class HelperRegistry {
  readonly #helpers = new Map<string, { fn: ExtensionHelper; origin: string }>();

  /**
   * Adds a helper. Refuses with HELPER_INVALID a name that is not an identifier, one a built-in
   * helper has (or Handlebars' own), one another extension already added, or a non-function.
   */
  define(name: string, fn: ExtensionHelper, origin: string): void {
    if (typeof name !== 'string' || !NAME.test(name)) throw new PluginError('HELPER_INVALID', `helper name: expected letters, digits and _ starting with a letter, received ${JSON.stringify(name)?.slice(0, 80)}`, { field: 'name' });
    if (RESERVED_HELPERS.has(name)) throw new PluginError('HELPER_INVALID', `helper ${name}: a built-in helper has that name`, { field: 'name' });
    const taken = this.#helpers.get(name);
    if (taken) throw new PluginError('HELPER_INVALID', `helper ${name}: already added by ${taken.origin}`, { field: 'name' });
    if (typeof fn !== 'function') throw new PluginError('HELPER_INVALID', `helper ${name} must be a function, received ${fn === null ? 'null' : typeof fn}`, { field: 'fn' });
    this.#helpers.set(name, { fn, origin });
  }

  remove(name: string): void {
    this.#helpers.delete(name);
  }

  /** Every helper by name. */
  map(): ReadonlyMap<string, ExtensionHelper> {
    return new Map([...this.#helpers].map(([n, h]) => [n, h.fn]));
  }
}
