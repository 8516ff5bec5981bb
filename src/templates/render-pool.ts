import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PluginError, type ErrorCode } from '../errors';
import type { SpoolRecord } from '../spool';
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
  hardMs: number;
  resolve: (r: Extract<WorkerReply, { mail: unknown }>) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  progress: Int32Array;
  ready: boolean;
  task?: Task;
  timer?: NodeJS.Timeout;
  id?: number;
}

/** Loads the worker's TypeScript through ts-node when this module itself runs from src/ (tests), the compiled .js otherwise. */
const BOOTSTRAP = `const { workerData } = require('node:worker_threads');
if (workerData.tsNode) require('ts-node/register/transpile-only');
require(workerData.entry);`;

/**
 * A small pool of render worker threads, hand-rolled rather than piscina because a render over
 * its time must be stopped by terminating exactly the worker running it (and the stage it was
 * in must be read from that worker), because workers must load TypeScript under mocha, and
 * because the cheap path is one postMessage each way. Workers start on first use, are held
 * (ref'd) only while rendering, and are replaced when one is terminated or dies.
 */
export class RenderPool {
  readonly #root: string;
  readonly #extensions: readonly string[];
  readonly #size: number;
  readonly #maxHeapMb: number;
  readonly #slots = new Set<Slot>();
  readonly #queue: Task[] = [];
  #nextId = 1;
  #previews = 0;
  #stopped = 0;
  #disposed = false;

  constructor(o: RenderPoolOptions) {
    this.#root = o.root;
    this.#extensions = o.extensions ?? [];
    this.#size = Math.max(1, o.size ?? Math.min(4, Math.max(2, os.availableParallelism())));
    this.#maxHeapMb = o.maxHeapMb ?? 384;
  }

  /** Workers running now (started or starting). */
  get workers(): number {
    return this.#slots.size;
  }

  /** Workers terminated because a render ran over its time (or died). */
  get stopped(): number {
    return this.#stopped;
  }

  /**
   * Renders `job` in a worker. Rejects with RenderStopped when the render is still running
   * `hardMs` after it started (the worker is terminated) or the worker dies.
   */
  run(job: Omit<RenderJob, 'id'>, hardMs: number, lane: RenderLane = 'mail'): Promise<Extract<WorkerReply, { mail: unknown }>> {
    if (this.#disposed) return Promise.reject(new Error('the render pool is disposed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, lane, hardMs, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const i = this.#queue.findIndex((t) => t.lane === 'mail' || this.#previews < Math.max(1, this.#size - 1));
      if (i < 0) return;
      const slot = [...this.#slots].find((s) => s.ready && !s.task);
      if (!slot) {
        const starting = [...this.#slots].some((s) => !s.ready);
        if (this.#slots.size < this.#size && !starting) this.#spawn();
        return;
      }
      const task = this.#queue.splice(i, 1)[0]!;
      this.#start(slot, task);
    }
  }

  #start(slot: Slot, task: Task): void {
    slot.task = task;
    slot.id = this.#nextId++;
    if (task.lane === 'preview') this.#previews++;
    slot.worker.ref();
    slot.timer = setTimeout(() => this.#stop(slot, `the render ran for ${task.hardMs} ms`), task.hardMs);
    slot.worker.postMessage({ ...task.job, id: slot.id });
  }

  #finish(slot: Slot): Task | undefined {
    const task = slot.task;
    clearTimeout(slot.timer);
    slot.task = undefined;
    slot.timer = undefined;
    if (task?.lane === 'preview') this.#previews--;
    if (this.#slots.has(slot)) slot.worker.unref();
    return task;
  }

  /** Terminates a worker whose render ran over time (or that died), failing its task with the stage it was in. */
  #stop(slot: Slot, why: string): void {
    const code = Atomics.load(slot.progress, 0);
    const stage = code > 0 ? RENDER_STAGES[code - 1] : undefined;
    this.#slots.delete(slot);
    const task = this.#finish(slot);
    this.#stopped++;
    void slot.worker.terminate();
    task?.reject(new RenderStopped(why, stage));
    this.#dispatch();
  }

  #spawn(): void {
    const progress = new SharedArrayBuffer(4);
    const ext = path.extname(__filename);
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { root: this.#root, extensions: this.#extensions, progress, entry: path.join(__dirname, `render-worker${ext}`), tsNode: ext === '.ts' } satisfies WorkerData & Record<string, unknown>,
      resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb },
      stdout: false,
      stderr: false,
    });
    const slot: Slot = { worker, progress: new Int32Array(progress), ready: false };
    this.#slots.add(slot);
    worker.unref();
    worker.on('message', (m: WorkerReply | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        this.#dispatch();
        return;
      }
      if (m.id !== slot.id) return;
      const task = this.#finish(slot);
      if (!task) return;
      if ('error' in m) task.reject(m.error.code ? new PluginError(m.error.code as ErrorCode, m.error.message, { ...(m.error.field !== undefined && { field: m.error.field }) }) : new Error(m.error.message));
      else task.resolve(m);
      this.#dispatch();
    });
    worker.on('error', (e) => {
      if (!this.#slots.has(slot)) return;
      if (!slot.ready) {
        // A worker that cannot even start: fail what waits rather than respawning forever.
        this.#slots.delete(slot);
        for (const t of this.#queue.splice(0)) t.reject(e);
        return;
      }
      this.#stop(slot, `the render worker failed: ${e.message}`);
    });
    worker.on('exit', () => {
      if (this.#slots.has(slot)) this.#stop(slot, 'the render worker exited');
    });
  }

  /** Fails queued renders and terminates every worker. Idempotent. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const t of this.#queue.splice(0)) t.reject(new Error('the render pool is disposed'));
    const slots = [...this.#slots];
    this.#slots.clear();
    for (const s of slots) this.#finish(s)?.reject(new Error('the render pool is disposed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
