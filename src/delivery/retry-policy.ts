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
