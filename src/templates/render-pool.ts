import * as os from 'node:os';
import * as path from 'node:path';
import { PluginError, type ErrorCode } from '../errors';
import type { SpoolRecord } from '../spool';
import { WorkerSlots } from '../util/worker-slots';
import type { TemplateTenant } from './context';
import type { RenderLimits } from './render-budget';
import { RENDER_STAGES, type RenderedMail, type RenderStage, type TemplateProblem, type UnsavedSources } from './renderer';
import type { TemplateSet } from './template-set';

/** One render, as sent to a worker: plain data only (strings, numbers, Maps of strings). */
export interface RenderJob {
  id: number;
  rec: SpoolRecord;
  tenant: TemplateTenant;
  own: TemplateSet;
  sources?: UnsavedSources;
  /** What beforeRender hooks added. */
  view?: Record<string, unknown>;
  limits: RenderLimits;
  avoid: RenderStage[];
}

export type WorkerReply =
  | { id: number; mail: RenderedMail; problems: TemplateProblem[]; problemKeys: string[] }
  | { id: number; error: { message: string; code?: string; field?: string } };

export interface WorkerData {
  root: string;
  /** Extension modules to load (their kinds and helpers), by resolved path. */
  extensions: readonly string[];
  /** One Int32: 0 idle, else 1 + the index in RENDER_STAGES of the stage running. */
  progress: SharedArrayBuffer;
}

/** A render that did not finish in time and whose worker was terminated. */
export class RenderStopped extends Error {
  override readonly name = 'RenderStopped';
  /** The stage that was running, when known. */
  readonly stage: RenderStage | undefined;
  constructor(message: string, stage: RenderStage | undefined) {
    super(message);
    this.stage = stage;
  }
}

/** Which queue a job waits in: previews may never hold every worker, so mail always has one. */
export type RenderLane = 'mail' | 'preview';

export interface RenderPoolOptions {
  /** The package templates/ folder. */
  root: string;
  /** Extension modules every worker loads, by resolved path. @default none */
  extensions?: readonly string[];
  /** Worker threads at most. @default between 2 and 4, from the CPU count */
  size?: number;
  /** Heap of one worker, in MB; a worker over it is ended like one over time. @default 384 */
  maxHeapMb?: number;
}

interface Task {
  job: Omit<RenderJob, 'id'>;
  lane: RenderLane;
  budgetMs: number;
  resolve: (r: Extract<WorkerReply, { mail: unknown }>) => void;
  reject: (e: Error) => void;
}

/**
 * A small pool of render worker threads (see WorkerSlots for why hand-rolled). A render over its
 * time is stopped by terminating its worker, and the stage it was in is read from that worker's
 * shared progress word. Previews never hold every worker, so mail always has one.
 */
export class RenderPool {
  readonly #slots: WorkerSlots<Task, Omit<RenderJob, 'id'>, WorkerReply, Int32Array>;
  readonly #queue: Task[] = [];
  readonly #size: number;
  #previews = 0;
  #disposed = false;

  constructor(o: RenderPoolOptions) {
    const extensions = o.extensions ?? [];
    this.#size = Math.max(1, o.size ?? Math.min(4, Math.max(2, os.availableParallelism())));
    this.#slots = new WorkerSlots<Task, Omit<RenderJob, 'id'>, WorkerReply, Int32Array>(
      {
        size: this.#size,
        maxHeapMb: o.maxHeapMb ?? 384,
        entry: path.join(__dirname, 'render-worker'),
        spawn: () => {
          const progress = new SharedArrayBuffer(4);
          return { data: { root: o.root, extensions, progress } satisfies WorkerData, extra: new Int32Array(progress) };
        },
        next: () => {
          const i = this.#dispatchable();
          return i < 0 ? undefined : this.#queue.splice(i, 1)[0];
        },
        waiting: () => this.#dispatchable() >= 0,
        started: (t) => void (t.lane === 'preview' && this.#previews++),
        ended: (t) => void (t.lane === 'preview' && this.#previews--),
        settle: (t, m) => {
          if ('error' in m) t.reject(m.error.code ? new PluginError(m.error.code as ErrorCode, m.error.message, { ...(m.error.field !== undefined && { field: m.error.field }) }) : new Error(m.error.message));
          else t.resolve(m);
        },
        stopped: (t, cause, progress) => {
          const code = Atomics.load(progress, 0);
          const why = cause.kind === 'budget' ? `the render ran for ${t.budgetMs} ms` : cause.kind === 'error' ? `the render worker failed: ${cause.error.message}` : 'the render worker exited';
          return new RenderStopped(why, code > 0 ? RENDER_STAGES[code - 1] : undefined);
        },
        unstartable: (e) => {
          for (const t of this.#queue.splice(0)) t.reject(e);
        },
      },
      (t) => t.job,
    );
  }

  /** Workers running now (started or starting). */
  get workers(): number {
    return this.#slots.workers;
  }

  /** Workers terminated because a render ran over its time (or died). */
  get stopped(): number {
    return this.#slots.stopped;
  }

  /**
   * Renders `job` in a worker. Rejects with RenderStopped when the render is still running
   * `hardMs` after it started (the worker is terminated) or the worker dies.
   */
  run(job: Omit<RenderJob, 'id'>, hardMs: number, lane: RenderLane = 'mail'): Promise<Extract<WorkerReply, { mail: unknown }>> {
    if (this.#disposed) return Promise.reject(new Error('the render pool is disposed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, lane, budgetMs: hardMs, resolve, reject });
      this.#slots.dispatch();
    });
  }

  /** The first queued render that may start now (mail always; a preview while previews leave a worker free). */
  #dispatchable(): number {
    return this.#queue.findIndex((t) => t.lane === 'mail' || this.#previews < Math.max(1, this.#size - 1));
  }

  /** Fails queued renders and terminates every worker. Idempotent. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const gone = () => new Error('the render pool is disposed');
    for (const t of this.#queue.splice(0)) t.reject(gone());
    await this.#slots.dispose(gone);
  }
}
