/** The label value of every tenant past the bound, and of a refused event whose tenant has no label. */
export const OTHER_TENANT = '_other';

/**
 * The bound on per-tenant series: at most this many tenants get a `tenant` label value of their
 * own; the rest count under `tenant="_other"`.
 * @default 100
 */
export const DEFAULT_TENANT_LABELS = 100;

/** A tenant id as the event schemas take it: nothing else ever becomes a label value. */
const TENANT_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/**
 * Which tenants have a label value of their own. Configured tenants come first (in sorted order,
 * reserved at start and at each configuration change), then tenants seen in accepted events,
 * first come first served, until `max` are given; a label once given stays for the life of the
 * instance. A refused event never claims one, so invalid input cannot grow the series count.
 */
export class TenantLabels {
  readonly max: number;
  readonly #given = new Set<string>();

  constructor(max = DEFAULT_TENANT_LABELS) {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`max tenant labels: expected an integer >= 0, got ${max}`);
    this.max = max;
  }

  /** Gives the configured tenants their labels while room remains. */
  reserve(tenants: Iterable<string>): void {
    for (const t of [...tenants].sort()) this.label(t, true);
  }

  /** The label value for `tenant`; `claim` gives it one of its own when it has none and room remains. */
  label(tenant: unknown, claim = false): string {
    if (typeof tenant !== 'string') return OTHER_TENANT;
    if (this.#given.has(tenant)) return tenant;
    if (claim && this.#given.size < this.max && TENANT_ID.test(tenant)) {
      this.#given.add(tenant);
      return tenant;
    }
    return OTHER_TENANT;
  }

  get size(): number {
    return this.#given.size;
  }
}
