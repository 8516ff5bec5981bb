import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** Loads the worker's TypeScript through ts-node when the pool itself runs from src/ (tests), the compiled .js otherwise. */
const BOOTSTRAP = `const { workerData } = require('node:worker_threads');
if (workerData.tsNode) require('ts-node/register/transpile-only');
require(workerData.entry);`;

/** What a slot's task must offer: its time budget, and a way to fail it. */
export interface SlotTask {
  budgetMs: number;
  reject(e: Error): void;
}

/** Why a running task's worker was terminated. */
export type StopCause = { kind: 'budget' } | { kind: 'error'; error: Error } | { kind: 'exit' };

export interface WorkerSlotsOptions<T extends SlotTask, Reply, Extra> {
  /** Worker threads at most. */
  size: number;
  /** Heap of one worker, in MB. */
  maxHeapMb: number;
  /** The worker module, next to the pool's own file: `dir/name` without extension (`.ts` or `.js`, as the pool). */
  entry: string;
  /** The workerData of one new worker, and what the pool keeps with that worker (read back in `stopped`). */
  spawn(): { data: Record<string, unknown>; extra: Extra };
  /** Pipe and drain the worker's stdout and stderr, so what a library prints never reaches the process's own. @default false (shared with the process) */
  quiet?: boolean;
  /** Start a second worker as soon as the last idle one takes a task (for work whose worker is slow to start). @default false */
  warmSpare?: boolean;
  /** The queue policy: the next task to run now, taken out of the pool's queue, or none. */
  next(): T | undefined;
  /** Whether `next` would give a task (a worker is spawned only for work that waits). */
  waiting(): boolean;
  /** A task starts or ends (for the pool's per-queue accounting). */
  started?(task: T): void;
  ended?(task: T): void;
  /** Settles a task with its worker's reply. */
  settle(task: T, reply: Reply): void;
  /** The error a task fails with when its worker is terminated: over its budget, or the worker failed or exited. */
  stopped(task: T, cause: StopCause, extra: Extra): Error;
  /** A worker could not even start: the pool fails what waits (rather than respawning forever). */
  unstartable(e: Error): void;
}

interface Slot<T, Extra> {
  worker: Worker;
  extra: Extra;
  ready: boolean;
  task?: T;
  id?: number;
  timer?: NodeJS.Timeout;
}

/**
 * The worker threads of a pool, hand-rolled rather than piscina because a task over its time
 * must be stopped by terminating exactly the worker running it, because workers must load
 * TypeScript under mocha, and because the cheap path is one postMessage each way. Workers start on
 * first use, say `{ ready: true }` once loaded, answer `{ id, … }` per task, are held (ref'd) only
 * while working, and are replaced when one is terminated or dies. The queue and its policy are
 * the pool's (`next`).
 */
export class WorkerSlots<T extends SlotTask, Job extends object, Reply extends { id: number }, Extra = undefined> {
  readonly #o: WorkerSlotsOptions<T, Reply, Extra>;
  readonly #job: (task: T) => Job;
  readonly #slots = new Set<Slot<T, Extra>>();
  #nextId = 1;
  #stopped = 0;

  constructor(o: WorkerSlotsOptions<T, Reply, Extra>, job: (task: T) => Job) {
    this.#o = o;
    this.#job = job;
  }

  /** Workers running now (started or starting). */
  get workers(): number {
    return this.#slots.size;
  }

  /** Workers terminated because a task ran over its budget (or the worker died). */
  get stopped(): number {
    return this.#stopped;
  }

  /** Starts waiting tasks on idle workers, spawning workers up to the size while tasks wait. */
  dispatch(): void {
    for (;;) {
      const slot = [...this.#slots].find((s) => s.ready && !s.task);
      if (!slot) {
        const starting = [...this.#slots].some((s) => !s.ready);
        if (this.#slots.size < this.#o.size && !starting && this.#o.waiting()) this.#spawn();
        return;
      }
      const task = this.#o.next();
      if (!task) return;
      this.#start(slot, task);
      if (this.#o.warmSpare && ![...this.#slots].some((s) => !s.task) && this.#slots.size < this.#o.size) this.#spawn();
    }
  }

  /** Fails the running tasks with `gone()` and terminates every worker (the pool fails its own queue). */
  async dispose(gone: () => Error): Promise<void> {
    const slots = [...this.#slots];
    this.#slots.clear();
    for (const s of slots) this.#finish(s)?.reject(gone());
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #start(slot: Slot<T, Extra>, task: T): void {
    slot.task = task;
    slot.id = this.#nextId++;
    this.#o.started?.(task);
    slot.worker.ref();
    slot.timer = setTimeout(() => this.#stop(slot, { kind: 'budget' }), task.budgetMs);
    slot.worker.postMessage({ ...this.#job(task), id: slot.id });
  }

  #finish(slot: Slot<T, Extra>): T | undefined {
    const task = slot.task;
    clearTimeout(slot.timer);
    slot.task = undefined;
    slot.timer = undefined;
    if (task) this.#o.ended?.(task);
    if (this.#slots.has(slot)) slot.worker.unref();
    return task;
  }

  #stop(slot: Slot<T, Extra>, cause: StopCause): void {
    this.#slots.delete(slot);
    const task = this.#finish(slot);
    this.#stopped++;
    void slot.worker.terminate();
    task?.reject(this.#o.stopped(task, cause, slot.extra));
    this.dispatch();
  }

  #spawn(): void {
    const { data, extra } = this.#o.spawn();
    const ext = path.extname(__filename);
    const quiet = this.#o.quiet ?? false;
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { ...data, entry: `${this.#o.entry}${ext}`, tsNode: ext === '.ts' },
      resourceLimits: { maxOldGenerationSizeMb: this.#o.maxHeapMb },
      stdout: quiet,
      stderr: quiet,
    });
    if (quiet) {
      worker.stdout.resume();
      worker.stderr.resume();
    }
    const slot: Slot<T, Extra> = { worker, extra, ready: false };
    this.#slots.add(slot);
    worker.unref();
    worker.on('message', (m: Reply | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        this.dispatch();
        return;
      }
      if (m.id !== slot.id) return;
      const task = this.#finish(slot);
      if (!task) return;
      this.#o.settle(task, m);
      this.dispatch();
    });
    worker.on('error', (e) => {
      if (!this.#slots.has(slot)) return;
      if (!slot.ready) {
        this.#slots.delete(slot);
        this.#o.unstartable(e);
        return;
      }
      this.#stop(slot, { kind: 'error', error: e });
    });
    worker.on('exit', () => {
      if (this.#slots.has(slot)) this.#stop(slot, { kind: 'exit' });
    });
  }
}
