import * as crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { HostLog } from '../host-api';
import type { KindRegistry } from '../kinds';
import type { ExtensionHelper } from './helpers';
import type { SpoolRecord } from '../spool';
import type { TemplateTenant } from './context';
import { DEFAULT_RENDER_LIMITS, describeLimit, type RenderLimits } from './render-budget';
import { RenderPool, RenderStopped, type RenderLane } from './render-pool';
import { Renderer, type RenderedMail, type RenderStage, type TemplateProblem, type UnsavedSources } from './renderer';
import type { TemplateSet } from './template-set';

export interface RenderServiceOptions {
  /** The package templates/ folder. */
  root: string;
  log: HostLog;
  /** The budget of each render, read at every render (so a configuration change applies at once). */
  limits?: () => RenderLimits;
  /** Render worker threads at most. @default between 2 and 4, from the CPU count */
  workers?: number;
  /** The event kinds (the built-in ones when omitted). */
  kinds?: KindRegistry;
  /** Helpers extensions added (for the main-thread renderer). */
  helpers?: ReadonlyMap<string, ExtensionHelper>;
  /** Resolved paths of the extension modules loaded, which every render worker loads too (their kinds and helpers). */
  extensions?: readonly string[];
  /** Sees how long each mail render took (metrics). */
  observer?: RenderObserver;
}

/** What a render cost, for whoever watches. Called for mail renders that produced a mail (never for previews). */
export interface RenderObserver {
  /** `where`: `inline` for a mail made from the defaults alone on the main thread, `worker` for one with tenant templates. */
  rendered(seconds: number, where: 'inline' | 'worker'): void;
}

export interface ServiceRenderOptions {
  /** Unsaved preview sources: compiled in a worker for this render alone, never cached. */
  sources?: UnsavedSources;
  /** Receives every problem of this render. */
  problems?: TemplateProblem[];
  /** `preview` renders never take the last free worker. @default 'mail' */
  lane?: RenderLane;
  /** What beforeRender hooks added (plain data), seen by templates as `view`. */
  view?: Record<string, unknown>;
}

/** Problems remembered as logged, and tenants remembered as having a stage that had to be stopped. */
const REMEMBERED_MAX = 10_000;
/** A stage stopped from outside is avoided for this long for the same templates, in milliseconds. */
const AVOID_TTL_MS = 15 * 60_000;

/**
 * Renders mail on a budget, off the main event loop where tenant code is involved. A mail whose
 * tenant has no templates of its own (only brand settings) runs nothing but the trusted
 * defaults and is rendered in place, which costs no thread hop. Any tenant template (config,
 * directory, or unsaved preview sources) is rendered in a worker thread: the budget's counters
 * (partial calls and depth, output size, time) stop it from inside, and a render still running
 * at four times the time limit (at least 1 s: compiling a large template counts there) (CSS inlining, a huge parse) is stopped by terminating its worker;
 * the mail is then rendered again with the defaults in the stage that ran over, and that stage
 * is avoided for those templates for a while. Every problem is logged once (TEMPLATE_INVALID).
 */
export class RenderService {
  readonly #log: HostLog;
  readonly #limits: () => RenderLimits;
  readonly #observer: RenderObserver | undefined;
  /** Main-thread renderer: the defaults, tenant template resolution (and directory watchers), default-only renders. */
  readonly renderer: Renderer;
  readonly #pool: RenderPool;
  readonly #reported = new LRUCache<string, true>({ max: REMEMBERED_MAX });
  /** `${tenant}\0${signature of its templates}` -> stages that had to be stopped from outside. */
  readonly #avoid = new LRUCache<string, RenderStage[]>({ max: REMEMBERED_MAX, ttl: AVOID_TTL_MS });
  readonly #avoidTenants = new LRUCache<string, true>({ max: REMEMBERED_MAX, ttl: AVOID_TTL_MS });

