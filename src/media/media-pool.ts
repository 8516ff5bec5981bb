import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PluginError } from '../errors';

/** One conversion: `input` (a spooled file) converted to `output`. */
export type MediaJobInput = { input: string; output: string } & ({ kind: 'mp3'; bitrateKbps: number } | { kind: 'pdf' });

/** One conversion, as sent to a worker. */
export type MediaJob = MediaJobInput & { id: number };

export type MediaReply = { id: number; bytes: number; detail: string; ms: number } | { id: number; error: { message: string; code?: string; errno?: string } };

export type MediaResult = Extract<MediaReply, { bytes: number }>;

export interface MediaWorkerData {
  /** Test seam: how long a worker waits after writing the first chunk of its output. */
  pauseMs: number;
}

export interface MediaPoolOptions {
  /** Worker threads at most. @default between 2 and 4, from the CPU count */
  size?: number;
  /** Heap of one worker, in MB; a worker over it fails its conversion (the original is attached). @default 512 */
  maxHeapMb?: number;
  /** Test seam: see MediaWorkerData.pauseMs. @default 0 */
  pauseMs?: number;
}

interface Task {
  tenant: string;
  job: MediaJobInput;
  budgetMs: number;
  resolve: (r: MediaResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task?: Task;
  id?: number;
  timer?: NodeJS.Timeout;
}

const BOOTSTRAP = `const { workerData } = require('node:worker_threads');
if (workerData.tsNode) require('ts-node/register/transpile-only');
require(workerData.entry);`;

/**
 * A small pool of media worker threads shared fairly by the tenants: each tenant's conversions
 * wait in its own queue, free workers take the tenants in turn, and no tenant runs on more than
 * all workers but one, so a tenant sending large files leaves a worker to everyone else. Each
 * conversion runs on a time budget: a worker still busy when it is spent is terminated (and
 * replaced on the next use), and the conversion fails with CONVERSION_TIMEOUT.
 */
export class MediaPool {
  readonly #size: number;
  readonly #maxHeapMb: number;
  readonly #pauseMs: number;
  readonly #slots = new Set<Slot>();
  readonly #queues = new Map<string, Task[]>();
  readonly #running = new Map<string, number>();
  #nextId = 1;
  #stopped = 0;
  #disposed = false;

  constructor(o: MediaPoolOptions = {}) {
    this.#size = Math.max(1, o.size ?? Math.min(4, Math.max(2, os.availableParallelism())));
    this.#maxHeapMb = o.maxHeapMb ?? 512;
    this.#pauseMs = o.pauseMs ?? 0;
  }

