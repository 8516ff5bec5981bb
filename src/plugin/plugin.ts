import * as fs from 'node:fs';
import * as path from 'node:path';
import { OAuthTokenCache } from '../auth';
import { resolveConfig, SchemaRegistry, TenantDirectory, type ResolvedConfig } from '../config';
import { Courier, Scheduler, TlsContexts, type SchedulerSettings } from '../delivery';
import type { OutgoingMail, SendResult } from '../delivery/smtp-transport';
import { PluginError } from '../errors';
import { EVENT_TYPES, isEventType } from '../events';
import { Hooks, type Hook, type HookName } from '../hooks';
import type { Disposable, HostContext, PbxEvent, PluginInstance } from '../host-api';
import { Reporter } from '../report';
import { SqliteSpool, type MessageState, type Spool } from '../spool';
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
}

export interface PluginStatus {
  counts: Record<MessageState, number>;
  active: number;
  tenants: { tenant: string; active: number; held: boolean; failures: number }[];
}

/** One active plugin instance. Everything it holds is released by deactivate(). */
export class EmailNotifyPlugin implements PluginInstance {
  readonly #ctx: HostContext;
  readonly #schemas: SchemaRegistry;
  readonly #spool: Spool;
  readonly #hooks: Hooks;
  readonly #reporter: Reporter;
  readonly #scheduler: Scheduler;
  /** OAuth2 access tokens per tenant, for this instance alone. */
  readonly #tokens = new OAuthTokenCache();
  /** TLS client contexts per tenant settings, for this instance alone. */
  readonly #tls = new TlsContexts();
  /** Templates: defaults plus each tenant's config and watched directory, rendered on a budget (tenant templates in worker threads). */
  readonly #renderer: RenderService;
  #tenants: TenantDirectory;
  readonly #subscriptions: Disposable[] = [];
  readonly #intake = new Set<Promise<unknown>>();
  #maintenance: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(ctx: HostContext, config: ResolvedConfig, schemas: SchemaRegistry, spool: Spool, opts: ActivateOptions) {
    this.#ctx = ctx;
    this.#schemas = schemas;
    this.#spool = spool;
    this.#tenants = new TenantDirectory(config);
    this.#hooks = new Hooks((name, e) => ctx.log.error('hook threw', { hook: name, error: (e as Error).message }));
    this.#reporter = new Reporter(ctx);
    this.#reporter.subscribe((type, payload) => void this.#hooks.run('onOutcome', { type, payload }));
    const courier = new Courier({
      spool,
      renderer: (this.#renderer = new RenderService({
        root: path.join(packageRoot(), 'templates'),
        log: ctx.log,
        limits: () => ({ ...DEFAULT_RENDER_LIMITS, ...opts.renderLimits, timeMs: this.#tenants.config.delivery.renderTimeoutMs }),
      })),
      reporter: this.#reporter,
      hooks: this.#hooks,
      tenant: (id) => this.#tenants.get(id),
      retry: () => this.#tenants.config.delivery.retry,
      messageTimeoutMs: () => this.#tenants.config.delivery.messageTimeoutMs,
      ...(opts.send && { send: opts.send }),
      sendContext: (t) => ({
        tempDir: path.join(ctx.dataDir, 'tmp'),
        secureContext: this.#tls.get(t.smtp),
        ...(t.smtp.auth?.type === 'oauth2' && t.smtp.auth.tokenUrl !== undefined && { tokens: this.#tokens.source(t.id, { ...t.smtp.auth, tokenUrl: t.smtp.auth.tokenUrl }) }),
        ...(t.dkim && { dkim: { domainName: t.dkim.domainName, keySelector: t.dkim.keySelector, privateKey: t.dkim.privateKey } }),
      }),
    });
    this.#scheduler = new Scheduler(spool, courier, schedulerSettings(config), ctx.log);
  }

  /** Validates the config, opens the spool, subscribes to the manifest's events; delivery starts after it resolves. */
  static async activate(ctx: HostContext, opts: ActivateOptions = {}): Promise<EmailNotifyPlugin> {
    const schemas = new SchemaRegistry();
    const config = resolveConfig(ctx.config, schemas);
    warnInsecureTls(config, ctx.log);
    for (const root of config.attachmentRoots) {
      if (!fs.existsSync(root)) ctx.log.warn('attachment root does not exist', { root });
    }
    fs.mkdirSync(ctx.dataDir, { recursive: true });
    // Where nodemailer spills a large message while DKIM-signing it; leftovers of a crash go.
    fs.rmSync(path.join(ctx.dataDir, 'tmp'), { recursive: true, force: true });
    fs.mkdirSync(path.join(ctx.dataDir, 'tmp'), { mode: 0o700 });
    const spool = new SqliteSpool(ctx.dataDir);
    const swept = await spool.sweepOrphans();
    if (swept > 0) ctx.log.info('removed attachment copies of events a crash left unqueued', { count: swept });
    const plugin = new EmailNotifyPlugin(ctx, config, schemas, spool, opts);
    plugin.#subscribe();
    setImmediate(() => plugin.#start());
    return plugin;
  }

  #subscribe(): void {
    const wanted = Array.isArray(this.#ctx.manifest.events) ? (this.#ctx.manifest.events as unknown[]) : EVENT_TYPES;
    for (const type of wanted) {
      if (!isEventType(type)) {
        this.#ctx.log.warn('manifest names an event type this plugin does not handle', { type });
        continue;
      }
      this.#subscriptions.push(this.#ctx.on(type, (event) => this.handle(event).then(() => undefined)));
    }
    if (this.#ctx.onConfigChange) this.#subscriptions.push(this.#ctx.onConfigChange((c) => this.#applyConfig(c)));
  }

  #start(): void {
    if (this.#stopping) return;
    this.#scheduler.start();
    this.#maintain();
    this.#maintenance = setInterval(() => this.#maintain(), MAINTENANCE_INTERVAL_MS);
  }

  /**
   * The event handler: resolves once the event's mail is durably queued (or recognised as a
   * duplicate, or its type is disabled for the tenant); rejects with a coded PluginError otherwise.
   */
  handle(event: PbxEvent | unknown): Promise<IntakeResult> {
    if (this.#stopping) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated and takes no more events'));
    const p = accept(event, { schemas: this.#schemas, spool: this.#spool, tenants: () => this.#tenants, log: this.#ctx.log }).then((r) => {
      if (r.status === 'queued') {
        this.#scheduler.notify(r.event.tenant);
        void this.#hooks.run('onAccepted', { event: r.event, tenant: r.event.tenant });
      }
      return r;
    });
    this.#intake.add(p);
    const done = () => this.#intake.delete(p);
    p.then(done, done);
    return p;
  }

  /** Registers an integrator hook (onAccepted, beforeSend, onOutcome). */
  addHook<N extends HookName>(name: N, fn: Hook<N>): Disposable {
    return this.#hooks.add(name, fn);
  }

  status(): PluginStatus {
    return { counts: this.#spool.counts(), ...this.#scheduler.status() };
  }

  /** Sizes of the template caches and the render worker pool (every cache is bounded; for tests and troubleshooting). */
  templateStats() {
    return { ...this.#renderer.cacheSizes(), ...this.#renderer.pool };
  }

  /** The spool's record of an event, for inspection (dead letters included). */
  lookup(eventId: string) {
    return this.#spool.getByEventId(eventId);
  }

  /**
   * Renders a tenant's mail for an admin UI's live preview, from the sample event or a given
   * one, optionally with unsaved template sources. Sends and stores nothing.
   * @example plugin.preview({ tenant: 'acme.example.com', eventType: 'call.missed', language: 'de', sources: { subject: 'Anruf von {{caller.display}}' } })
   */
  preview(req: PreviewRequest): Promise<PreviewResult> {
    if (this.#stopping) return Promise.reject(new PluginError('PLUGIN_STOPPED', 'the plugin is deactivated'));
    return renderPreview({ render: this.#renderer, schemas: this.#schemas, config: this.#tenants.config, root: path.join(packageRoot(), 'templates') }, req);
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
    const before = this.#tenants;
    this.#tenants = new TenantDirectory(config);
    this.#scheduler.update(schedulerSettings(config));
    for (const { tenant } of this.#spool.tenantsWithWork()) {
      if (JSON.stringify(before.get(tenant)) !== JSON.stringify(this.#tenants.get(tenant))) this.#scheduler.retryNow(tenant);
    }
    this.#ctx.log.info('configuration change applied');
  }

  /** Fails mail past maxAgeMs (held tenants' mail included) and purges old records. */
  #maintain(): void {
    const { retry } = this.#tenants.config.delivery;
    const { retainDeliveredMs, retainFailedMs } = this.#tenants.config.spool;
    const now = Date.now();
    for (let batch; (batch = this.#spool.expire(now - retry.maxAgeMs, `MESSAGE_EXPIRED: undeliverable for longer than ${retry.maxAgeMs} ms`, 500, this.#scheduler.inFlight())).length > 0; ) {
      for (const r of batch) {
        this.#reporter.report('email.failed', { eventId: r.eventId, tenant: r.tenant, attempts: r.attempts, reason: `MESSAGE_EXPIRED: undeliverable for longer than ${retry.maxAgeMs} ms; last: ${r.lastError ?? 'never attempted'}` });
      }
    }
    this.#spool.purge(now - retainDeliveredMs, now - retainFailedMs).catch((e) => this.#ctx.log.error('spool purge failed', { error: (e as Error).message }));
  }

  deactivate(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const s of this.#subscriptions.splice(0)) s.dispose();
      clearInterval(this.#maintenance);
      await Promise.allSettled([...this.#intake]);
      await this.#scheduler.stop();
      this.#tokens.dispose();
      await this.#renderer.dispose();
      this.#hooks.clear();
      await this.#spool.close();
    })();
    return this.#stopping;
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

function schedulerSettings(c: ResolvedConfig): SchedulerSettings {
  return { perTenant: c.delivery.concurrency.perTenant, global: c.delivery.concurrency.global, retry: c.delivery.retry, shutdownTimeoutMs: c.delivery.shutdownTimeoutMs };
}
