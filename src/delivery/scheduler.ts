import type { HostLog } from '../host-api';
import type { Spool } from '../spool';
import type { Classification } from './classify';
import { NO_CONTACT, SHUTDOWN, type Courier } from './courier';
import { backoffDelay, type RetrySettings } from './retry-policy';
import { linkedSignal } from './linked-signal';

export interface SchedulerSettings {
  perTenant: number;
  global: number;
  retry: RetrySettings;
  shutdownTimeoutMs: number;
}

/** One tenant's queue: its in-flight sessions, a small window of due mail, and its circuit breaker. */
interface Lane {
  readonly tenant: string;
  readonly active: Set<number>;
  window: number[];
  /** Earliest time queued, not in-flight mail is due; undefined when the tenant has none. */
  nextDue: number | undefined;
  /** The breaker: no session starts before this. */
  holdUntil: number;
  /** Consecutive server-level failures. */
  failures: number;
  /** Half-open: one session at a time until one succeeds. Every lane starts so. */
  probing: boolean;
  /** Bumped when the tenant's settings change: outcomes of sessions started before say nothing about the new server. */
  generation: number;
  /** Aborts the lane's sessions when its settings change: they are retried at once with the new ones. */
  cancel: AbortController;
}

const MAX_TIMER_MS = 60_000;
/** How long stop() waits for aborted sessions to unwind. */
const ABANDON_WAIT_MS = 1_000;

/**
 * Per-tenant delivery scheduling in the manner of Postfix's queue manager. Each tenant has its
 * own lane fed from the spool a small window at a time, so the queue never sits in memory. Free
 * sessions go round-robin across tenants, within a per-tenant and a global cap. A tenant whose
 * server fails is held with backoff, then probed with one message before its window reopens:
 * a dead server costs its tenant one session at a time and everyone else nothing.
 */
export class Scheduler {
  readonly #spool: Spool;
  readonly #courier: Courier;
  readonly #log: HostLog;
  #settings: SchedulerSettings;
  readonly #lanes = new Map<string, Lane>();
  #ring: Lane[] = [];
  #rr = 0;
  #active = 0;
  readonly #inflight = new Set<Promise<void>>();
  readonly #shutdown = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #pumpQueued: NodeJS.Immediate | undefined;
  #stopped = false;

  constructor(spool: Spool, courier: Courier, settings: SchedulerSettings, log: HostLog) {
    this.#spool = spool;
    this.#courier = courier;
    this.#settings = settings;
    this.#log = log;
  }