  /** Workers running now, conversions waiting, and workers terminated because a conversion ran over its budget (or died). */
  stats(): { workers: number; queued: number; stopped: number } {
    let queued = 0;
    for (const q of this.#queues.values()) queued += q.length;
    return { workers: this.#slots.size, queued, stopped: this.#stopped };
  }

  /**
   * Converts in a worker, on `budgetMs` of the worker's time (waiting in the queue is not counted).
   * Rejects with a PluginError (CONVERSION_TIMEOUT, CONVERSION_FAILED, CONVERSION_UNSUPPORTED). When
   * `signal` aborts, a conversion still waiting is dropped and the promise rejects with its reason;
   * one already running finishes and keeps its result on disk.
   */
  run(tenant: string, job: MediaJobInput, budgetMs: number, signal?: AbortSignal): Promise<MediaResult> {
    if (this.#disposed) return Promise.reject(new PluginError('CONVERSION_FAILED', 'the media pool is disposed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const task: Task = { tenant, job, budgetMs, resolve, reject };
      const onAbort = () => {
        const q = this.#queues.get(tenant);
        const i = q?.indexOf(task) ?? -1;
        if (i >= 0) {
          q!.splice(i, 1);
          if (q!.length === 0) this.#queues.delete(tenant);
          reject(signal!.reason);
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      task.resolve = (r) => (done(), resolve(r));
      task.reject = (e) => (done(), reject(e));
      const q = this.#queues.get(tenant);
      if (q) q.push(task);
      else this.#queues.set(tenant, [task]);
      this.#dispatch();
    });
  }

  /** The next task by round robin over the tenants (Map order, the tenant served moved to the end), skipping tenants at their cap. */
  #take(): Task | undefined {
    const cap = Math.max(1, this.#size - 1);
    for (const [tenant, q] of this.#queues) {
      if ((this.#running.get(tenant) ?? 0) >= cap) continue;
      const task = q.shift()!;
      this.#queues.delete(tenant);
      if (q.length > 0) this.#queues.set(tenant, q);
      return task;
    }
    return undefined;
  }

  #dispatch(): void {
    for (;;) {
      if (this.#queues.size === 0) return;
      const slot = [...this.#slots].find((s) => s.ready && !s.task);
      if (!slot) {
        if (this.#slots.size < this.#size && ![...this.#slots].some((s) => !s.ready)) this.#spawn();
        return;
      }
      const task = this.#take();
      if (!task) return;
      this.#start(slot, task);
      // A warm spare: the next tenant's file does not wait for a worker to start (loading the encoder takes a moment).
      const idle = [...this.#slots].some((s) => !s.task);
      if (!idle && this.#slots.size < this.#size) this.#spawn();
    }
  }

  #start(slot: Slot, task: Task): void {
    slot.task = task;
    slot.id = this.#nextId++;
    this.#running.set(task.tenant, (this.#running.get(task.tenant) ?? 0) + 1);
    slot.worker.ref();
    slot.timer = setTimeout(() => this.#stop(slot, new PluginError('CONVERSION_TIMEOUT', `the conversion ran for ${task.budgetMs} ms (attachments.conversionTimeoutMs) and was stopped`)), task.budgetMs);
    slot.worker.postMessage({ ...task.job, id: slot.id });
  }

  #finish(slot: Slot): Task | undefined {
    const task = slot.task;
    clearTimeout(slot.timer);
    slot.task = undefined;
    slot.timer = undefined;
    if (task) {
      const n = (this.#running.get(task.tenant) ?? 1) - 1;
      if (n > 0) this.#running.set(task.tenant, n);
      else this.#running.delete(task.tenant);
    }
    if (this.#slots.has(slot)) slot.worker.unref();
    return task;
  }

  #stop(slot: Slot, why: PluginError): void {
    this.#slots.delete(slot);
    const task = this.#finish(slot);
    this.#stopped++;
    void slot.worker.terminate();
    task?.reject(why);
    this.#dispatch();
  }

  #spawn(): void {
    const ext = path.extname(__filename);
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { pauseMs: this.#pauseMs, entry: path.join(__dirname, `media-worker${ext}`), tsNode: ext === '.ts' } satisfies MediaWorkerData & Record<string, unknown>,
      resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb },
      // A decoding library that prints must not reach the host's stdout (the reference host speaks JSON lines there).
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker, ready: false };
    this.#slots.add(slot);
    worker.unref();
    worker.on('message', (m: MediaReply | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        this.#dispatch();
        return;
      }
      if (m.id !== slot.id) return;
      const task = this.#finish(slot);
      if (!task) return;
      if ('error' in m) {
        const code = m.error.code === 'CONVERSION_UNSUPPORTED' || m.error.code === 'CONVERSION_TIMEOUT' ? m.error.code : 'CONVERSION_FAILED';
        task.reject(new PluginError(code, m.error.errno ? `${m.error.errno}: ${m.error.message}` : m.error.message));
      } else task.resolve(m);
      this.#dispatch();
    });
    worker.on('error', (e) => {
      if (!this.#slots.has(slot)) return;
      if (!slot.ready) {
        // A worker that cannot even start: fail what waits rather than respawning forever.
        this.#slots.delete(slot);
        for (const q of this.#queues.values()) for (const t of q.splice(0)) t.reject(new PluginError('CONVERSION_FAILED', `the media worker did not start: ${e.message}`));
        this.#queues.clear();
        return;
      }
      this.#stop(slot, new PluginError('CONVERSION_FAILED', `the media worker failed: ${e.message}`));
    });
    worker.on('exit', () => {
      if (this.#slots.has(slot)) this.#stop(slot, new PluginError('CONVERSION_FAILED', 'the media worker exited'));
    });
  }

  /** Fails waiting conversions and terminates every worker. Idempotent. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const gone = () => new PluginError('CONVERSION_FAILED', 'the media pool is disposed');
    for (const q of this.#queues.values()) for (const t of q.splice(0)) t.reject(gone());
    this.#queues.clear();
    const slots = [...this.#slots];
    this.#slots.clear();
    for (const s of slots) this.#finish(s)?.reject(gone());
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
