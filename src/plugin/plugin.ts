import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { OAuthTokenCache } from '../auth';
import { resolveConfig, SchemaRegistry, TenantDirectory, type ResolvedConfig } from '../config';
import { Courier, OutcomeJournal, Scheduler, TlsContexts, type SchedulerSettings } from '../delivery';
import type { OutgoingMail, SendResult } from '../delivery/smtp-transport';
import { isPluginError, PluginError } from '../errors';
import { HelperRegistry, loadExtensions, type ExtensionStatus, type LoadedExtensions } from '../extensions';
import { Hooks, type Hook, type HookName } from '../hooks';
import { AttachmentConverter, MediaPool } from '../media';
import { PluginMetrics, type MetricsText } from '../metrics';
import type { Disposable, HostContext, PbxEvent, PluginInstance } from '../host-api';
import { builtInKinds, type KindRegistry } from '../kinds';
import { Reporter } from '../report';
import { connectionStringSecrets, redactConnectionString, Redactor } from '../security';
import { DataDirLock, PgSpool, SCHEMA_VERSION, SqliteSpool, storageError, storageErrorCode, type LogLimits, type Spool, type SpoolObserver, type SpoolRecord } from '../spool';
import { Operations, opsState, type MessageDetail, type MessagesQuery, type MessageSummary, type OpsApi, type OpsStatus, type RefusalRecord, type TestSendResult } from '../ops';
import { DEFAULT_RENDER_LIMITS, RenderService, type RenderLimits } from '../templates';
import { renderPreview, type PreviewRequest, type PreviewResult } from '../templates/preview';
import { packageRoot } from '../util/package-root';
import { accept, type IntakeResult } from './intake';

const MAINTENANCE_INTERVAL_MS = 60_000;

/** Test and benchmark seams; a PBX host passes none. */
export interface ActivateOptions {
  /** Replaces the SMTP send (benchmarks of the pipeline alone). */
  send?: (smtp: Parameters<typeof import('../delivery').sendOnce>[0], mail: OutgoingMail, signal: AbortSignal) => Promise<SendResult>;
  /** Replaces render budget caps other than the time limit (which is `delivery.renderTimeoutMs`). */
  renderLimits?: Partial<Omit<RenderLimits, 'timeMs'>>;
  /** Makes every media conversion wait this long after writing its first bytes (crash tests kill the process there). */
  mediaPauseMs?: number;
}

/** What status() returns: OpsStatus (src/ops/types.ts) and the event types handled. */
export type PluginStatus = OpsStatus & {
  /** Every event type this instance handles and subscribed to (built-in kinds, then extension kinds). */
  eventTypes: string[];
  /** Each configured extension: loaded or failed (EXTENSION_FAILED, with the reason), and what it registered. */
  extensions: ExtensionStatus[];
};

