import * as fs from 'node:fs';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { createMp3Encoder } from 'wasm-media-encoders';
import { isPluginError } from '../errors';
import type { MediaJob, MediaReply, MediaWorkerData } from './media-pool';
import { tiffToPdf } from './tiff-to-pdf';
import { wavToMp3, type Converted, type Mp3Encoder } from './wav-to-mp3';

// The entry of a media worker thread (started by MediaPool). It converts one file at a time and
// makes the result durable itself: written to `<output>.part`, synced, renamed to `<output>`,
// directory synced. A worker stopped mid-way (over budget, process killed) leaves at most the
// .part file, which the next attempt overwrites.

const port = parentPort!;
const data = workerData as MediaWorkerData;

function writeDurably(output: string, chunks: Uint8Array[], pauseMs: number): number {
  const tmp = `${output}.part`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  let bytes = 0;
  try {
    fs.fchmodSync(fd, 0o600); // recordings and faxes are private, whatever the umask
    for (const [i, c] of chunks.entries()) {
      for (let done = 0; done < c.length; ) done += fs.writeSync(fd, c, done, c.length - done);
      bytes += c.length;
      // Test seam: a conversion caught half-written (the crash tests kill the process here).
      if (i === 0 && pauseMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, output);
  const dir = fs.openSync(path.dirname(output), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return bytes;
}

async function main(): Promise<void> {
  const encoder: Mp3Encoder = await createMp3Encoder();
  port.on('message', (job: MediaJob) => {
    let reply: MediaReply;
    try {
      const started = performance.now();
      const out: Converted = job.kind === 'mp3' ? wavToMp3(job.input, job.bitrateKbps, encoder) : tiffToPdf(fs.readFileSync(job.input));
      const bytes = writeDurably(job.output, out.chunks, data.pauseMs);
      reply = { id: job.id, bytes, detail: out.detail, ms: Math.round(performance.now() - started) };
    } catch (e) {
      const err = e as Error & { code?: string };
      reply = { id: job.id, error: { message: String(err?.message ?? e), ...(isPluginError(e) ? { code: err.code } : err?.code ? { errno: err.code } : {}) } };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true });
}

void main();
