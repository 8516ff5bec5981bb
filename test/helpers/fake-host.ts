import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Disposable, HostContext, PbxEvent } from '../../src/host-api';

export interface Emitted {
  type: string;
  payload: Record<string, any>;
}

/** A PBX host written from CONTRACT.md alone, recording what the plugin emits and logs. */
export class FakeHost {
  readonly handlers = new Map<string, (e: PbxEvent) => Promise<void>>();
  readonly emitted: Emitted[] = [];
  readonly logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  readonly configListeners = new Set<(c: unknown) => void>();
  readonly manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '../../plugin.json'), 'utf8'));
  #waiters: (() => void)[] = [];
  dataDir: string;
  config: unknown;

  constructor(config: unknown, dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-email-'))) {
    this.config = config;
    this.dataDir = dataDir;
  }

  context(): HostContext {
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
      this.logs.push({ level, msg, ...(fields && { fields }) });
    };
    return {
      hostApiVersion: '1.0.0',
      manifest: this.manifest,
      config: this.config,
      dataDir: this.dataDir,
      log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      on: (type, handler): Disposable => {
        this.handlers.set(type, handler);
        return { dispose: () => this.handlers.delete(type) };
      },
      emit: (type, payload) => {
        this.emitted.push({ type, payload });
        for (const w of this.#waiters.splice(0)) w();
      },
      onConfigChange: (l) => {
        this.configListeners.add(l);
        return { dispose: () => this.configListeners.delete(l) };
      },
    };
  }

  /** Delivers an event as a PBX host would: through the handler registered for its type. */
  send(event: PbxEvent | Record<string, unknown>): Promise<void> {
    const h = this.handlers.get(String(event.type));
    if (!h) return Promise.reject(new Error(`no handler for ${String(event.type)}`));
    return h(event as PbxEvent);
  }

  changeConfig(c: unknown): void {
    this.config = c;
    for (const l of this.configListeners) l(c);
  }

  of(type: string, eventId?: string): Emitted[] {
    return this.emitted.filter((e) => e.type === type && (eventId === undefined || e.payload.eventId === eventId));
  }

  /** Waits until `pred` holds over what was emitted. */
  async until(pred: (emitted: Emitted[]) => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred(this.emitted)) {
      if (Date.now() > end) throw new Error(`timed out; emitted: ${JSON.stringify(this.emitted.map((e) => [e.type, e.payload.eventId, e.payload.reason]))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  cleanup(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
