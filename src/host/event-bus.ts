import type { Disposable, PbxEvent } from '../host-api';

type Handler = (event: PbxEvent) => Promise<void>;

/** The host side of ctx.on(): one handler list per event type, awaited on dispatch. */
export class EventBus {
  readonly #handlers = new Map<string, Set<Handler>>();

  on(type: string, handler: Handler): Disposable {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return { dispose: () => void set.delete(handler) };
  }

  /** Hands an event to its subscribers; false when nobody subscribed to its type. */
  async dispatch(event: PbxEvent): Promise<boolean> {
    const set = this.#handlers.get(event.type);
    if (!set || set.size === 0) return false;
    for (const h of set) await h(event);
    return true;
  }
}
