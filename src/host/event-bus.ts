import type { Disposable, PbxEvent } from '../host-api';

type Handler = (event: PbxEvent) => Promise<unknown>;

/** What the subscribers made of an event: queued, or known already (`duplicate`, with where its mail is). */
export type DispatchAnswer = { status: 'queued' } | { status: 'duplicate'; state: string };

/** The host side of ctx.on(): one handler list per event type, awaited on dispatch. */
export class EventBus {
  readonly #handlers = new Map<string, Set<Handler>>();

  on(type: string, handler: Handler): Disposable {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return { dispose: () => void set.delete(handler) };
  }

  /**
   * Hands an event to its subscribers; false when nobody subscribed to its type. A handler may
   * resolve with `{ status: 'duplicate', state }` (this plugin does) for an event id it knows.
   */
  async dispatch(event: PbxEvent): Promise<false | DispatchAnswer> {
    const set = this.#handlers.get(event.type);
    if (!set || set.size === 0) return false;
    let answer: DispatchAnswer = { status: 'queued' };
    for (const h of set) {
      const r = (await h(event)) as { status?: unknown; state?: unknown } | undefined;
      if (r?.status === 'duplicate' && typeof r.state === 'string') answer = { status: 'duplicate', state: r.state };
    }
    return answer;
  }
}
