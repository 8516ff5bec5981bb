import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Disposable, HostContext, HostLog, PbxEvent, PluginInstance } from '../host-api';
import { previewPage, previewPageHeaders } from '../templates/preview-page';
import { EventBus, type DispatchAnswer } from './event-bus';
import { HttpIntake, type HttpRoute } from './http-intake';
import type { HttpLimits } from './http-limits';
import { checked, generatedToken } from './http-token';
import { isLoopback, isWildcard } from './listen-address';
import { HOST_API_VERSION, loadPlugin, readManifest } from './load-plugin';
import { opsPage } from './ops-page';
import { opsRoutes, type OpsPlugin } from './ops-routes';
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
  /** The address to listen on. @default '127.0.0.1' */
  httpHost?: string;
  /** The bearer token for every endpoint but GET /health; when absent, one is made (or reused) in `<dataDir>/http-token`. */
  httpToken?: string;
  /** Extra names accepted in the Host header. */
  allowHosts?: readonly string[];
  /** PEM certificate chain and key: serve https. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  httpLimits?: Partial<HttpLimits>;
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
  #eventTypes: readonly string[] = [];
  #token: string | undefined;
  httpPort: number | undefined;

  private constructor(o: ReferenceHostOptions) {
    this.#o = o;
  }

  static async start(o: ReferenceHostOptions): Promise<ReferenceHost> {
    const host = new ReferenceHost(o);
    host.#config = o.config;
    const loaded = readManifest(o.pluginDir);
    host.#eventTypes = loaded.manifest.events;
    fs.mkdirSync(o.dataDir, { recursive: true, mode: 0o700 }); // private to the plugin (CONTRACT.md section 3)
    const ctx: Omit<HostContext, 'manifest'> = {
      hostApiVersion: HOST_API_VERSION,
      config: o.config,
      dataDir: o.dataDir,
      log: o.log,
      on: (type, handler) => host.#bus.on(type, handler),
      // The plugin logs each outcome itself (one line each): the host does not log them again.
      emit: (type, payload) => o.onEmit?.(type, payload),
      onConfigChange: (l): Disposable => {
        host.#configListeners.add(l);
        return { dispose: () => void host.#configListeners.delete(l) };
      },
    };
    host.#plugin = await loadPlugin(loaded, ctx);
    if (o.httpPort !== undefined) {
      try {
        await host.#startHttp(o.httpPort);
      } catch (e) {
        await host.#plugin.deactivate();
        throw e;
      }
    }
    if (o.input && o.output) host.#stdin = readEventsFromStdin(o.input, o.output, (e) => host.dispatch(e));
    return host;
  }

  async #startHttp(port: number): Promise<void> {
    const o = this.#o;
    const listen = { host: o.httpHost ?? '127.0.0.1', port };
    if (o.httpToken !== undefined) this.#token = checked(o.httpToken, 'httpToken');
    else {
      const t = generatedToken(o.dataDir);
      this.#token = t.token;
      o.log.info('HTTP token: send it as Authorization: Bearer <token>', { tokenFile: t.path });
    }
    if (!o.tls && !isLoopback(listen.host)) {
      o.log.warn(`HTTP intake listens on ${isWildcard(listen.host) ? 'every address' : listen.host} without TLS: the token and every event cross the network in clear; give --tls-cert and --tls-key, or listen on 127.0.0.1`, { listen: listen.host });
    }
    this.#http = new HttpIntake({
      listen,
      token: this.#token,
      ...(o.allowHosts && { allowHosts: o.allowHosts }),
      ...(o.tls && { tls: o.tls }),
      ...(o.httpLimits && { limits: o.httpLimits }),
      log: o.log,
      dispatch: (e) => this.dispatch(e),
      stopping: () => this.#stopping !== undefined,
      ready: () => (this.#plugin as PluginInstance & { ready?: () => boolean }).ready?.() ?? true,
      routes: this.#routes(),
    });
    this.httpPort = await this.#http.listen();
  }

  /** The HTTP bearer token (given, or read from / made in `<dataDir>/http-token`); undefined without HTTP. */
  get httpToken(): string | undefined {
    return this.#token;
  }

  /** Open HTTP connections right now. */
  get httpConnections(): number {
    return this.#http?.connections ?? 0;
  }

  get plugin(): PluginInstance {
    return this.#plugin;
  }

  /** Hands an event to the plugin as the PBX would; false when no plugin subscribed to its type. */
  dispatch(event: PbxEvent): Promise<false | DispatchAnswer> {
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

  /**
   * GET /status, GET /metrics, the operations API (ops-routes.ts) and its page GET /ops, and the
   * live template preview: GET /preview, GET /preview/tenants and POST /preview (render). The two
   * pages are shells holding no data, served without the token so a browser can open them; they
   * call the API with the token.
   */
  #routes(): Record<string, HttpRoute> {
    const plugin = () => this.#plugin as PluginInstance & { status?: () => unknown; preview?: (req: unknown) => unknown; metrics?: () => Promise<{ contentType: string; text: string }> };
    const json = (body: unknown) => ({ status: 200, body: JSON.stringify(body ?? {}) });
    return {
      ...opsRoutes(() => this.#plugin as OpsPlugin),
      '/status': { get: async () => json(await plugin().status?.()) },
      '/metrics': {
        get: async () => {
          const metrics = plugin().metrics;
          if (!metrics) return { status: 404, body: JSON.stringify({ code: 'HTTP_NOT_FOUND', message: 'this plugin offers no metrics()' }) };
          const m = await metrics.call(plugin());
          return { status: 200, type: m.contentType, body: m.text };
        },
      },
      '/preview': {
        openGet: true,
        get: async () => {
          const nonce = crypto.randomBytes(16).toString('base64');
          return { status: 200, type: 'text/html; charset=utf-8', headers: previewPageHeaders(nonce), body: previewPage({ tenantsEndpoint: '/preview/tenants', nonce, ...eventTypesOf(await plugin().status?.()) }) };
        },
        post: async (_req, request) => {
          const preview = plugin().preview;
          if (!preview) return { status: 404, body: JSON.stringify({ code: 'HTTP_NOT_FOUND', message: 'this plugin offers no preview()' }) };
          return json(await preview.call(plugin(), request));
        },
      },
      '/ops': {
        openGet: true,
        get: async () => {
          const nonce = crypto.randomBytes(16).toString('base64');
          return { status: 200, type: 'text/html; charset=utf-8', headers: previewPageHeaders(nonce), body: opsPage({ nonce, eventTypes: this.#eventTypes }) };
        },
      },
      '/preview/tenants': { get: async () => json({ tenants: Object.keys((this.#config as { tenants?: object } | undefined)?.tenants ?? {}) }) },
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

/** The event types a plugin's status() lists (extension kinds included), for the preview page's picker. */
function eventTypesOf(status: unknown): { eventTypes?: string[] } {
  const types = (status as { eventTypes?: unknown } | undefined)?.eventTypes;
  return Array.isArray(types) && types.every((t) => typeof t === 'string') ? { eventTypes: types as string[] } : {};
}
