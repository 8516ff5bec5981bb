import type { HostContext } from '../host-api';

/** The payloads of CONTRACT.md section 6 (email.failed with its added `to`). */
export interface ReportPayloads {
  'email.delivered': { eventId: string; tenant: string; to: string[]; messageId: string; attempts: number };
  'email.deferred': { eventId: string; tenant: string; attempts: number; nextAttemptAt: string; reason: string };
  /** `to`: the recipients given up (CONTRACT.md section 6: added for a mail delivered to some and failed for others; always present here). */
  'email.failed': { eventId: string; tenant: string; attempts: number; reason: string; to: string[] };
}
export type ReportType = keyof ReportPayloads;

/** Reports delivery outcomes to the host (when it has `emit`) and to its log. A throwing host never breaks delivery. */
export class Reporter {
  readonly #ctx: Pick<HostContext, 'emit' | 'log'>;
  readonly #listeners = new Set<<T extends ReportType>(type: T, payload: ReportPayloads[T]) => void>();

  constructor(ctx: Pick<HostContext, 'emit' | 'log'>) {
    this.#ctx = ctx;
  }

  report<T extends ReportType>(type: T, payload: ReportPayloads[T]): void {
    // One log line per outcome, the host's own log of what it was told being none of ours.
    const level = type === 'email.failed' ? 'warn' : 'info';
    this.#ctx.log[level](type, { ...payload });
    try {
      this.#ctx.emit?.(type, { ...payload });
    } catch (e) {
      this.#ctx.log.error('host emit threw', { type, error: (e as Error).message });
    }
    for (const l of this.#listeners) l(type, payload);
  }

  /** Internal observers (status counters, hooks). Returns an unsubscribe function. */
  subscribe(l: <T extends ReportType>(type: T, payload: ReportPayloads[T]) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
}
