import * as fs from 'node:fs';
import type { EffectiveTenant } from '../config';
import { isPluginError } from '../errors';
import type { HostLog } from '../host-api';
import type { SpoolRecord, StoredAttachment } from '../spool';
import type { MediaPool } from './media-pool';

/** Time one conversion may take when the tenant sets no `attachments.conversionTimeoutMs`: 5 s. */
export const DEFAULT_CONVERSION_TIMEOUT_MS = 5_000;
/** MP3 bit rate when the tenant sets no `attachments.mp3BitrateKbps`: 32 kbit/s, clear mono voice. */
export const DEFAULT_MP3_BITRATE_KBPS = 32;

const WAV_TYPES = new Set(['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave']);
const TARGETS = { mp3: 'audio/mpeg', pdf: 'application/pdf' } as const;

/** Counters of one plugin instance's conversions. */
export interface ConversionStats {
  /** Files converted (each at most once per message). */
  converted: number;
  /** Attempts that found the file converted by an earlier attempt (a retry, a restart). */
  reused: number;
  /** Files that could not be converted and went as they came (each logged once). */
  failed: number;
}

/** What conversion a spooled file gets under the tenant's current settings, if any. */
export function conversionFor(a: StoredAttachment, tenant: EffectiveTenant): keyof typeof TARGETS | undefined {
  const type = a.contentType.toLowerCase();
  if (a.role === 'recording' && WAV_TYPES.has(type) && (tenant.attachments?.audioFormat ?? 'mp3') === 'mp3') return 'mp3';
  if (a.role === 'document' && type === 'image/tiff' && (tenant.attachments?.faxFormat ?? 'pdf') === 'pdf') return 'pdf';
  return undefined;
}

/**
 * Turns a spooled message's recording into MP3 and its fax into PDF, once per message, at its
 * delivery attempt (the intake never waits for it). The result is stored in the message's spool
 * directory next to the original (`recording.mp3`, `document.pdf`), written durably by the worker,
 * so a retry or a restart uses it without converting again; a conversion cut short by a crash left
 * only a `.part` file and runs again. A file that cannot be converted goes as it came: that is
 * logged once with its CONVERSION_* code and remembered (`<name>.failed`), so it is not tried again.
 */
export class AttachmentConverter {
  readonly #pool: MediaPool;
  readonly #log: HostLog;
  readonly #stats: ConversionStats = { converted: 0, reused: 0, failed: 0 };

  constructor(pool: MediaPool, log: HostLog) {
    this.#pool = pool;
    this.#log = log;
  }

  stats(): ConversionStats & ReturnType<MediaPool['stats']> {
    return { ...this.#stats, ...this.#pool.stats() };
  }

  /** The record with each convertible file replaced by its converted copy (the original where conversion failed). Rejects only when `signal` aborts. */
  async prepare(rec: SpoolRecord, tenant: EffectiveTenant, signal: AbortSignal): Promise<SpoolRecord> {
    if (rec.attachments.length === 0) return rec;
    const out: StoredAttachment[] = [];
    let changed = false;
    for (const a of rec.attachments) {
      const target = conversionFor(a, tenant);
      const converted = target && (await this.#convert(rec, a, target, tenant, signal));
      out.push(converted ?? a);
      changed ||= converted !== undefined;
    }
    return changed ? { ...rec, attachments: out } : rec;
  }

  async #convert(rec: SpoolRecord, a: StoredAttachment, target: keyof typeof TARGETS, tenant: EffectiveTenant, signal: AbortSignal): Promise<StoredAttachment | undefined> {
    const output = `${a.path}.${target}`;
    // Built afresh rather than spread: nothing the courier marked on the original carries over.
    const as = (size: number): StoredAttachment => ({ path: output, contentType: TARGETS[target], size, role: a.role, ...(a.filename !== undefined && { filename: a.filename }) });
    const done = await statFile(output);
    if (done) {
      this.#stats.reused++;
      return as(done.size);
    }
    if ((await statFile(`${output}.failed`)) || !(await statFile(a.path))) return undefined; // given up earlier, or the original vanished (the courier says so)
    const budget = tenant.attachments?.conversionTimeoutMs ?? DEFAULT_CONVERSION_TIMEOUT_MS;
    const job = target === 'mp3' ? { kind: 'mp3' as const, input: a.path, output, bitrateKbps: tenant.attachments?.mp3BitrateKbps ?? DEFAULT_MP3_BITRATE_KBPS } : { kind: 'pdf' as const, input: a.path, output };
    try {
      const r = await this.#pool.run(rec.tenant, job, budget, signal);
      this.#stats.converted++;
      this.#log.info('attachment converted', { tenant: rec.tenant, eventId: rec.eventId, role: a.role, detail: r.detail, fromBytes: a.size, toBytes: r.bytes, ms: r.ms });
      return as(r.bytes);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      const code = isPluginError(e) ? e.code : 'CONVERSION_FAILED';
      const reason = (e as Error)?.message ?? String(e);
      this.#stats.failed++;
      this.#log.warn(`attachment not converted to ${target.toUpperCase()}; attached as it came`, { code, tenant: rec.tenant, eventId: rec.eventId, role: a.role, contentType: a.contentType, reason });
      // Remembered next to the file: a retry sends the original at once instead of paying the budget again.
      await fs.promises.writeFile(`${output}.failed`, `${JSON.stringify({ code, reason })}\n`, { mode: 0o600 }).catch(() => undefined);
      await fs.promises.rm(`${output}.part`, { force: true }).catch(() => undefined);
      return undefined;
    }
  }
}

async function statFile(p: string): Promise<fs.Stats | undefined> {
  try {
    const st = await fs.promises.stat(p);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}