/** One active plugin instance. Everything it holds is released by deactivate(). */
export class EmailNotifyPlugin implements PluginInstance, OpsApi {
  readonly #ctx: HostContext;
  readonly #schemas: SchemaRegistry;
  /** Every event kind this instance handles: the built-ins and what extensions defined. */
  readonly #kinds: KindRegistry;
  /** The configured extensions, as loaded at activation. */
  readonly #extensions: LoadedExtensions;
  readonly #spool: Spool;
  readonly #hooks: Hooks;
  readonly #reporter: Reporter;
  readonly #scheduler: Scheduler;
  /** The queue operations and the delivery log. */
  readonly #ops: Operations;
  /** Aborts test sends at deactivate(). */
  readonly #opsShutdown = new AbortController();
  readonly #tests = new Set<Promise<unknown>>();
  /** Attempt outcomes the spool refused (disk full), retried until written. */
  readonly #journal: OutcomeJournal;
  /** OAuth2 access tokens per tenant, for this instance alone. */
  readonly #tokens = new OAuthTokenCache();
  /** TLS client contexts per tenant settings, for this instance alone. */
  readonly #tls = new TlsContexts();
  /** Templates: defaults plus each tenant's config and watched directory, rendered on a budget (tenant templates in worker threads). */
  readonly #renderer: RenderService;
  /** Recordings to MP3 and faxes to PDF, in media worker threads shared fairly by the tenants. */
  readonly #media: MediaPool;
  readonly #converter: AttachmentConverter;
  /** This instance's Prometheus metrics (a registry of its own). */
  readonly #metrics: PluginMetrics;
  #tenants: TenantDirectory;
  readonly #subscriptions: Disposable[] = [];
  readonly #intake = new Set<Promise<unknown>>();
  #maintenance: NodeJS.Timeout | undefined;
  /** This instance's exclusive claim on dataDir, released last by deactivate(). */
  #lock: DataDirLock | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(ctx: HostContext, config: ResolvedConfig, schemas: SchemaRegistry, ext: Extensions, spool: Spool, metrics: PluginMetrics, opts: ActivateOptions) {
    const { kinds } = ext;
    this.#ctx = ctx;
    this.#extensions = ext.loaded;
    this.#metrics = metrics;
    metrics.tenants.reserve(Object.keys(config.tenants));
    this.#schemas = schemas;
    this.#kinds = kinds;
    this.#spool = spool;
    this.#tenants = new TenantDirectory(config);
    this.#hooks = ext.hooks;
    this.#reporter = new Reporter(ctx);
    this.#reporter.subscribe((type, payload) => void this.#hooks.run('onOutcome', { type, payload }));
    this.#reporter.subscribe((type, payload) => metrics.reported(type, payload));
    this.#journal = new OutcomeJournal(spool, ctx.log);
    this.#media = new MediaPool({ ...(opts.mediaPauseMs !== undefined && { pauseMs: opts.mediaPauseMs }) });
    this.#converter = new AttachmentConverter(this.#media, ctx.log);
    const courier = new Courier({
      spool,
      kinds,
      journal: this.#journal,
      log: ctx.log,
      renderer: (this.#renderer = new RenderService({
        root: path.join(packageRoot(), 'templates'),
        kinds,
        helpers: ext.helpers.map(),
        extensions: ext.loaded.paths,
        log: ctx.log,
        limits: () => ({ ...DEFAULT_RENDER_LIMITS, ...opts.renderLimits, timeMs: this.#tenants.config.delivery.renderTimeoutMs }),
        observer: metrics.render,
      })),
      observer: metrics.delivery,
      reporter: this.#reporter,
      hooks: this.#hooks,
      tenant: (id) => this.#tenants.get(id),
      retry: () => this.#tenants.config.delivery.retry,
      messageTimeoutMs: () => this.#tenants.config.delivery.messageTimeoutMs,
      ...(opts.send && { send: opts.send }),
      prepare: (rec, tenant, signal) => this.#converter.prepare(rec, tenant, signal),
      sendContext: (t) => ({
        tempDir: path.join(ctx.dataDir, 'tmp'),
        secureContext: this.#tls.get(t.smtp),
        ...(t.smtp.auth?.type === 'oauth2' && t.smtp.auth.tokenUrl !== undefined && { tokens: this.#tokens.source(t.id, { ...t.smtp.auth, tokenUrl: t.smtp.auth.tokenUrl }) }),
        ...(t.dkim && { dkim: { domainName: t.dkim.domainName, keySelector: t.dkim.keySelector, privateKey: t.dkim.privateKey } }),
      }),
    });
    this.#scheduler = new Scheduler(spool, courier, schedulerSettings(config), ctx.log, this.#journal);
    this.#ops = new Operations({
      spool,
      scheduler: this.#scheduler,
      courier,
      reporter: this.#reporter,
      kinds,
      tenants: () => this.#tenants,
      log: ctx.log,
      shutdown: this.#opsShutdown.signal,
    });
  }

  /** Validates the config, opens the spool, subscribes to the manifest's events; delivery starts after it resolves. */
  static async activate(ctx: HostContext, opts: ActivateOptions = {}): Promise<EmailNotifyPlugin> {
    const schemas = new SchemaRegistry();
    const config = resolveConfig(ctx.config, schemas);
    const kinds = builtInKinds(schemas);
    warnInsecureTls(config, ctx.log);
    warnPlaintextAuth(config, ctx.log);
    for (const root of config.attachmentRoots) {
      if (!fs.existsSync(root)) ctx.log.warn('attachment root does not exist', { root });
    }
    privateDataDir(ctx.dataDir, ctx.log);
    // The lock comes before anything that deletes: a start never touches files a live instance owns.
    const lock = DataDirLock.acquire(ctx.dataDir);
    let spool: Spool | undefined;
    let plugin: EmailNotifyPlugin | undefined;
    const metrics = new PluginMetrics({
      sources: {
        queue: () => spool!.stateStats(),
        heldTenants: () => (plugin ? plugin.#scheduler.status().tenants.filter((t) => t.held).length : 0),
      },
    });
    const release = async () => {
      await spool?.close().catch(() => undefined);
      lock.release();
    };
    try {
      // Where the DKIM signer spills a message over 1 MB while signing and sending it; leftovers of a crash go.
      fs.rmSync(path.join(ctx.dataDir, 'tmp'), { recursive: true, force: true });
      fs.mkdirSync(path.join(ctx.dataDir, 'tmp'), { mode: 0o700 });
      spool = await openSpool(config, ctx, metrics.spool);
      const swept = await spool.sweepOrphans();
      if (swept > 0) ctx.log.info('removed attachment copies of events a crash left unqueued', { count: swept });
    } catch (e) {
      await release();
      throw storageError(e, `cannot open the spool in ${ctx.dataDir}`);
    }
    try {
      // Extensions load once the spool is open (nothing of theirs runs for an instance that cannot start).
      const hooks = new Hooks(
        (name, e, origin, eventId) =>
          ctx.log.error(isPluginError(e) && e.code === 'HOOK_TIMEOUT' ? 'hook ran over its budget' : 'hook threw', { code: isPluginError(e) ? e.code : 'HOOK_FAILED', hook: name, origin, ...(eventId !== undefined && { eventId }), error: (e as Error)?.message ?? String(e) }),
        () => (plugin ? plugin.#tenants.config : config).delivery.hookTimeoutMs,
      );
      const helpers = new HelperRegistry();
      const loaded = await loadExtensions(config.extensions, { kinds, helpers, hook: (name, fn, origin) => hooks.add(name, fn, origin), log: ctx.log, timeoutMs: config.delivery.hookTimeoutMs, baseDir: packageRoot() });
      plugin = new EmailNotifyPlugin(ctx, config, schemas, { kinds, hooks, helpers, loaded }, spool, metrics, opts);
    } catch (e) {
      await release();
      throw e;
    }
    plugin.#lock = lock;
    plugin.#subscribe();
    const started = plugin;
    setImmediate(() => started.#start());
    ctx.log.info('pbx-email-notify active', {
      version: typeof ctx.manifest.version === 'string' ? ctx.manifest.version : undefined,
      tenants: Object.keys(config.tenants).length,
      spool: spoolName(config, ctx.dataDir),
      eventTypes: plugin.#kinds.types(),
    });
    // From here on an extension can register nothing more (a register() that kept a callback).
    plugin.#extensions.close();
    return plugin;
  }

  /** Subscribes to every registered kind, built-in or from an extension (the manifest's `events` are the built-ins). */
  #subscribe(): void {
    const listed = Array.isArray(this.#ctx.manifest.events) ? (this.#ctx.manifest.events as unknown[]) : [];
    for (const type of listed) {
      if (!this.#kinds.has(type)) this.#ctx.log.warn('manifest names an event type this plugin does not handle', { type });
    }
    for (const type of this.#kinds.types()) {
      // Resolves with nothing for a host (CONTRACT.md), or `{ status: 'duplicate', state }` for a known id, which a host may answer with (the reference host does).
      this.#subscriptions.push(this.#ctx.on(type, (event) => this.handle(event).then((r) => (r.status === 'duplicate' ? { status: r.status, state: r.state } : undefined)) as Promise<void>));
    }
    if (this.#ctx.onConfigChange) this.#subscriptions.push(this.#ctx.onConfigChange((c) => this.#applyConfig(c)));
  }

  #start(): void {
    if (this.#stopping) return;
    this.#maintenance = setInterval(() => this.#maintain(), MAINTENANCE_INTERVAL_MS);
    this.#guard('starting delivery', () => this.#scheduler.start());
    this.#maintain();
  }

  /** Runs work from a timer or a host callback: a spool error there is logged with its code, never thrown into the event loop. */
  #guard(doing: string, fn: () => unknown): void {
    const failed = (e: unknown) => {
      const err = storageError(e, doing);
      this.#ctx.log.error(`${doing} failed`, { code: err.code, error: err.message });
    };
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(failed);
    } catch (e) {
      failed(e);
    }
  }

  /**
   * The event handler: resolves once the event's mail is durably queued (or recognised as a
   * duplicate, or its type is disabled for the tenant); rejects with a coded PluginError otherwise.
   */
  handle(event: PbxEvent | unknown): Promise<IntakeResult> {
    if (this.#stopping) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated and takes no more events'));
    const p = accept(event, {
      kinds: this.#kinds,
      spool: this.#spool,
      tenants: () => this.#tenants,
      log: this.#ctx.log,
      stateOf: (rec) => opsState(rec, this.#scheduler.inFlight()),
    }).then(
      (r) => {
        if (r.status === 'queued') {
          this.#metrics.accepted(r.event.tenant);
          this.#scheduler.notify(r.event.tenant);
          void this.#hooks.run('onAccepted', { event: r.event, tenant: r.event.tenant });
        }
        return r;
      },
      async (e: unknown) => {
        this.#metrics.refused(isPluginError(e) ? e.code : 'OTHER', (event as { tenant?: unknown } | null)?.tenant);
        // Recorded before the host hears the refusal: refusals() then lists it, in the order the
        // host saw them, and deactivate() (which waits for the intake) does not close the spool under it.
        await this.#refused(event, e);
        throw e;
      },
    );
    this.#intake.add(p);
    const done = () => this.#intake.delete(p);
    p.then(done, done);
    return p;
  }

  /** Records a refusal in the delivery log: the envelope's ids and the coded reason, never the event. Never rejects (the record is best effort). */
  #refused(event: unknown, e: unknown): Promise<void> {
    const env = (event !== null && typeof event === 'object' ? event : {}) as Record<string, unknown>;
    const id = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 200) : undefined);
    const [tenant, eventId, eventType] = [id(env.tenant), id(env.id), id(env.type)];
    const err = e as { code?: unknown; field?: unknown; message?: unknown };
    // One log line per refusal too, with the same ids and reason (never the event).
    const ids = { ...(tenant !== undefined && { tenant }), ...(eventId !== undefined && { eventId }), ...(eventType !== undefined && { eventType }) };
    this.#ctx.log.warn('event refused', { code: typeof err?.code === 'string' ? err.code : 'SPOOL_FAILURE', ...(typeof err?.field === 'string' && { field: err.field }), ...ids });
    return this.#spool.refuse({
      at: Date.now(),
      ...ids,
      code: typeof err?.code === 'string' ? err.code : 'SPOOL_FAILURE',
      ...(typeof err?.field === 'string' && { field: err.field }),
      message: String(err?.message ?? e).slice(0, 500),
    });
  }

  /** Registers an integrator hook (onAccepted, beforeSend, onOutcome). */
  addHook<N extends HookName>(name: N, fn: Hook<N>): Disposable {
    return this.#hooks.add(name, fn);
  }

  /** True while the instance takes and delivers events: activated, not deactivating, its spool open (the host's GET /health). */
  ready(): boolean {
    return this.#stopping === undefined && this.#spool.isOpen;
  }

  /**
   * This instance's metrics in the Prometheus text format, with the Content-Type to serve them
   * with. Per-tenant series are bounded: see PluginMetrics and TenantLabels.
   * @example const { contentType, text } = await plugin.metrics();
   */
  metrics(): Promise<MetricsText> {
    if (this.#stopping) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated'));
    return this.#metrics.text();
  }

  /** Per tenant: queue depth by state, oldest queued age, hold with reason and next probe, last success and failure, totals; idle configured tenants included. */
  async status(): Promise<PluginStatus> {
    return { eventTypes: this.#kinds.types(), extensions: this.#extensions.statuses.map((x) => ({ ...x, kinds: [...x.kinds], hooks: [...x.hooks], helpers: [...x.helpers] })), ...(await this.#ops.status()) };
  }

  messages(q?: MessagesQuery): Promise<MessageSummary[]> {
    return this.#op(() => this.#ops.messages(q));
  }

  message(eventId: string, tenant: string): Promise<MessageDetail | undefined> {
    return this.#op(() => this.#ops.message(eventId, tenant));
  }

  refusals(q?: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    return this.#op(() => this.#ops.refusals(q));
  }

  retry(eventId: string, tenant: string): Promise<MessageSummary> {
    return this.#op(() => this.#ops.retry(eventId, tenant));
  }

  discard(eventId: string, tenant: string): Promise<MessageSummary> {
    return this.#op(() => this.#ops.discard(eventId, tenant));
  }

  flush(tenant: string): Promise<{ tenant: string; retried: number }> {
    return this.#op(() => this.#ops.flush(tenant));
  }

  retryFailed(q: { tenant: string; since: string }): Promise<{ tenant: string; retried: number }> {
    return this.#op(() => this.#ops.retryFailed(q));
  }

  testSend(q: { tenant: string; eventType: string; to: string }): Promise<TestSendResult> {
    return this.#op(() => {
      const p = this.#ops.testSend(q);
      this.#tests.add(p);
      const done = () => this.#tests.delete(p);
      p.then(done, done);
      return p;
    });
  }

  /** Runs an operation: refused once deactivated; a spool error leaves as its coded PluginError. */
  async #op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#stopping) throw new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated');
    try {
      return await fn();
    } catch (e) {
      throw e instanceof PluginError ? e : storageError(e, 'queue operation');
    }
  }

  /** Sizes of the template caches and the render worker pool (every cache is bounded; for tests and troubleshooting). */
  templateStats() {
    return { ...this.#renderer.cacheSizes(), ...this.#renderer.pool };
  }

  /** Conversions of recordings and faxes so far (converted, reused by a retry or restart, failed) and the media workers. */
  mediaStats() {
    return this.#converter.stats();
  }

  /** The spool's record of an event, for inspection (dead letters included); event ids are per tenant, so name the tenant when ids may repeat across tenants. */
  lookup(eventId: string, tenant?: string): Promise<SpoolRecord | undefined> {
    return this.#spool.getByEventId(tenant, eventId);
  }

  /**
   * Renders a tenant's mail for an admin UI's live preview, from the sample event or a given
   * one, optionally with unsaved template sources. Sends and stores nothing.
   * @example plugin.preview({ tenant: 'acme.example.com', eventType: 'voicemail.box.full', language: 'de', sources: { subject: 'Postfach voll: {{recipient.displayName}}' } })
   */
  preview(req: PreviewRequest): Promise<PreviewResult> {
    if (this.#stopping) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated'));
    return renderPreview({ render: this.#renderer, kinds: this.#kinds, config: this.#tenants.config }, req);
  }

  #applyConfig(raw: unknown): void {
    let config: ResolvedConfig;
    try {
      config = resolveConfig(raw, this.#schemas);
    } catch (e) {
      const err = e as PluginError;
      this.#ctx.log.error('configuration change refused; the previous configuration stays', { code: err.code, problems: err.problems ?? [] });
      return;
    }
    warnInsecureTls(config, this.#ctx.log);
    warnPlaintextAuth(config, this.#ctx.log);
    if (JSON.stringify(config.extensions) !== JSON.stringify(this.#tenants.config.extensions)) {
      this.#ctx.log.warn('extensions are loaded at activation: the changed list applies at the next start', { extensions: config.extensions });
    }
    const store = (c: ResolvedConfig) => JSON.stringify([c.spool.store, c.spool.postgres]);
    if (store(config) !== store(this.#tenants.config)) {
      const { connectionString, ...postgres } = config.spool.postgres;
      this.#ctx.log.warn('the spool store is opened at activation: the changed spool.store and spool.postgres apply at the next start', {
        store: config.spool.store,
        postgres: { ...postgres, ...(connectionString !== undefined && { connectionString: redactConnectionString(connectionString) }) },
      });
    }
    const before = this.#tenants;
    this.#tenants = new TenantDirectory(config);
    this.#spool.limits = logLimits(config);
    this.#metrics.tenants.reserve(Object.keys(config.tenants));
    this.#scheduler.update(schedulerSettings(config));
    this.#guard('rescheduling after a configuration change', async () => {
      for (const { tenant } of await this.#spool.tenantsWithWork()) {
        if (JSON.stringify(before.get(tenant)) !== JSON.stringify(this.#tenants.get(tenant))) this.#scheduler.retryNow(tenant);
      }
    });
    this.#ctx.log.info('configuration change applied');
  }

  /**
   * Re-bases mail due implausibly far ahead (the clock moved back) and purges old records. Mail
   * past maxAgeMs is not failed here: it fails after its last attempt (Courier), so a clock that
   * jumped forward never fails mail unattempted. A spool error is logged and tried next round.
   */
  #maintain(): void {
    const { retainDeliveredMs, retainFailedMs } = this.#tenants.config.spool;
    const now = Date.now();
    this.#guard('re-basing due times', () => this.#scheduler.rebase());
    this.#guard('purging old records', () => this.#spool.purge(now - retainDeliveredMs, now - retainFailedMs));
  }

  deactivate(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const s of this.#subscriptions.splice(0)) s.dispose();
      clearInterval(this.#maintenance);
      await Promise.allSettled([...this.#intake]);
      this.#opsShutdown.abort(new Error('shutdown'));
      await Promise.allSettled([...this.#tests]);
      await this.#scheduler.stop();
      await this.#journal.close();
      this.#tokens.dispose();
      await this.#renderer.dispose();
      await this.#media.dispose();
      this.#hooks.clear();
      try {
        await this.#spool.close();
      } finally {
        this.#lock?.release();
      }
    })();
    return this.#stopping;
  }
}

/**
 * Makes dataDir if missing, 0700 whatever the umask (it holds caller names, transcripts and
 * recordings). A directory the host made is left as it is, with a warning when others can read it.
 */
function privateDataDir(dataDir: string, log: HostContext['log']): void {
  try {
    if (fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 }) !== undefined) {
      fs.chmodSync(dataDir, 0o700);
    } else if ((fs.statSync(dataDir).mode & 0o077) !== 0) {
      log.warn('dataDir is readable by other users; it holds caller names, transcripts and recordings (chmod 700 it)', { dataDir, mode: (fs.statSync(dataDir).mode & 0o777).toString(8) });
    }
  } catch (e) {
    throw storageError(e, `cannot create dataDir ${dataDir}`);
  }
}

/** Certificate verification turned off is allowed, never silent: one warning per place it is set. */
function warnInsecureTls(c: ResolvedConfig, log: HostContext['log']): void {
  const places: [string, string | undefined, { tls?: { rejectUnauthorized?: boolean } } | undefined][] = [
    ['/defaults/smtp/tls/rejectUnauthorized', undefined, c.defaults.smtp],
    ...Object.entries(c.tenants).map(([id, t]) => [`/tenants/${id}/smtp/tls/rejectUnauthorized`, id, t.smtp] as [string, string, typeof t.smtp]),
  ];
  for (const [at, tenant, smtp] of places) {
    if (smtp?.tls?.rejectUnauthorized === false) {
      log.warn('TLS certificate verification is off: mail to this server can be intercepted', { path: at, ...(tenant !== undefined && { tenant }) });
    }
  }
}

/** `security: "none"` with `auth`: allowed (a trusted local relay), never silent, since the credentials cross the network in clear. */
function warnPlaintextAuth(c: ResolvedConfig, log: HostContext['log']): void {
  const places: [string, string | undefined, { security?: string; auth?: unknown } | undefined][] = [
    ['/defaults/smtp', undefined, c.defaults.smtp],
    ...Object.entries(c.tenants).map(([id, t]) => [`/tenants/${id}/smtp`, id, t.smtp] as [string, string, typeof t.smtp]),
  ];
  for (const [at, tenant, smtp] of places) {
    if (smtp?.security === 'none' && smtp.auth !== undefined) {
      log.warn('SMTP credentials are sent in clear: security is "none" and auth is set; use starttls or tls', { path: at, ...(tenant !== undefined && { tenant }) });
    }
  }
}

/** What extensions may add to an instance, gathered before it is built. */
interface Extensions {
  kinds: KindRegistry;
  hooks: Hooks;
  helpers: HelperRegistry;
  loaded: LoadedExtensions;
}

/**
 * The configured store: SQLite in dataDir (one machine), or PostgreSQL shared by every node of a
 * cluster, each instance claiming under its own owner name (host, pid and a random part: a
 * restarted node is a new owner, and the dead one's leases run out).
 */
async function openSpool(config: ResolvedConfig, ctx: HostContext, observer: SpoolObserver): Promise<Spool> {
  const limits = logLimits(config);
  if (config.spool.store === 'postgres') {
    const pg = config.spool.postgres;
    const owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
    const secrets = new Redactor(connectionStringSecrets(pg.connectionString!));
    const onBackgroundError = (doing: string, e: Error) =>
      ctx.log.warn(`spool: ${doing} failed; retried (a lease that cannot be renewed runs out and another node takes its mail over)`, { code: 'SPOOL_FAILURE', error: storageErrorCode(e), detail: secrets.text(e.message) });
    return PgSpool.open({ connectionString: pg.connectionString!, schema: pg.schema, poolSize: pg.poolSize, leaseMs: pg.leaseMs, dataDir: ctx.dataDir, owner, observer, limits, onBackgroundError });
  }
  const spool = new SqliteSpool(ctx.dataDir, { observer, limits });
  if (spool.openedVersion < SCHEMA_VERSION) ctx.log.info('spool upgraded to the current layout', { from: spool.openedVersion, to: SCHEMA_VERSION });
  return spool;
}

/** Where the spool is, for the startup line: never the connection string's secret. */
function spoolName(config: ResolvedConfig, dataDir: string): string {
  const pg = config.spool.postgres;
  return config.spool.store === 'postgres' ? `postgres ${redactConnectionString(pg.connectionString!)} schema ${pg.schema}` : path.join(dataDir, 'spool.db');
}

function logLimits(c: ResolvedConfig): LogLimits {
  return { maxAttemptsPerMessage: c.spool.log.maxAttemptsPerMessage, maxRefusals: c.spool.log.maxRefusals };
}

function schedulerSettings(c: ResolvedConfig): SchedulerSettings {
  return { perTenant: c.delivery.concurrency.perTenant, global: c.delivery.concurrency.global, retry: c.delivery.retry, shutdownTimeoutMs: c.delivery.shutdownTimeoutMs };
}
