import { once, type EventEmitter } from 'node:events';

export interface WaitOptions {
  /** What is awaited, for the error on timeout ("the first SMTP session open"). */
  what: string;
  /**
   * Gives up after this long: a liveness bound that only a broken or hung scenario reaches, never a
   * timing measurement. @default 10_000
   */
  timeoutMs?: number;
  /** State worth printing when it times out (counts, what was emitted …). */
  detail?: () => unknown;
  /** How often the predicate is looked at, in milliseconds. @default 20 */
  intervalMs?: number;
}

/** The error a wait throws at its deadline: says what it waited for, for how long, and what it saw. */
export class WaitTimeout extends Error {
  override readonly name = 'WaitTimeout';
  readonly code = 'WAIT_TIMEOUT';
}

function timeoutError(o: WaitOptions, ms: number): WaitTimeout {
  let seen = '';
  if (o.detail) {
    try {
      seen = `; saw ${JSON.stringify(o.detail())}`;
    } catch (e) {
      seen = `; detail() threw ${(e as Error).message}`;
    }
  }
  return new WaitTimeout(`timed out after ${ms} ms waiting for ${o.what}${seen}`);
}

/**
 * Resolves with the first truthy value of `probe` (looked at now, then every `intervalMs`); rejects
 * with WaitTimeout after `timeoutMs`. A probe that throws rejects at once.
 * @example await waitFor(() => server.open > 0, { what: 'a session open at the server' })
 */
export async function waitFor<T>(probe: () => T | Promise<T>, o: WaitOptions): Promise<NonNullable<T>> {
  const ms = o.timeoutMs ?? 10_000;
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() >= end) throw timeoutError(o, ms);
    await new Promise((r) => setTimeout(r, Math.min(o.intervalMs ?? 20, Math.max(1, end - Date.now()))));
  }
}

/** The arguments of the next `event` of `emitter`; rejects with WaitTimeout after `timeoutMs` (and removes its listener). */
export async function waitForEvent(emitter: EventEmitter, event: string, o: WaitOptions): Promise<unknown[]> {
  const ms = o.timeoutMs ?? 10_000;
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), ms);
  try {
    return await once(emitter, event, { signal: ac.signal });
  } catch (e) {
    if (ac.signal.aborted) throw timeoutError(o, ms);
    throw e;
  } finally {
    clearTimeout(t);
  }
}

/** Settles as `p` does, or rejects with WaitTimeout after `timeoutMs`. */
export async function settles<V>(p: Promise<V>, o: WaitOptions): Promise<V> {
  const ms = o.timeoutMs ?? 10_000;
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(timeoutError(o, ms)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}
