import { parentPort, workerData } from 'node:worker_threads';
import { SchemaRegistry } from '../config';
import { isPluginError } from '../errors';
import { HelperRegistry, loadExtensions } from '../extensions';
import type { HostLog } from '../host-api';
import { builtInKinds } from '../kinds';
import { packageRoot } from '../util/package-root';
import { Renderer, RENDER_STAGES, type TemplateProblem } from './renderer';
import { previewRecord } from './samples';
import type { RenderJob, WorkerData, WorkerReply } from './render-pool';

// The entry of a render worker thread (started by RenderPool). It renders one job at a time with
// its own Renderer (own compiled-template and partial caches) and writes the stage it is in to
// the shared progress cell, so the main thread knows what was running if it has to stop it. It
// loads the same extension modules as the plugin instance (their kinds and helpers; their hooks
// run on the main thread only), so an extension kind's mail renders here like a built-in's.

const SILENT: HostLog = { debug() {}, info() {}, warn() {}, error() {} };

const port = parentPort!;
const data = workerData as WorkerData;
const progress = new Int32Array(data.progress);

async function start(): Promise<void> {
  const kinds = builtInKinds(new SchemaRegistry());
  const helpers = new HelperRegistry();
  if (data.extensions.length > 0) await loadExtensions(data.extensions, { kinds, helpers, log: SILENT, timeoutMs: 10_000, baseDir: packageRoot() });
  const renderer = new Renderer(data.root, SILENT, undefined, kinds, helpers.map());
  port.on('message', (job: RenderJob) => {
    const problems: TemplateProblem[] = [];
    const problemKeys: string[] = [];
    let reply: WorkerReply;
    try {
      const mail = renderer.render(job.rec, job.tenant, {
        own: job.own,
        ...(job.sources && { sources: job.sources }),
        ...(job.view && { view: job.view }),
        limits: job.limits,
        avoid: new Set(job.avoid),
        problems,
        problemKeys,
        stage: (s) => Atomics.store(progress, 0, RENDER_STAGES.indexOf(s) + 1),
      });
      reply = { id: job.id, mail, problems, problemKeys };
    } catch (e) {
      const err = e as Error & { code?: string; field?: string };
      reply = { id: job.id, error: { message: String(err?.message ?? e), ...(isPluginError(e) && { code: err.code, ...(err.field !== undefined && { field: err.field }) }) } };
    }
    Atomics.store(progress, 0, 0);
    port.postMessage(reply);
  });
  // Warm up (compile the defaults, make the Intl objects, fill the CSS shapes) before taking work,
  // so that a worker's first render is not slower than its others.
  for (const kind of kinds.all()) {
    if (!kind.builtIn) continue; // extension code runs only for real work, on its budget
    try {
      const sample = kind.sample;
      if (sample) renderer.render(previewRecord(sample.event, sample.event.tenant, sample.attachmentBytes, kind), { id: sample.event.tenant });
    } catch {
      // a broken sample only costs the warm-up
    }
  }
  port.postMessage({ ready: true });
}

void start();
