import type { HostLog } from '../host-api';
import { storageError, storageErrorCode, type Claim, type HealthReport, type Spool } from '../spool';
import type { Classification } from './classify';
import { NO_CONTACT, SHUTDOWN, SPOOL_TROUBLE, UNRECORDED, type Courier } from './courier';
import { backoffDelay, longestDelay, rebaseDue, type RetrySettings } from './retry-policy';
import { linkedSignal } from './linked-signal';
import { systemClock, type Clock } from './clock';
import type { OutcomeJournal } from './outcome-journal';

/** One tenant's lane as status() shows it. */
export interface LaneStatus {
  tenant: string;
  active: number;
  held: boolean;
  failures: number;
  /** Epoch ms when the held lane's next probe may start. */
  nextProbeAt?: number;
  holdReason?: { code: string; message: string };
}

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
  /** Earliest wall-clock time queued, not in-flight mail is due; undefined when the tenant has none. */
  nextDue: number | undefined;
  /** The breaker: no session starts before this (monotonic clock). */
  holdUntil: number;
  /** After a spool error in this lane: no session starts before this (monotonic clock). */
  stallUntil: number;
  /** Consecutive spool errors in this lane (its backoff). */
  spoolErrors: number;
  /** Consecutive server-level failures. */
  failures: number;
  /** A claim from the spool is on its way (the window refills asynchronously). */
  refilling: boolean;
  /** A wake-up (new mail, an outcome written, another instance's news) came while a claim was on its way: what that claim saw may be stale. */
  woken: boolean;
  /** A shared spool had nothing for this lane for a cluster-wide reason: no claim before this (monotonic clock), or a wake-up. */
  waitUntil: number;
  /** A failure or a reset of this lane is on its way to a shared spool's breaker: no claim (it would not see it) until it is stored. */
  reporting: boolean;
  /** The shared breaker's hold, while the cluster holds the tenant. */
  sharedHold: { code: string; message: string } | undefined;
  /** Half-open: one session at a time until one succeeds. Every lane starts so. */
  probing: boolean;
  /** The failure that opened the breaker, while it is open. */
  holdReason: { code: string; message: string } | undefined;
  /** Bumped when the tenant's settings change: outcomes of sessions started before say nothing about the new server. */
  generation: number;
  /** Aborts the lane's sessions when its settings change: they are retried at once with the new ones. */
  cancel: AbortController;
}

const MAX_TIMER_MS = 60_000;
/** Backoff of a lane after a spool error: from this, doubling, up to SPOOL_BACKOFF_MAX_MS. */
const SPOOL_BACKOFF_MIN_MS = 250;
const SPOOL_BACKOFF_MAX_MS = 30_000;
/** A lane whose claim came back empty while mail looked due waits this long before it asks again (ms). */
const EMPTY_CLAIM_WAIT_MS = 250;
/** How long stop() waits for aborted sessions to unwind. */
const ABANDON_WAIT_MS = 1_000;

/**
 * Per-tenant delivery scheduling in the manner of Postfix's queue manager. Each tenant has its
 * own lane fed from the spool a small window at a time, so the queue never sits in memory. Free
 * sessions go round-robin across tenants, within a per-tenant and a global cap. A tenant whose
 * server fails is held with backoff, then probed with one message before its window reopens:
 * a dead server costs its tenant one session at a time and everyone else nothing.
 *
 * Holds, backoffs and timers run on the monotonic clock; only the spool's due times are wall
 * clock, and one implausibly far ahead (the clock moved back) is re-based to now. A spool error
 * (disk full, I/O error) never escapes: it is logged as SPOOL_FAILURE and the lane backs off; an
 * outcome the spool refused stops its lane until the OutcomeJournal has written it.
 */
export class Scheduler {
  readonly #spool: Spool;
  readonly #courier: Courier;
  readonly #log: HostLog;
  readonly #journal: OutcomeJournal;
  readonly #clock: Clock;
  readonly #unsubscribe: () => void;
  #settings: SchedulerSettings;
  readonly #lanes = new Map<string, Lane>();
  #ring: Lane[] = [];
  #rr = 0;
  #active = 0;
  readonly #inflight = new Set<Promise<void>>();
  readonly #shutdown = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (monotonic clock). */
  #timerAt = Infinity;
  #loadRetry: NodeJS.Timeout | undefined;
  #loadErrors = 0;
  #pumpQueued: NodeJS.Immediate | undefined;
  #stopped = false;

