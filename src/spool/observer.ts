/** What a spool write cost, for whoever watches (the metrics). Called after the write, never for a failed one. */
export interface SpoolObserver {
  /**
   * A write is on disk: `accept` is one group commit of accepted events (synchronous=FULL, fsynced),
   * `attempt` one commit of attempt outcomes (outcomes that finish together share one).
   */
  wrote(op: 'accept' | 'attempt', seconds: number): void;
}

/** How many records the spool holds in one state (queued ones already attempted as `deferred`), and since when the oldest of them was accepted. */
export interface StateStats {
  state: string;
  count: number;
  /** Epoch ms the oldest record in this state was accepted. */
  oldestCreatedAt: number;
}
