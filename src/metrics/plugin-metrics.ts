import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryObserver } from '../delivery';
import type { ReportType } from '../report';
import type { SpoolObserver, StateStats } from '../spool';
import type { RenderObserver } from '../templates';
import { reasonCode } from './reason-code';
import { DEFAULT_TENANT_LABELS, TenantLabels } from './tenant-labels';

/** What the metrics read at each scrape. */
export interface MetricsSources {
  /** Per state, how many messages the spool holds and when the oldest was accepted. */
  queue(): Promise<StateStats[]>;
  /** How many tenants are held (breaker open, spool backoff, or waiting for an outcome to be written). */
  heldTenants(): number;
  /** @default Date.now */
  now?(): number;
}

export interface PluginMetricsOptions {
  sources: MetricsSources;
  /** Tenants with a label value of their own at most; the rest count as `tenant="_other"`. @default 100 */
  maxTenantLabels?: number;
}

/** A scrape: the text and the Content-Type to send it with. */
export interface MetricsText {
  contentType: string;
  text: string;
}

const PREFIX = 'pbx_email_';

/**
 * One plugin instance's Prometheus metrics, in a registry of its own (never prom-client's global
 * one), so several instances in one process never share or clash. Counters are fed by the intake,
 * the reports and the observers this object hands to the spool, the renderer and the courier;
 * queue gauges are read from the spool at scrape time. The per-tenant label is bounded by
 * TenantLabels.
 */
export class PluginMetrics {
  readonly #registry = new Registry();
  readonly #sources: MetricsSources;
  /** The spool's reading for the scrape in progress (both queue gauges show the same one). */
  #stats: StateStats[] = [];
  readonly tenants: TenantLabels;
  readonly #accepted;
  readonly #refused;
  readonly #delivered;
  readonly #deferred;
  readonly #failed;
  readonly #attempts;
  readonly #session;
  readonly #render;
  readonly #spoolWrite;

  constructor(o: PluginMetricsOptions) {
    const registers = [this.#registry];
    const now = o.sources.now ?? Date.now;
    const stats = () => this.#stats;
    this.#sources = o.sources;
    this.tenants = new TenantLabels(o.maxTenantLabels ?? DEFAULT_TENANT_LABELS);
    this.#accepted = new Counter({ name: `${PREFIX}accepted_total`, help: 'Events accepted (durably queued), by tenant.', labelNames: ['tenant'] as const, registers });
    this.#refused = new Counter({ name: `${PREFIX}refused_total`, help: 'Events refused at intake, by error code and tenant (a tenant with no label of its own counts as _other).', labelNames: ['code', 'tenant'] as const, registers });
    this.#delivered = new Counter({ name: `${PREFIX}delivered_total`, help: 'email.delivered reports: SMTP sessions that delivered a message to some or all of its recipients, by tenant.', labelNames: ['tenant'] as const, registers });
    this.#deferred = new Counter({ name: `${PREFIX}deferred_total`, help: 'email.deferred reports, by tenant and error code.', labelNames: ['tenant', 'code'] as const, registers });
    this.#failed = new Counter({ name: `${PREFIX}failed_total`, help: 'email.failed reports (permanent), by tenant and error code.', labelNames: ['tenant', 'code'] as const, registers });
    this.#attempts = new Counter({ name: `${PREFIX}attempts_total`, help: "Delivery attempts, by tenant and the message's state after it (deferred, delivered, partial, failed).", labelNames: ['tenant', 'state'] as const, registers });
    this.#session = new Histogram({
      name: `${PREFIX}smtp_session_seconds`,
      help: 'Duration of each SMTP session (connect, TLS, envelope, data, quit), by result: sent, refused (some recipients refused), error.',
      labelNames: ['result'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#render = new Histogram({
      name: `${PREFIX}render_seconds`,
      help: 'Time to render one mail, by where: inline (defaults only, main thread) or worker (tenant templates).',
      labelNames: ['where'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#spoolWrite = new Histogram({
      name: `${PREFIX}spool_write_seconds`,
      help: 'Time of each spool write, by op: accept (one fsynced group commit of accepted events) or attempt (one commit of attempt outcomes).',
      labelNames: ['op'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    new Gauge({
      name: `${PREFIX}queue_messages`,
      help: 'Messages the spool holds, by state (delivered and failed ones are kept for spool.retainDeliveredMs / retainFailedMs).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of stats()) this.set({ state: s.state }, s.count);
      },
    });
    new Gauge({
      name: `${PREFIX}queue_oldest_age_seconds`,
      help: 'Age of the oldest message in each state, since it was accepted.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.reset();
        const at = now();
        for (const s of stats()) this.set({ state: s.state }, Math.max(0, (at - s.oldestCreatedAt) / 1000));
      },
    });
    new Gauge({
      name: `${PREFIX}tenants_held`,
      help: 'Tenants whose queue is held (breaker open after server failures, or a spool backoff).',
      registers,
      collect() {
        this.set(o.sources.heldTenants());
      },
    });
    new Gauge({ name: `${PREFIX}tenant_label_limit`, help: 'Tenants with a label value of their own at most; the others count as tenant="_other".', registers }).set(this.tenants.max);
  }

  /** An event was durably queued: its tenant may claim a label of its own. */
  accepted(tenant: string): void {
    this.#accepted.inc({ tenant: this.tenants.label(tenant, true) });
  }

  /** An event was refused at intake with `code`. */
  refused(code: string, tenant: unknown): void {
    this.#refused.inc({ code: reasonCode(code), tenant: this.tenants.label(tenant) });
  }

  /** A report went to the host. */
  reported(type: ReportType, payload: { tenant: string; reason?: string }): void {
    const tenant = this.tenants.label(payload.tenant);
    if (type === 'email.delivered') this.#delivered.inc({ tenant });
    else if (type === 'email.deferred') this.#deferred.inc({ tenant, code: reasonCode(payload.reason) });
    else this.#failed.inc({ tenant, code: reasonCode(payload.reason) });
  }

  readonly delivery: DeliveryObserver = {
    session: (seconds, result) => this.#session.observe({ result }, seconds),
    // Mail still queued after an attempt is what the operations API calls deferred.
    attempt: (tenant, state) => this.#attempts.inc({ tenant: this.tenants.label(tenant), state: state === 'queued' ? 'deferred' : state }),
  };

  readonly render: RenderObserver = {
    rendered: (seconds, where) => this.#render.observe({ where }, seconds),
  };

  readonly spool: SpoolObserver = {
    wrote: (op, seconds) => this.#spoolWrite.observe({ op }, seconds),
  };

  /** The Prometheus text exposition (format 0.0.4). A spool that cannot be read leaves the queue gauges out of this scrape, nothing else. */
  async text(): Promise<MetricsText> {
    try {
      this.#stats = await this.#sources.queue();
    } catch {
      this.#stats = [];
    }
    return { contentType: this.#registry.contentType, text: await this.#registry.metrics() };
  }
}
