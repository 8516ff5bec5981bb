import * as os from 'node:os';
import * as path from 'node:path';
import { PluginError } from '../errors';
import { WorkerSlots } from '../util/worker-slots';

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

/**
 * A small pool of media worker threads (see WorkerSlots) shared fairly by the tenants: each
 * tenant's conversions wait in its own queue, free workers take the tenants in turn, and no tenant
 * runs on more than all workers but one, so a tenant sending large files leaves a worker to
 * everyone else. Each conversion runs on a time budget: a worker still busy when it is spent is
 * terminated (and replaced on the next use), and the conversion fails with CONVERSION_TIMEOUT.
 */
export class MediaPool {
  readonly #slots: WorkerSlots<Task, MediaJobInput, MediaReply>;
  readonly #queues = new Map<string, Task[]>();
  readonly #running = new Map<string, number>();
  readonly #cap: number;
  #disposed = false;

  constructor(o: MediaPoolOptions = {}) {
    const size = Math.max(1, o.size ?? Math.min(4, Math.max(2, os.availableParallelism())));
    const pauseMs = o.pauseMs ?? 0;
    this.#cap = Math.max(1, size - 1);
    const failed = (message: string) => new PluginError('CONVERSION_FAILED', message);
    this.#slots = new WorkerSlots<Task, MediaJobInput, MediaReply>(
      {
        size,
        maxHeapMb: o.maxHeapMb ?? 512,
        entry: path.join(__dirname, 'media-worker'),
        spawn: () => ({ data: { pauseMs } satisfies MediaWorkerData, extra: undefined }),
        // A decoding library that prints must not reach the host's stdout (the reference host speaks JSON lines there).
        quiet: true,
        // The next tenant's file does not wait for a worker to start (loading the encoder takes a moment).
        warmSpare: true,
        next: () => this.#take(),
        waiting: () => this.#queues.size > 0,
        started: (t) => void this.#running.set(t.tenant, (this.#running.get(t.tenant) ?? 0) + 1),
        ended: (t) => {
          const n = (this.#running.get(t.tenant) ?? 1) - 1;
          if (n > 0) this.#running.set(t.tenant, n);
          else this.#running.delete(t.tenant);
        },
        settle: (t, m) => {
          if (!('error' in m)) return t.resolve(m);
          const code = m.error.code === 'CONVERSION_UNSUPPORTED' || m.error.code === 'CONVERSION_TIMEOUT' ? m.error.code : 'CONVERSION_FAILED';
          t.reject(new PluginError(code, m.error.errno ? `${m.error.errno}: ${m.error.message}` : m.error.message));
        },
        stopped: (t, cause) =>
          cause.kind === 'budget'
            ? new PluginError('CONVERSION_TIMEOUT', `the conversion ran for ${t.budgetMs} ms (attachments.conversionTimeoutMs) and was stopped`)
            : failed(cause.kind === 'error' ? `the media worker failed: ${cause.error.message}` : 'the media worker exited'),
        unstartable: (e) => this.#failWaiting(() => failed(`the media worker did not start: ${e.message}`)),
      },
      (t) => t.job,
    );
  }

  /** Workers running now, conversions waiting, and workers terminated because a conversion ran over its budget (or died). */
  stats(): { workers: number; queued: number; stopped: number } {
    let queued = 0;
    for (const q of this.#queues.values()) queued += q.length;
    return { workers: this.#slots.workers, queued, stopped: this.#slots.stopped };
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
      this.#slots.dispatch();
    });
  }

  /** The next task by round robin over the tenants (Map order, the tenant served moved to the end), skipping tenants at their cap. */
  #take(): Task | undefined {
    for (const [tenant, q] of this.#queues) {
      if ((this.#running.get(tenant) ?? 0) >= this.#cap) continue;
      const task = q.shift()!;
      this.#queues.delete(tenant);
      if (q.length > 0) this.#queues.set(tenant, q);
      return task;
    }
    return undefined;
  }

  #failWaiting(why: () => Error): void {
    for (const q of this.#queues.values()) for (const t of q.splice(0)) t.reject(why());
    this.#queues.clear();
  }

  /** Fails waiting conversions and terminates every worker. Idempotent. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const gone = () => new PluginError('CONVERSION_FAILED', 'the media pool is disposed');
    this.#failWaiting(gone);
    await this.#slots.dispose(gone);
  }
}
