/**
 * Runs `fn` (sync or async) and settles as it does, or rejects with `late()` once `ms` have
 * passed; `fn` itself runs on, unwatched (a budget for code that cannot be stopped, such as an
 * extension's hook or register()).
 */
export function settleWithin(fn: () => unknown, ms: number, late: () => unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    Promise.resolve()
      .then(fn)
      .then(
        () => resolve(),
        (e) => reject(e),
      )
      .finally(() => clearTimeout(timer));
  });
}