  constructor(o: RenderServiceOptions) {
    this.#log = o.log;
    this.#limits = o.limits ?? (() => DEFAULT_RENDER_LIMITS);
    this.#observer = o.observer;
    this.renderer = new Renderer(o.root, o.log, this.#limits(), o.kinds, o.helpers);
    this.#pool = new RenderPool({ root: o.root, ...(o.extensions && { extensions: o.extensions }), ...(o.workers !== undefined && { size: o.workers }) });
  }

  /** The worker pool's counts, for tests and status. */
  get pool(): { workers: number; stopped: number } {
    return { workers: this.#pool.workers, stopped: this.#pool.stopped };
  }

  async render(rec: SpoolRecord, tenant: TemplateTenant, opts: ServiceRenderOptions = {}): Promise<RenderedMail> {
    const started = performance.now();
    const observe = (where: 'inline' | 'worker') => opts.lane !== 'preview' && this.#observer?.rendered((performance.now() - started) / 1000, where);
    const limits = this.#limits();
    const own = this.renderer.tenantTemplates(tenant);
    // An extension kind's templates run extension code (its helpers): like tenant code, off the main thread.
    const trustedOnly = this.renderer.kinds.get(rec.type)?.builtIn !== false;
    if (trustedOnly && !opts.sources && own.parts.size === 0 && own.partials.size === 0 && !own.layout) {
      const mail = await this.renderer.render(rec, tenant, { own, limits, ...(opts.problems && { problems: opts.problems }), ...(opts.view && { view: opts.view }) });
      observe('inline');
      return mail;
    }
    const slim = slimTenant(tenant);
    let sig: string | undefined;
    const key = () => (sig ??= `${tenant.id}\0${signature(own, opts.sources)}`);
    const avoid = new Set<RenderStage>((this.#avoidTenants.has(tenant.id) && this.#avoid.get(key())) || []);
    const hardMs = Math.max(1_000, 4 * limits.timeMs);
    for (;;) {
      try {
        const r = await this.#pool.run({ rec, tenant: slim, own, ...(opts.sources && { sources: opts.sources }), ...(opts.view && { view: opts.view }), limits, avoid: [...avoid] }, hardMs, opts.lane ?? 'mail');
        r.problems.forEach((p, i) => this.#report(p, r.problemKeys[i]!, opts.problems));
        for (const stage of avoid) this.#report(this.#stopProblem(tenant.id, rec.type, own, stage, limits), `${key()}\0${stage}`, opts.problems);
        observe('worker');
        return r.mail;
      } catch (e) {
        if (!(e instanceof RenderStopped)) throw e;
        // Stopped from outside: render again with the defaults in that stage (unknown: in every stage).
        const stages: RenderStage[] = e.stage ? [e.stage] : ['subject', 'html', 'layout', 'css', 'derive', 'text'];
        if (stages.every((s) => avoid.has(s))) throw e;
        for (const s of stages) avoid.add(s);
        this.#avoidTenants.set(tenant.id, true);
        this.#avoid.set(key(), [...avoid]);
      }
    }
  }

  #stopProblem(tenant: string, type: string, own: TemplateSet, stage: RenderStage, limits: RenderLimits): TemplateProblem {
    const part = stage === 'css' || stage === 'derive' ? 'html' : stage;
    const origin = stage === 'layout' ? own.layout?.origin : [...own.parts].find(([k]) => k.endsWith(`/${type}.${part}`))?.[1].origin;
    const what = stage === 'css' ? ' (CSS inlining)' : stage === 'derive' ? ' (text part made from the HTML)' : '';
    return { tenant, template: `${origin ?? `${type} ${part}`}${what}`, message: `over the ${describeLimit('timeMs', limits)}: the render was stopped`, limit: 'timeMs' };
  }

  #report(p: TemplateProblem, key: string, sink: TemplateProblem[] | undefined): void {
    sink?.push(p);
    if (this.#reported.has(key)) return;
    this.#reported.set(key, true);
    this.#log.warn('tenant template failed; the next level is used for this part', { code: 'TEMPLATE_INVALID', ...p });
  }

  /** Sizes of the main-thread caches (each worker's are bounded the same way). */
  cacheSizes(): ReturnType<Renderer['cacheSizes']> & { reported: number; avoided: number } {
    return { ...this.renderer.cacheSizes(), reported: this.#reported.size, avoided: this.#avoid.size };
  }

  /** Stops the directory watchers and the render workers. */
  async dispose(): Promise<void> {
    this.renderer.dispose();
    await this.#pool.dispose();
  }
}

/** The tenant settings a render reads, without its SMTP settings and secrets. */
function slimTenant(t: TemplateTenant): TemplateTenant {
  const { id, language, timeZone, country, brand, attachments, from } = t;
  return { id, language, timeZone, country, brand, attachments, from } as TemplateTenant;
}

function signature(own: TemplateSet, sources: UnsavedSources | undefined): string {
  const h = crypto.createHash('sha256');
  for (const [k, s] of own.parts) h.update(`p\0${k}\0${s.source}\0`);
  for (const [k, s] of own.partials) h.update(`q\0${k}\0${s.source}\0`);
  if (own.layout) h.update(`l\0${own.layout.source}\0`);
  if (sources) h.update(`s\0${JSON.stringify(sources)}`);
  return h.digest('hex');
}
