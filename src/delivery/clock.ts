/**
 * The two clocks delivery reads. `wall` (epoch ms) is what the spool stores and reports carry; it
 * can jump (NTP step, an operator's `date -s`, a VM resumed days later). `mono` only moves forward
 * at the rate of real time, so holds, backoffs and timers measured with it are never stretched or
 * cut short by a jump of the wall clock.
 */
export interface Clock {
  /** Epoch milliseconds, as Date.now(). */
  wall(): number;
  /** Milliseconds from an arbitrary origin, never going back (performance.now()). */
  mono(): number;
}

export const systemClock: Clock = Object.freeze({
  wall: () => Date.now(),
  mono: () => performance.now(),
});
