/** Backoff settings, as in `delivery.retry`. */
export interface RetrySettings {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAgeMs: number;
  /** How long a message waits after its tenant's server refused the credentials. */
  readonly authFailureDelayMs: number;
}

/**
 * The delay before retry number `attempt` (1 = after the first failure): exponential from
 * initialDelayMs, capped at maxDelayMs, with "equal jitter" (half fixed, half random) so that a
 * recovering server is not hit by every queued message at once.
 */
export function backoffDelay(attempt: number, r: Pick<RetrySettings, 'initialDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const exp = Math.min(r.maxDelayMs, r.initialDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** The longest any retry is ever scheduled ahead of now: the backoff cap, or the hold after refused credentials. */
export function longestDelay(r: Pick<RetrySettings, 'maxDelayMs' | 'authFailureDelayMs'>): number {
  return Math.max(r.maxDelayMs, r.authFailureDelayMs);
}

/**
 * When a queued message is really due. No retry is ever scheduled further than longestDelay()
 * ahead, so a stored time beyond that means the wall clock moved back since it was written (or
 * was wrong then): the stored time says nothing any more, and the message is due now.
 * @example rebaseDue(Date.parse('2026-12-03T12:00Z'), Date.parse('2026-12-02T12:00Z'), retry) // the clock went back a day: due now
 */
export function rebaseDue(nextAttemptAt: number, now: number, r: Pick<RetrySettings, 'maxDelayMs' | 'authFailureDelayMs'>): number {
  return nextAttemptAt > now + longestDelay(r) ? now : nextAttemptAt;
}

/** True when a message accepted at `createdAt` is past maxAgeMs at `now`: its next failed attempt is its last. */
export function isExpired(createdAt: number, now: number, r: Pick<RetrySettings, 'maxAgeMs'>): boolean {
  return now - createdAt > r.maxAgeMs;
}
