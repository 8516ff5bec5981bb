import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Disposable, HostContext, HostLog, PbxEvent, PluginInstance } from '../host-api';
import { previewPage } from '../templates/preview-page';
import { EventBus } from './event-bus';
import { HttpIntake } from './http-intake';
import { HOST_API_VERSION, loadPlugin, readManifest } from './load-plugin';
import { readEventsFromStdin } from './stdin-intake';

export interface ReferenceHostOptions {
  /** Folder holding plugin.json. */
  pluginDir: string;
  /** The plugin configuration, or a JSON file to read it from (re-read on reloadConfig / SIGHUP). */
  config: unknown;
  configFile?: string;
  dataDir: string;
  /** HTTP intake port; 0 picks a free one; undefined serves no HTTP. */
  httpPort?: number;
  httpHost?: string;
  /** Read JSON-lines events from this stream (stdin), answering on `output`. */
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  log: HostLog;
  /** Sees every report the plugin emits. */
  onEmit?(type: string, payload: Record<string, unknown>): void;
}

/**
 * A small PBX host written from CONTRACT.md alone: checks the manifest and hostApi, requires
 * `main`, activates it with a config, and feeds it events from HTTP and stdin.
 */
export class ReferenceHost {
  readonly #o: ReferenceHostOptions;
  readonly #bus = new EventBus();
  readonly #configListeners = new Set<(c: unknown) => void>();
  #plugin!: PluginInstance;
  #http: HttpIntake | undefined;
  #stdin: { close(): void } | undefined;
  #stopping: Promise<void> | undefined;
  #config: unknown;
  httpPort: number | undefined;

  private constructor(o: ReferenceHostOptions) {
    this.#o = o;
  }

  static async start(o: ReferenceHostOptions): Promise<ReferenceHost> {
    const host = new ReferenceHost(o);
    host.#config = o.config;
    const loaded = readManifest(o.pluginDir);
    fs.mkdirSync(o.dataDir, { recursive: true, mode: 0o700 }); // private to the plugin (CONTRACT.md section 3)
    const ctx: Omit<HostContext, 'manifest'> = {
      hostApiVersion: HOST_API_VERSION,
      config: o.config,
      dataDir: o.dataDir,
      log: o.log,
      on: (type, handler) => host.#bus.on(type, handler),
      emit: (type, payload) => {
        o.log.info(`report ${type}`, payload);
        o.onEmit?.(type, payload);
      },
      onConfigChange: (l): Disposable => {
        host.#configListeners.add(l);
        return { dispose: () => void host.#configListeners.delete(l) };
      },
    };
    host.#plugin = await loadPlugin(loaded, ctx);
    if (o.httpPort !== undefined) {
      host.#http = new HttpIntake({
        port: o.httpPort,
        ...(o.httpHost !== undefined && { host: o.httpHost }),
        dispatch: (e) => host.dispatch(e),
        stopping: () => host.#stopping !== undefined,
        routes: host.#routes(),
      });
      host.httpPort = await host.#http.listen();
    }
    if (o.input && o.output) host.#stdin = readEventsFromStdin(o.input, o.output, (e) => host.dispatch(e));
    return host;
  }

  get plugin(): PluginInstance {
    return this.#plugin;
  }

  /** Hands an event to the plugin as the PBX would; false when no plugin subscribed to its type. */
  dispatch(event: PbxEvent): Promise<boolean> {
    return this.#bus.dispatch(event);
  }

  /** Re-reads the config file and hands it to the plugin (SIGHUP). */
  reloadConfig(): void {
    if (!this.#o.configFile) return;
    let config: unknown;
    try {
      config = JSON.parse(fs.readFileSync(this.#o.configFile, 'utf8'));
    } catch (e) {
      this.#o.log.error('config reload failed; keeping the running configuration', { file: this.#o.configFile, error: (e as Error).message });
      return;
    }
    this.#config = config;
    for (const l of this.#configListeners) l(config);
  }

  /** GET /status, and the live template preview: GET /preview (the page), POST /preview (render). */
  #routes() {
    const plugin = () => this.#plugin as PluginInstance & { status?: () => unknown; preview?: (req: unknown) => unknown };
    return {
      '/status': async () => ({ status: 200, body: JSON.stringify(plugin().status?.() ?? {}) }),
      '/preview': async (req: IncomingMessage, body: string) => {
        if (req.method !== 'POST') {
          const tenants = Object.keys((this.#config as { tenants?: object } | undefined)?.tenants ?? {});
          return { status: 200, type: 'text/html; charset=utf-8', body: previewPage({ tenants }) };
        }
        let request: unknown;
        try {
          request = JSON.parse(body);
        } catch (e) {
          return { status: 400, body: JSON.stringify({ code: 'EVENT_INVALID', field: '/', message: `not JSON: ${(e as Error).message}` }) };
        }
        return { status: 200, body: JSON.stringify(await plugin().preview?.(request)) };
      },
    };
  }

  /** Stops intake (HTTP answers 503 meanwhile), deactivates the plugin, closes the listeners. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stdin?.close();
      await this.#plugin.deactivate();
      await this.#http?.close();
    })();
    return this.#stopping;
  }
}
