import type { ResolvedConfig } from './resolve-config';
import { effectiveTenant, mergeTenant, type EffectiveTenant } from './tenant-settings';

/** Resolves tenants against one frozen configuration: `defaults` overlaid by `tenants[id]`, cached. */
export class TenantDirectory {
  readonly config: ResolvedConfig;
  readonly #cache = new Map<string, EffectiveTenant | undefined>();

  constructor(config: ResolvedConfig) {
    this.config = config;
  }

  /** The tenant's settings ready to send with; undefined when it has no usable `from` and `smtp.host`. */
  get(id: string): EffectiveTenant | undefined {
    if (!this.#cache.has(id)) {
      const own = Object.hasOwn(this.config.tenants, id) ? this.config.tenants[id] : undefined;
      this.#cache.set(id, effectiveTenant(id, mergeTenant(this.config.defaults, own)));
    }
    return this.#cache.get(id);
  }
}
