import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Disposable, HostContext, PbxEvent } from '../../src/host-api';
import { packageRoot } from '../../src/util/package-root';

/**
 * A lean HostContext for benchmarks (CONTRACT.md section 3): handlers by type, and every emit
 * handed to a listener with the time it happened. Logs are counted, warnings kept (few).
 */
export class BenchHost {
  readonly handlers = new Map<string, (e: PbxEvent) => Promise<void>>();
  readonly manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(__dirname), 'plugin.json'), 'utf8'));
  readonly dataDir: string;
  readonly config: unknown;
  readonly errors: { msg: string; fields?: Record<string, unknown> }[] = [];
  onEmit: (type: string, payload: Record<string, any>, at: number) => void = () => undefined;

  constructor(config: unknown, dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-'))) {
    this.config = config;
    this.dataDir = dataDir;
  }

  context(): HostContext {
    const quiet = () => undefined;
    return {
      hostApiVersion: '1.0.0',
      manifest: this.manifest,
      config: this.config,
      dataDir: this.dataDir,
      log: { debug: quiet, info: quiet, warn: quiet, error: (msg, fields) => void this.errors.push({ msg, ...(fields && { fields }) }) },
      on: (type, handler): Disposable => {
        this.handlers.set(type, handler);
        return { dispose: () => this.handlers.delete(type) };
      },
      emit: (type, payload) => this.onEmit(type, payload, performance.now()),
    };
  }

  send(event: { type: string }): Promise<void> {
    return this.handlers.get(event.type)!(event as PbxEvent);
  }

  cleanup(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A tenant's settings pointing at a loopback server that presents a TestCa certificate. */
export function smtpTo(port: number, ca: string, over: Record<string, unknown> = {}) {
  return { host: '127.0.0.1', port, security: 'starttls', tls: { ca, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 5000, ...over };
}

let n = 0;
/** A valid voicemail.received event (no attachment) for a tenant. */
export function voicemail(tenant: string) {
  return {
    id: `bench-${process.pid}-${++n}`,
    type: 'voicemail.received',
    tenant,
    occurredAt: '2026-11-28T12:00:00Z',
    data: { recipient: { extension: '201', name: 'Alice Example', email: [`alice@${tenant}`] }, caller: { number: '+15550100', name: 'Bob Caller' }, durationSeconds: 65 },
  };
}