  constructor(spool: Spool, courier: Courier, settings: SchedulerSettings, log: HostLog, journal: OutcomeJournal, clock: Clock = systemClock) {
    this.#spool = spool;
    this.#courier = courier;
    this.#settings = settings;
    this.#log = log;
    this.#journal = journal;
    this.#clock = clock;
    // A lane stopped for an unwritten outcome goes on once the journal has written it; a lane whose
    // mail was deferred learns its new due time from the spool.
    const unsubscribeJournal = journal.subscribe((tenant) => {
      const lane = this.#lanes.get(tenant);
      if (lane) {
        lane.nextDue = this.#clock.wall();
        lane.woken ||= lane.refilling;
      }
      this.#schedulePump();
    });
    // Another instance sharing the spool accepted, released or settled mail of a tenant: look again.
    const unsubscribeWake = spool.onWake((tenant) => {
      if (this.#stopped) return;
      const lane = this.#lane(tenant);
      lane.nextDue = this.#clock.wall();
      lane.woken ||= lane.refilling;
      lane.waitUntil = 0;
      // Held by the cluster's breaker: ask at once whether that changed (an operator's flush); the lane shows held meanwhile.
      if (lane.sharedHold && !lane.refilling && !lane.reporting) void this.#refill(lane, lane.nextDue);
      this.#schedulePump();
    });
    this.#unsubscribe = () => {
      unsubscribeJournal();
      unsubscribeWake();
    };
  }

