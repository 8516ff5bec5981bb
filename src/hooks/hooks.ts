import { PluginError } from '../errors';
import type { KindEvent } from '../kinds';
import type { ReportPayloads, ReportType } from '../report';
import { settleWithin } from '../util/settle-within';

/**
 * The message a beforeSend hook may edit. What it leaves is what is sent; `from` is not the
 * hook's to change (it is restored).
 * @example state.message.headers['X-CRM-Link'] = `https://crm.example/lookup?phone=${encodeURIComponent(state.event.data.caller.number)}`
 */
export interface HookMessage {
  /** The tenant's sender; read-only. */
  readonly from: string;
  /** The addresses this attempt goes to (those still pending). Changing them re-routes the message (logged); 1 to 10 addresses. */
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Extra headers. New names only; addressing, date, identity and MIME headers, and values with line breaks, are dropped. */
  headers: Record<string, string>;
  /** Files attached. A hook may drop or rename them; a path that was not composed is refused (HOOK_FAILED). */
  attachments: { filename: string; contentType: string; path: string }[];
}

/** The closed set of hooks an integrator can register, each given one state object. */
export interface HookStates {
  /**
   * An event was durably queued.
   * @example api.hook('onAccepted', ({ event }) => api.log.info('queued', { id: event.id }))
   */
  onAccepted: { readonly event: KindEvent; readonly tenant: string };
  /**
   * A message is about to be rendered: what the hook puts in `view` the templates see as
   * `view` (`{{view.crmUrl}}`). Plain data only. Throwing fails this message (HOOK_FAILED).
   * @example api.hook('beforeRender', (s) => { s.view.crmUrl = `https://crm.example/c/${s.event.id}`; })
   */
  beforeRender: { readonly event: KindEvent; readonly tenant: string; readonly attempt: number; view: Record<string, unknown> };
  /**
   * A message is about to be sent: `message` may be edited (headers added, body and subject
   * changed, recipients changed; a recipient change is logged). Throwing cancels this message
   * only: it fails as `email.failed` with HOOK_FAILED and the reason.
   * @example api.hook('beforeSend', ({ message }) => { message.headers['X-Ticket'] = 'T-42'; message.text += '\nCRM: https://crm.example\n'; })
   */
  beforeSend: { readonly event: KindEvent; readonly tenant: string; readonly attempt: number; readonly message: HookMessage };
  /**
   * A delivery outcome was reported (the same payloads as `emit`), with the event it was for.
   * @example api.hook('afterDelivery', ({ type, payload }) => api.log.info(type, { to: payload.to }))
   */
  afterDelivery: { readonly event: KindEvent; readonly tenant: string; readonly type: ReportType; readonly payload: ReportPayloads[ReportType] };
  /** A delivery outcome was reported (the same payloads as `emit`). Kept for existing integrations: afterDelivery has the event too. */
  onOutcome: { readonly type: ReportType; readonly payload: ReportPayloads[ReportType] };
}
export type HookName = keyof HookStates;
export type Hook<N extends HookName> = (state: HookStates[N]) => void | Promise<void>;

export const HOOK_NAMES: readonly HookName[] = ['onAccepted', 'beforeRender', 'beforeSend', 'afterDelivery', 'onOutcome'];

interface Entry {
  fn: Hook<HookName>;
  /** Who registered it: an extension's name, or `host` for addHook. */
  origin: string;
}

/**
 * Registered hooks. Every call runs on the budget `timeoutMs()` (delivery.hookTimeoutMs): a hook
 * that has not settled by then is left behind. One that throws, rejects or runs over is logged;
 * onAccepted, afterDelivery and onOutcome then go on, while beforeRender and beforeSend fail
 * their message (HOOK_FAILED, HOOK_TIMEOUT).
 */
export class Hooks {
  readonly #hooks = new Map<HookName, Set<Entry>>(HOOK_NAMES.map((n) => [n, new Set()]));
  readonly #onError: (name: HookName, e: unknown, origin: string, eventId: string | undefined) => void;
  readonly #timeoutMs: () => number;

  constructor(onError: (name: HookName, e: unknown, origin: string, eventId: string | undefined) => void, timeoutMs: () => number = () => 5_000) {
    this.#onError = onError;
    this.#timeoutMs = timeoutMs;
  }

  /** Registers a hook; returns a disposable. Refuses an unknown name or a non-function with HOOK_INVALID. */
  add<N extends HookName>(name: N, fn: Hook<N>, origin = 'host'): { dispose(): void } {
    const set = typeof name === 'string' ? this.#hooks.get(name) : undefined;
    if (!set) throw new PluginError('HOOK_INVALID', `unknown hook ${JSON.stringify(name)}; expected one of ${HOOK_NAMES.join(', ')}`, { field: 'name' });
    if (typeof fn !== 'function') throw new PluginError('HOOK_INVALID', `hook ${name} must be a function, received ${fn === null ? 'null' : typeof fn}`, { field: 'fn' });
    const entry: Entry = { fn: fn as Hook<HookName>, origin };
    set.add(entry);
    return { dispose: () => void set.delete(entry) };
  }

  /** True when at least one hook of `name` is registered. */
  has(name: HookName): boolean {
    return this.#hooks.get(name)!.size > 0;
  }

  /** Runs every hook of `name`; one that throws or runs over its budget is logged and the next runs. */
  run<N extends HookName>(name: N, state: HookStates[N]): Promise<void> {
    return this.#run(name, state, false);
  }

  /**
   * Runs hooks whose work the caller must not go on without (beforeRender, beforeSend): a hook
   * that throws or runs over its budget is logged like any other, then rejects with HOOK_FAILED
   * or HOOK_TIMEOUT naming the hook and who registered it, so its message fails rather than going
   * without what the hook was to do.
   */
  runOrThrow<N extends HookName>(name: N, state: HookStates[N]): Promise<void> {
    return this.#run(name, state, true);
  }

  async #run<N extends HookName>(name: N, state: HookStates[N], rethrow: boolean): Promise<void> {
    for (const { fn, origin } of [...this.#hooks.get(name)!]) {
      try {
        const ms = this.#timeoutMs();
        await settleWithin(() => fn(state), ms, () => new PluginError('HOOK_TIMEOUT', `HOOK_TIMEOUT: the ${name} hook of ${origin} did not settle within ${ms} ms (delivery.hookTimeoutMs)`));
      } catch (e) {
        const event = (state as { event?: { id?: unknown } }).event ?? (state as { payload?: { eventId?: unknown } }).payload;
        const id = (event as { id?: unknown; eventId?: unknown } | undefined)?.id ?? (event as { eventId?: unknown } | undefined)?.eventId;
        this.#onError(name, e, origin, typeof id === 'string' ? id : undefined);
        if (rethrow) throw coded(name, origin, e);
      }
    }
  }

  clear(): void {
    for (const s of this.#hooks.values()) s.clear();
  }
}

function coded(name: HookName, origin: string, e: unknown): PluginError {
  if (e instanceof PluginError && e.code === 'HOOK_TIMEOUT') return e;
  const what = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/[\r\n]+/g, ' ').slice(0, 300);
  return new PluginError('HOOK_FAILED', `HOOK_FAILED: the ${name} hook of ${origin} threw (${what})`, { cause: e });
}

