import { performance } from 'node:perf_hooks';
import { PluginError } from '../errors';

/**
 * What one render of tenant templates may spend. A template over any of these is treated as
 * broken: that part falls back to the next level.
 * @example { timeMs: 250, outputChars: 1_048_576, partialDepth: 16, partialCalls: 1_000 }
 */
export interface RenderLimits {
  /** Time all of one mail's tenant templates may run together, in milliseconds (`delivery.renderTimeoutMs`). @default 250 */
  timeMs: number;
  /** Longest output of one part (subject, text, HTML body, layout), in characters. @default 1_048_576 */
  outputChars: number;
  /** Deepest nesting of partials in one part. @default 16 */
  partialDepth: number;
  /** Partial calls in one part. @default 1_000 */
  partialCalls: number;
}

export const DEFAULT_RENDER_LIMITS: Readonly<RenderLimits> = Object.freeze({
  timeMs: 250, // delivery.renderTimeoutMs
  outputChars: 1_048_576, // characters per part
  partialDepth: 16, // nested partial calls
  partialCalls: 1_000, // partial calls per part
});

/** The limit a render ran into. */
export type BudgetLimit = keyof RenderLimits;

/** How each limit is named in logs and problems. */
export function describeLimit(limit: BudgetLimit, limits: RenderLimits): string {
  switch (limit) {
    case 'timeMs':
      return `render time limit of ${limits.timeMs} ms (delivery.renderTimeoutMs)`;
    case 'outputChars':
      return `output limit of ${limits.outputChars} characters per part`;
    case 'partialDepth':
      return `partial nesting limit of ${limits.partialDepth}`;
    case 'partialCalls':
      return `limit of ${limits.partialCalls} partial calls per part`;
  }
}

/** A render ran out of budget. `limit` names which one. */
export class BudgetExceeded extends PluginError {
  readonly limit: BudgetLimit;
  constructor(limit: BudgetLimit, limits: RenderLimits) {
    super('TEMPLATE_INVALID', `over the ${describeLimit(limit, limits)}`);
    this.limit = limit;
  }
}

/** How many steps pass between two looks at the clock. */
const CLOCK_EVERY = 64;

/**
 * The counters of one part's render: partial calls and depth, output size, and the render's
 * deadline (shared by every part of one mail). Helpers, `#each` iterations and partial calls
 * are steps; the clock is read every few steps, so a template that loops or nests partials
 * stops soon after the deadline. Code the budget cannot see (CSS inlining, a huge parse) is
 * stopped from outside, by terminating the worker.
 */
export class Budget {
  readonly limits: RenderLimits;
  readonly deadline: number;
  #steps = 0;
  #calls = 0;
  #depth = 0;

  /** `deadline` is a `performance.now()` time. */
  constructor(limits: RenderLimits, deadline: number) {
    this.limits = limits;
    this.deadline = deadline;
  }

  step(): void {
    if (++this.#steps % CLOCK_EVERY === 0) this.checkTime();
  }

  checkTime(): void {
    if (performance.now() > this.deadline) throw new BudgetExceeded('timeMs', this.limits);
  }

  enterPartial(): void {
    if (++this.#calls > this.limits.partialCalls) throw new BudgetExceeded('partialCalls', this.limits);
    if (++this.#depth > this.limits.partialDepth) {
      this.#depth--;
      throw new BudgetExceeded('partialDepth', this.limits);
    }
    this.step();
  }

  leavePartial(): void {
    this.#depth--;
  }

  /** A piece of output (a partial's, an iteration's, a part's): none may be longer than the cap. */
  output(chars: number): void {
    if (chars > this.limits.outputChars) throw new BudgetExceeded('outputChars', this.limits);
  }
}

/** The budget a helper or partial sees in its Handlebars data frame. */
export function budgetOf(options: unknown): Budget | undefined {
  const b = (options as { data?: { budget?: unknown } } | undefined)?.data?.budget;
  return b instanceof Budget ? b : undefined;
}
