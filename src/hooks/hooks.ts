import { PluginError } from '../errors';
import type { KindEvent } from '../kinds';
import type { OutgoingMail } from '../delivery/smtp-transport';
import type { ReportPayloads, ReportType } from '../report';

/** The closed set of hooks an integrator can register, each given one state object. */
export interface HookStates {
  /** An event was durably queued. */
  onAccepted: { readonly event: KindEvent; readonly tenant: string };
  /**
   * A message is about to be sent. `mail.headers` may be extended (X-headers, say); recipients,
   * sender and body are not the hook's to change and are restored after it.
   */
  beforeSend: { readonly event: KindEvent; readonly tenant: string; readonly attempt: number; readonly mail: Pick<OutgoingMail, 'headers'> & Readonly<OutgoingMail> };
  /** A delivery outcome was reported (the same payloads as `emit`). */
  onOutcome: { readonly type: ReportType; readonly payload: ReportPayloads[ReportType] };
}
export type HookName = keyof HookStates;
export type Hook<N extends HookName> = (state: HookStates[N]) => void | Promise<void>;

const NAMES: readonly HookName[] = ['onAccepted', 'beforeSend', 'onOutcome'];

/** Registered hooks. A hook that throws is logged; onAccepted and onOutcome then go on, beforeSend defers its message (HOOK_FAILED). */
export class Hooks {
  readonly #hooks = new Map<HookName, Set<Hook<HookName>>>(NAMES.map((n) => [n, new Set()]));
  readonly #onError: (name: HookName, e: unknown) => void;

  constructor(onError: (name: HookName, e: unknown) => void) {
    this.#onError = onError;
  }

  /** Registers a hook; returns a disposable. Refuses an unknown name or a non-function with HOOK_INVALID. */
  add<N extends HookName>(name: N, fn: Hook<N>): { dispose(): void } {
    const set = this.#hooks.get(name);
    if (!set) throw new PluginError('HOOK_INVALID', `unknown hook ${JSON.stringify(name)}; expected one of ${NAMES.join(', ')}`, { field: 'name' });
    if (typeof fn !== 'function') throw new PluginError('HOOK_INVALID', `hook ${name} must be a function, received ${typeof fn}`, { field: 'fn' });
    set.add(fn as Hook<HookName>);
    return { dispose: () => void set.delete(fn as Hook<HookName>) };
  }

  /** Runs every hook of `name`; one that throws is logged and the next runs. */
  run<N extends HookName>(name: N, state: HookStates[N]): Promise<void> {
    return this.#run(name, state, false);
  }

  /**
   * Runs hooks whose work the caller must not go on without (beforeSend): a hook that throws is
   * logged like any other, then its error rejects, so the message is deferred (HOOK_FAILED)
   * rather than sent without what the hook was to add.
   */
  runOrThrow<N extends HookName>(name: N, state: HookStates[N]): Promise<void> {
    return this.#run(name, state, true);
  }

  async #run<N extends HookName>(name: N, state: HookStates[N], rethrow: boolean): Promise<void> {
    for (const fn of this.#hooks.get(name)!) {
      try {
        await fn(state);
      } catch (e) {
        this.#onError(name, e);
        if (rethrow) throw e;
      }
    }
  }

  clear(): void {
    for (const s of this.#hooks.values()) s.clear();
  }
}