  /** Picks up everything the spool holds (mail left by an earlier run included). */
  start(): void {
    for (const { tenant, nextDue } of this.#spool.tenantsWithWork()) this.#lane(tenant).nextDue = nextDue;
    this.#schedulePump();
  }

  /** New or changed mail for a tenant, due at `due`. */
  notify(tenant: string, due = Date.now()): void {
    if (this.#stopped) return;
    const lane = this.#lane(tenant);
    lane.nextDue = Math.min(lane.nextDue ?? Infinity, due);
    this.#schedulePump();
  }

  /** The tenant's settings changed: forget its breaker state and make its queued mail due now. */
  retryNow(tenant: string): void {
    if (this.#stopped) return;
    const lane = this.#lane(tenant);
    lane.holdUntil = 0;
    lane.failures = 0;
    lane.probing = true;
    lane.window = [];
    lane.generation++;
    lane.cancel.abort(new Error(SHUTDOWN));
    lane.cancel = new AbortController();
    this.#spool.reschedule(tenant, Date.now());
    this.notify(tenant);
  }

  /** New caps or retry settings (a config change); queued mail is left as it is. */
  update(settings: SchedulerSettings): void {
    this.#settings = settings;
    this.#schedulePump();
  }

  /** The spool records being delivered right now (their outcome is the session's to write). */
  inFlight(): ReadonlySet<number> {
    return new Set([...this.#lanes.values()].flatMap((l) => [...l.active]));
  }

  /** A snapshot for status queries. */
  status(): { active: number; tenants: { tenant: string; active: number; held: boolean; failures: number }[] } {
    const now = Date.now();
    return {
      active: this.#active,
      tenants: [...this.#lanes.values()].map((l) => ({ tenant: l.tenant, active: l.active.size, held: l.holdUntil > now, failures: l.failures })),
    };
  }

  /**
   * Starts no more sessions, lets in-flight ones finish for up to shutdownTimeoutMs, then
   * abandons the rest (they stay queued and are resent by the next run).
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#pumpQueued) clearImmediate(this.#pumpQueued);
    if (this.#inflight.size > 0) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((r) => (grace = setTimeout(r, this.#settings.shutdownTimeoutMs))),
      ]);
      clearTimeout(grace);
      this.#shutdown.abort(new Error(SHUTDOWN));
      // Aborted sessions close their sockets at once; still, never wait unboundedly for one.
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        new Promise((r) => (grace = setTimeout(r, ABANDON_WAIT_MS))),
      ]);
      clearTimeout(grace);
    }
  }

  #lane(tenant: string): Lane {
    let lane = this.#lanes.get(tenant);
    if (!lane) {
      lane = { tenant, active: new Set(), window: [], nextDue: undefined, holdUntil: 0, failures: 0, probing: true, generation: 0, cancel: new AbortController() };
      this.#lanes.set(tenant, lane);
      this.#ring.push(lane);
    }
    return lane;
  }

  #schedulePump(): void {
    if (!this.#stopped) this.#pumpQueued ??= setImmediate(() => this.#pump());
  }

  #pump(): void {
    this.#pumpQueued = undefined;
    if (this.#stopped) return;
    const now = Date.now();
    const { global } = this.#settings;
    for (let progressed = true; progressed && this.#active < global; ) {
      progressed = false;
      const n = this.#ring.length;
      let last = -1;
      for (let i = 0; i < n && this.#active < global; i++) {
        const at = (this.#rr + i) % n;
        const lane = this.#ring[at]!;
        const seq = this.#ready(lane, now) ? this.#take(lane, now) : undefined;
        if (seq !== undefined) {
          this.#launch(lane, seq);
          progressed = true;
          last = at;
        }
      }
      // The next turn starts after the lane served last, so a lane next to an idle one gets no extra turns.
      if (last >= 0) this.#rr = (last + 1) % n;
    }
    this.#forgetIdleLanes(now);
    this.#armTimer(now);
  }

  #ready(lane: Lane, now: number): boolean {
    const cap = lane.probing ? 1 : this.#settings.perTenant;
    return now >= lane.holdUntil && lane.active.size < cap && lane.nextDue !== undefined && lane.nextDue <= now;
  }

  /** The next due message of a lane, refilling its window from the spool when empty. */
  #take(lane: Lane, now: number): number | undefined {
    if (lane.window.length === 0) {
      lane.window = this.#spool.due(lane.tenant, now, this.#settings.perTenant * 4, lane.active).map((r) => r.seq);
      if (lane.window.length === 0) {
        lane.nextDue = this.#spool.nextDue(lane.tenant, lane.active);
        return undefined;
      }
    }
    return lane.window.shift();
  }

  #launch(lane: Lane, seq: number): void {
    lane.active.add(seq);
    this.#active++;
    const generation = lane.generation;
    const cancel = linkedSignal(this.#shutdown.signal, lane.cancel.signal);
    const run = this.#courier
      .attempt(seq, cancel.signal)
      .then((trouble) => {
        if (generation === lane.generation && trouble !== NO_CONTACT) this.#settled(lane, trouble);
      })
      .catch((e) => this.#log.error('delivery attempt crashed', { tenant: lane.tenant, seq, error: (e as Error).message }))
      .finally(() => {
        cancel.dispose();
        lane.active.delete(seq);
        this.#active--;
        this.#inflight.delete(run);
        if (this.#stopped) return; // the spool may be closed already
        // The message may still be queued (deferred); the spool knows when it is due next.
        lane.nextDue = Math.min(lane.nextDue ?? Infinity, this.#spool.nextDue(lane.tenant, lane.active) ?? Infinity);
        if (lane.nextDue === Infinity) lane.nextDue = undefined;
        this.#schedulePump();
      });
    this.#inflight.add(run);
  }

  #settled(lane: Lane, trouble: Classification | undefined): void {
    const now = Date.now();
    if (!trouble) {
      if (lane.failures > 0 || lane.probing) this.#log.debug('tenant server healthy', { tenant: lane.tenant });
      lane.failures = 0;
      lane.probing = false;
      return;
    }
    if (lane.holdUntil > now) return; // already held by a sibling session's failure
    lane.failures++;
    const hold = trouble.kind === 'auth' ? this.#settings.retry.authFailureDelayMs : backoffDelay(lane.failures, this.#settings.retry);
    lane.holdUntil = now + hold;
    lane.probing = true;
    lane.window = [];
    this.#log.warn('tenant server failing; holding its queue', { tenant: lane.tenant, failures: lane.failures, holdMs: hold, reason: trouble.reason });
  }

  /** Drops lanes with nothing queued, nothing in flight and a closed breaker; a lane that is failing keeps its state. */
  #forgetIdleLanes(now: number): void {
    const idle = (l: Lane) => l.nextDue === undefined && l.active.size === 0 && l.failures === 0 && l.holdUntil <= now;
    if (!this.#ring.some(idle)) return;
    for (const l of this.#ring) if (idle(l)) this.#lanes.delete(l.tenant);
    this.#ring = this.#ring.filter((l) => !idle(l));
    this.#rr = 0;
  }

  #armTimer(now: number): void {
    let wake = Infinity;
    for (const l of this.#ring) {
      if (l.nextDue === undefined) continue;
      const at = Math.max(l.nextDue, l.holdUntil);
      if (at > now) wake = Math.min(wake, at);
    }
    if (wake === Infinity || wake >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = wake;
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.#schedulePump();
    }, Math.min(wake - now, MAX_TIMER_MS));
  }
}