  /** Picks up everything the spool holds (mail left by an earlier run included). */
  async start(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.rebase();
    } catch (e) {
      this.#spoolFailure('re-base due times', undefined, e, 0); // tried again at claim time and by maintenance
    }
    try {
      const work = await this.#spool.tenantsWithWork();
      if (this.#stopped) return;
      for (const { tenant, nextDue } of work) this.#lane(tenant).nextDue = nextDue;
      this.#loadErrors = 0;
    } catch (e) {
      if (this.#stopped) return;
      // Retried with backoff: the queue is still on disk, and the next try may find the spool readable.
      const wait = spoolBackoff(++this.#loadErrors);
      this.#spoolFailure('load the queue', undefined, e, wait);
      this.#loadRetry = setTimeout(() => this.start(), wait);
      return;
    }
    this.#schedulePump();
  }

  /**
   * Makes queued mail due now whose stored due time is further ahead than any retry is ever
   * scheduled (longestDelay): the wall clock moved back since it was written. Returns how many.
   * Run at start, at claim time and by the maintenance loop; a spool error propagates.
   */
  async rebase(): Promise<number> {
    const now = this.#clock.wall();
    const tenants = await this.#spool.rebase(now, now + longestDelay(this.#settings.retry));
    let n = 0;
    for (const { tenant, count } of tenants) {
      n += count;
      this.#log.warn('queued mail was due implausibly far ahead (the clock moved back?); it is due now', { tenant, messages: count, latestMs: longestDelay(this.#settings.retry) });
      if (!this.#stopped) this.notify(tenant, now);
    }
    return n;
  }

  /** New or changed mail for a tenant, due at `due`. */
  notify(tenant: string, due = this.#clock.wall()): void {
    if (this.#stopped) return;
    const lane = this.#lane(tenant);
    lane.nextDue = Math.min(lane.nextDue ?? Infinity, due);
    lane.woken ||= lane.refilling;
    this.#schedulePump();
  }

  /** The tenant's settings changed: forget its breaker state and make its queued mail due now. */
  retryNow(tenant: string): void {
    if (this.#stopped) return;
    const lane = this.#lane(tenant);
    lane.holdUntil = 0;
    lane.failures = 0;
    lane.probing = true;
    lane.holdReason = undefined;
    lane.sharedHold = undefined;
    lane.waitUntil = 0;
    this.#dropWindow(lane);
    lane.generation++;
    lane.cancel.abort(new Error(SHUTDOWN));
    lane.cancel = new AbortController();
    if (this.#spool.shared) {
      // New settings: the cluster's hold on the old server says nothing about the new one. The lane
      // claims nothing until the hold is reset (the claim would answer with it); then every node
      // wakes and the next session anywhere is the probe.
      lane.reporting = true;
      void this.#shareHealth(lane, { reset: true }).finally(() => {
        lane.reporting = false;
        this.notify(tenant);
      });
    }
    // Its mail keeps its due times (each at most longestDelay away) if this fails; the lane still starts afresh.
    this.#spool.reschedule(tenant, this.#clock.wall()).then(
      () => this.notify(tenant),
      (e) => this.#spoolFailure('reschedule after a settings change', lane, e, 0),
    );
    this.notify(tenant);
  }

  /**
   * An operator's flush: ends the tenant's hold at once, so its next session, a probe, starts now,
   * and makes all its queued mail due now. Sessions in flight go on. A spool error propagates.
   */
  async flush(tenant: string): Promise<void> {
    if (this.#stopped) return;
    const now = this.#clock.wall();
    await this.#spool.reschedule(tenant, now);
    // A shared breaker holds the tenant on every instance: the flush ends it for all of them; every instance wakes, and one of them probes.
    if (this.#spool.shared) await this.#spool.reportHealth(tenant, { reset: true });
    if (this.#stopped) return;
    const lane = this.#lane(tenant);
    lane.sharedHold = undefined;
    lane.holdUntil = 0;
    lane.stallUntil = 0;
    lane.waitUntil = 0;
    lane.failures = 0;
    lane.probing = true;
    lane.holdReason = undefined;
    this.#dropWindow(lane);
    this.#log.info('tenant flushed by an operator: hold ended, its queued mail due now', { tenant });
    this.notify(tenant, now);
  }

  /** New caps or retry settings (a config change); queued mail is left as it is. */
  update(settings: SchedulerSettings): void {
    this.#settings = settings;
    this.#schedulePump();
  }

  /** The spool records being delivered right now, or whose outcome waits in the journal (theirs to write). */
  inFlight(): ReadonlySet<number> {
    return new Set([...[...this.#lanes.values()].flatMap((l) => [...l.active]), ...this.#journal.seqs()]);
  }

  /** A snapshot for status queries; `nextProbeAt` (wall clock, epoch ms) and `holdReason` while the breaker is open. */
  status(): { active: number; tenants: LaneStatus[] } {
    const mono = this.#clock.mono();
    const wall = this.#clock.wall();
    return {
      active: this.#active,
      tenants: [...this.#lanes.values()].map((l) => {
        const shared = l.sharedHold && (l.waitUntil > mono || l.refilling || l.reporting) ? l.sharedHold : undefined;
        const until = Math.max(l.holdUntil, l.stallUntil, shared ? l.waitUntil : 0);
        return {
          tenant: l.tenant,
          active: l.active.size,
          held: until > mono || shared !== undefined || this.#journal.blocks(l.tenant),
          failures: l.failures,
          ...(until > mono && { nextProbeAt: wall + (until - mono) }),
          ...(l.holdUntil > mono && l.holdReason && { holdReason: l.holdReason }),
          ...(l.holdUntil <= mono && shared && { holdReason: shared }),
          ...(l.holdUntil <= mono && l.stallUntil > mono && { holdReason: { code: 'SPOOL_FAILURE', message: 'the spool could not be read; the lane backs off' } }),
          ...(until <= mono && this.#journal.blocks(l.tenant) && { holdReason: { code: 'SPOOL_FAILURE', message: 'a delivery outcome waits to be stored; the tenant waits' } }),
        };
      }),
    };
  }

  /**
   * Starts no more sessions, lets in-flight ones finish for up to shutdownTimeoutMs, then
   * abandons the rest (they stay queued and are resent by the next run).
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe();
    clearTimeout(this.#timer);
    clearTimeout(this.#loadRetry);
    if (this.#pumpQueued) clearImmediate(this.#pumpQueued);
    for (const lane of this.#lanes.values()) this.#dropWindow(lane);
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
      lane = {
        tenant,
        active: new Set(),
        window: [],
        nextDue: undefined,
        holdUntil: 0,
        stallUntil: 0,
        spoolErrors: 0,
        failures: 0,
        refilling: false,
        woken: false,
        waitUntil: 0,
        reporting: false,
        sharedHold: undefined,
        probing: true,
        holdReason: undefined,
        generation: 0,
        cancel: new AbortController(),
      };
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
    const now = this.#clock.wall();
    const mono = this.#clock.mono();
    const { global } = this.#settings;
    for (let progressed = true; progressed && this.#active < global; ) {
      progressed = false;
      const n = this.#ring.length;
      let last = -1;
      for (let i = 0; i < n && this.#active < global; i++) {
        const at = (this.#rr + i) % n;
        const lane = this.#ring[at]!;
        const seq = this.#ready(lane, now, mono) ? this.#take(lane, now) : undefined;
        if (seq !== undefined) {
          this.#launch(lane, seq);
          progressed = true;
          last = at;
        }
      }
      // The next turn starts after the lane served last, so a lane next to an idle one gets no extra turns.
      if (last >= 0) this.#rr = (last + 1) % n;
    }
    this.#forgetIdleLanes(mono);
    this.#armTimer(now, mono);
  }

  #cap(lane: Lane): number {
    return lane.probing ? 1 : this.#settings.perTenant;
  }

  #ready(lane: Lane, now: number, mono: number): boolean {
    return (
      mono >= lane.holdUntil &&
      mono >= lane.stallUntil &&
      mono >= lane.waitUntil &&
      !lane.reporting &&
      lane.active.size < this.#cap(lane) &&
      lane.nextDue !== undefined &&
      rebaseDue(lane.nextDue, now, this.#settings.retry) <= now &&
      !this.#journal.blocks(lane.tenant)
    );
  }

  /** The next due message of a lane's window, never one whose outcome waits in the journal; an empty window starts a claim (the pump runs again when it is back). */
  #take(lane: Lane, now: number): number | undefined {
    lane.window = lane.window.filter((seq) => !this.#journal.holds(seq));
    if (lane.window.length > 0) return lane.window.shift();
    if (!lane.refilling) void this.#refill(lane, now);
    return undefined;
  }

  /**
   * Refills a lane's window with a claim from the spool. A local spool's claim is a window of due
   * mail (perTenant x 4); a shared spool leases exactly what the lane can start, within the
   * tenant's cluster-wide cap and its shared breaker, and says how long to wait when it gives none.
   */
  async #refill(lane: Lane, now: number): Promise<void> {
    lane.refilling = true;
    lane.woken = false;
    const generation = lane.generation;
    const skip = new Set([...lane.active, ...this.#journal.seqs()]);
    let recheck = false;
    const ask = (): Promise<Claim> =>
      this.#spool.claim({ tenant: lane.tenant, now, limit: this.#spool.shared ? Math.max(this.#cap(lane) - lane.active.size, 0) : this.#settings.perTenant * 4, exclude: skip, perTenant: this.#settings.perTenant });
    try {
      let claim = await ask();
      if (claim.seqs.length === 0 && claim.waitMs === undefined) {
        lane.nextDue = await this.#spool.nextDue(lane.tenant, skip);
        // Due further ahead than any retry is ever put: the clock moved back. Due now, then.
        if (lane.nextDue !== undefined && rebaseDue(lane.nextDue, now, this.#settings.retry) !== lane.nextDue && (await this.rebase()) > 0) claim = await ask();
      }
      if (this.#stopped || generation !== lane.generation) {
        if (claim.seqs.length > 0) void this.#spool.release(claim.seqs).catch(() => undefined);
        return;
      }
      lane.spoolErrors = 0;
      lane.window = claim.seqs;
      lane.sharedHold = claim.hold;
      if (claim.waitMs !== undefined) {
        // A cluster-wide wait (the shared hold, the cap in use elsewhere); asked again at once below when a wake-up came meanwhile.
        lane.waitUntil = this.#clock.mono() + claim.waitMs;
        recheck = lane.woken;
      } else if (lane.woken) {
        // The spool moved on while it was asked (new mail, an outcome of this lane written, and
        // nextDue above still excluded it): its empty answer and due time are stale, and they
        // must not undo the wake-up. Look again at once. An asynchronous spool makes this race.
        if (claim.seqs.length === 0) lane.nextDue = this.#clock.wall();
      } else if (claim.seqs.length === 0 && lane.nextDue !== undefined && lane.nextDue <= now) lane.waitUntil = this.#clock.mono() + EMPTY_CLAIM_WAIT_MS;
    } catch (e) {
      if (this.#stopped) return;
      lane.window = [];
      lane.stallUntil = this.#clock.mono() + spoolBackoff(++lane.spoolErrors);
      this.#spoolFailure('claim due mail', lane, e, lane.stallUntil - this.#clock.mono());
    } finally {
      lane.refilling = false;
      lane.woken = false;
      if (recheck && !this.#stopped) void this.#refill(lane, this.#clock.wall());
      this.#schedulePump();
    }
  }

  /** Empties a lane's window; a shared spool gets those claims back (due again for any instance). */
  #dropWindow(lane: Lane): void {
    const seqs = lane.window;
    lane.window = [];
    if (this.#spool.shared && seqs.length > 0) void this.#spool.release(seqs).catch((e) => this.#spoolFailure('give claims back', lane, e, 0));
  }

  #spoolFailure(op: string, lane: Lane | undefined, e: unknown, retryInMs: number): void {
    this.#log.error(`spool error (${op}); retried with backoff`, { code: storageError(e, op).code, ...(lane && { tenant: lane.tenant }), error: storageErrorCode(e), detail: (e as Error)?.message, retryInMs });
  }

  #launch(lane: Lane, seq: number): void {
    lane.active.add(seq);
    this.#active++;
    const generation = lane.generation;
    const cancel = linkedSignal(this.#shutdown.signal, lane.cancel.signal);
    const run = this.#courier
      .attempt(seq, cancel.signal)
      .then((trouble) => {
        // Not attempted (abandoned, unreadable): a shared spool's claim goes back at once rather than when its lease runs out.
        if (this.#spool.shared && (trouble === SPOOL_TROUBLE || trouble === NO_CONTACT) && !this.#journal.holds(seq)) void this.#spool.release([seq]).catch(() => undefined);
        if (trouble === SPOOL_TROUBLE) {
          this.#dropWindow(lane);
          lane.stallUntil = this.#clock.mono() + spoolBackoff(++lane.spoolErrors);
        } else if (trouble === UNRECORDED || this.#journal.refused(seq)) {
          this.#dropWindow(lane); // the lane waits for the journal (#ready), then refills from the spool
        } else if (generation === lane.generation && trouble !== NO_CONTACT) this.#settled(lane, trouble);
      })
      .catch((e) => this.#log.error('delivery attempt crashed', { tenant: lane.tenant, seq, error: (e as Error).message }))
      .finally(() => {
        cancel.dispose();
        lane.active.delete(seq);
        this.#active--;
        this.#inflight.delete(run);
        if (this.#stopped) return; // the spool may be closed already
        // The lane already has mail due now: whenever this message is due again (if deferred), it
        // changes nothing until the lane runs dry, when #take asks the spool again.
        if (lane.nextDue !== undefined && lane.nextDue <= this.#clock.wall()) return this.#schedulePump();
        // The message may still be queued (deferred); the spool knows when it is due next.
        this.#spool.nextDue(lane.tenant, new Set([...lane.active, ...this.#journal.seqs()])).then(
          (next) => this.#due(lane, next),
          (e) => {
            if (this.#stopped) return;
            lane.stallUntil = this.#clock.mono() + spoolBackoff(++lane.spoolErrors);
            this.#spoolFailure('find the next due mail', lane, e, lane.stallUntil - this.#clock.mono());
            this.#due(lane, this.#clock.wall()); // look again once the stall is over
          },
        );
      });
    this.#inflight.add(run);
  }

  /** The lane's mail is due next at `next` (or none is queued): the pump looks again. */
  #due(lane: Lane, next: number | undefined): void {
    if (this.#stopped) return;
    if (next !== undefined) lane.woken ||= lane.refilling;
    lane.nextDue = Math.min(lane.nextDue ?? Infinity, next ?? Infinity);
    if (lane.nextDue === Infinity) lane.nextDue = undefined;
    this.#schedulePump();
  }

  #settled(lane: Lane, trouble: Classification | undefined): void {
    const now = this.#clock.mono();
    if (!trouble) {
      if (lane.failures > 0 || lane.probing) this.#log.debug('tenant server healthy', { tenant: lane.tenant });
      lane.failures = 0;
      lane.probing = false;
      lane.holdReason = undefined;
      if (this.#spool.shared) void this.#shareHealth(lane, { ok: true });
      return;
    }
    // Already held by a sibling session's failure.
    if (lane.holdUntil > now || (this.#spool.shared && lane.sharedHold && lane.waitUntil > now)) return;
    lane.failures++;
    if (this.#spool.shared) return this.#holdShared(lane, trouble, now);
    const hold = trouble.kind === 'auth' ? this.#settings.retry.authFailureDelayMs : backoffDelay(lane.failures, this.#settings.retry);
    lane.holdUntil = now + hold;
    lane.holdReason = { code: trouble.code, message: trouble.reason };
    lane.probing = true;
    this.#dropWindow(lane);
    this.#log.warn('tenant server failing; holding its queue', { tenant: lane.tenant, failures: lane.failures, holdMs: hold, reason: trouble.reason });
  }

  /**
   * A shared spool: the cluster's breaker holds the tenant, not this instance's. The lane claims
   * nothing until the failure is in the store; its next claim then says how long the hold lasts
   * (for every instance), and after it one session in the whole cluster probes.
   */
  #holdShared(lane: Lane, trouble: Classification, now: number): void {
    const retry = this.#settings.retry;
    lane.holdReason = lane.sharedHold = { code: trouble.code, message: trouble.reason };
    lane.probing = true;
    lane.reporting = true;
    this.#dropWindow(lane);
    const holdFor = (failures: number) => (trouble.kind === 'auth' ? retry.authFailureDelayMs : backoffDelay(failures, retry));
    // Once it is stored, a claim fetches the hold (the lane stays held meanwhile): its answer sets how long the lane waits.
    void this.#shareHealth(lane, { ok: false, code: trouble.code, message: trouble.reason, holdFor }).then((holdMs) => {
      lane.reporting = false;
      if (this.#stopped) return;
      if (holdMs !== undefined) this.#log.warn('tenant server failing; holding its queue on every node of the cluster', { tenant: lane.tenant, failures: lane.failures, holdMs, reason: trouble.reason });
      if (lane.refilling) lane.woken = true;
      else void this.#refill(lane, this.#clock.wall());
    });
  }

  /** Tells a shared spool's breaker what an attempt (or an operator) said of the tenant's server, so every instance holds or reopens it together. */
  #shareHealth(lane: Lane, report: HealthReport): Promise<number | undefined> {
    return this.#spool.reportHealth(lane.tenant, report).catch((e) => {
      this.#spoolFailure('share the tenant server health', lane, e, 0);
      return undefined;
    });
  }

  /** Drops lanes with nothing queued, nothing in flight and a closed breaker; a lane that is failing keeps its state. */
  #forgetIdleLanes(mono: number): void {
    const idle = (l: Lane) => l.nextDue === undefined && l.active.size === 0 && !l.refilling && l.window.length === 0 && l.failures === 0 && l.holdUntil <= mono && l.stallUntil <= mono && l.waitUntil <= mono && !this.#journal.blocks(l.tenant);
    if (!this.#ring.some(idle)) return;
    for (const l of this.#ring) if (idle(l)) this.#lanes.delete(l.tenant);
    this.#ring = this.#ring.filter((l) => !idle(l));
    this.#rr = 0;
  }

  /** Arms one timer for the earliest lane that becomes ready: its due time (wall clock, re-based) or the end of its hold (monotonic). */
  #armTimer(now: number, mono: number): void {
    let wake = Infinity;
    for (const l of this.#ring) {
      if (l.nextDue === undefined || this.#journal.blocks(l.tenant)) continue;
      const at = mono + Math.max(rebaseDue(l.nextDue, now, this.#settings.retry) - now, l.holdUntil - mono, l.stallUntil - mono, l.waitUntil - mono);
      if (at > mono) wake = Math.min(wake, at);
    }
    if (wake === Infinity || wake >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = wake;
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.#schedulePump();
    }, Math.min(wake - mono, MAX_TIMER_MS));
  }
}

/** Wait after the `n`th spool error in a row. */
function spoolBackoff(n: number): number {
  return Math.min(SPOOL_BACKOFF_MAX_MS, SPOOL_BACKOFF_MIN_MS * 2 ** Math.min(Math.max(n - 1, 0), 20));
}
