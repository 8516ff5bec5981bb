/**
 * Issue 13, the cluster spool: a real PostgreSQL server (test/helpers/postgres.ts, fsync on) and
 * plugin nodes as separate child processes (bench/cluster-child.ts), each its own plugin instance
 * and dataDir; every run a fresh database (or, for SQLite, a fresh dataDir). Four figures, each in
 * interleaved rounds against its baseline:
 * 1. durable accepts/s and delivered msg/s, one node on PostgreSQL against one node on SQLite;
 * 2. delivered msg/s with one, two and three nodes on PostgreSQL, with CPU per message (nodes,
 *    the postgres processes, the sink);
 * 3. failover: SIGKILL of a node whose sessions sit in DATA at a server that holds them, to the
 *    first delivery of that mail by another node, default leaseMs and 2000 ms;
 * 4. a healthy tenant's latency with a blackholed tenant and a flood, three nodes against one.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { TestCa } from '../src/host/demo/test-ca';
import { SqliteSpool } from '../src/spool';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres';
import { waitFor } from '../test/helpers/wait';
import { smtpTo } from './lib/host';
import { closedPort, Sink } from './lib/sink';
import { median, percentile, progress, report, round, sleep } from './lib/stats';

const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 3);
const ACCEPTS = Number(process.env.BENCH_CLUSTER_ACCEPTS ?? 5000);
const ACCEPT_CONCURRENCY = Number(process.env.BENCH_ACCEPT_CONCURRENCY ?? 1000);
const MESSAGES = Number(process.env.BENCH_CLUSTER_MESSAGES ?? 240);
const TENANTS = Number(process.env.BENCH_CLUSTER_TENANTS ?? 32);
const FAILOVER_REPS = Number(process.env.BENCH_FAILOVER_REPS ?? 3);
const SAMPLES = Number(process.env.BENCH_CLUSTER_SAMPLES ?? 100);
const INTERVAL_MS = 60;
const FLOOD = Number(process.env.BENCH_FLOOD ?? 3000);
const DEAD_QUEUE = 210; // divisible by 1, 2 and 3 nodes, as are the defaults of FLOOD and MESSAGES
const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 10);
/** Mail the killed node holds in DATA: the default perTenant, so the tenant is at its cluster-wide limit. */
const HELD = 4;
const SCHEMA = 'pbx_email_notify';
/** Diagnosis: run some figures only (`accepts,deliver,failover,latency`). */
const ONLY = process.env.BENCH_CLUSTER_ONLY?.split(',');
const wanted = (part: string) => !ONLY || ONLY.includes(part);

const child = path.join(__dirname, `cluster-child${path.extname(__filename)}`);
const wall = () => performance.timeOrigin + performance.now();
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Delivered {
  tenant: string;
  eventId: string;
  at: number;
}

/** The parent's handle on one node. */
class Node {
  static readonly live = new Set<Node>();
  readonly #child: ChildProcess;
  readonly exited: Promise<void>;
  readonly delivered: Delivered[] = [];
  /** beforeSend of watched tenants: scheduling, claim, spool read and render done. */
  readonly dispatched: Delivered[] = [];
  onDelivered: (d: Delivered) => void = () => undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (v: Record<string, any>) => void; reject: (e: Error) => void }>();

  private constructor() {
    this.#child = fork(child, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    Node.live.add(this);
    this.exited = new Promise((resolve) =>
      this.#child.once('exit', (code, signal) => {
        Node.live.delete(this);
        for (const p of this.#pending.values()) p.reject(new Error(`node exited with ${code ?? signal}`));
        this.#pending.clear();
        resolve();
      }),
    );
    this.#child.on('message', (m: Record<string, any>) => {
      if (m.event === 'dispatch') return void this.dispatched.push({ tenant: m.tenant, eventId: m.eventId, at: m.at });
      if (m.event === 'delivered') {
        const d = { tenant: m.tenant, eventId: m.eventId, at: m.at };
        this.delivered.push(d);
        return this.onDelivered(d);
      }
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error) p?.reject(new Error(`node: ${m.error}`));
      else p?.resolve(m);
    });
  }

  /** Starts a node on a fresh dataDir, removed when the node exits unless `keep`. */
  static async start(o: { config: unknown; parked?: boolean; watch?: string[]; keep?: boolean }): Promise<Node> {
    const { keep, ...rest } = o;
    const n = new Node();
    n.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-node-'));
    if (!keep) void n.exited.then(() => fs.rmSync(n.dataDir, { recursive: true, force: true }));
    await n.request({ cmd: 'start', dataDir: n.dataDir, ...rest });
    return n;
  }

  dataDir = '';

  request(m: Record<string, unknown>): Promise<Record<string, any>> {
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, ...m });
    });
  }

  /** Deactivates the plugin and waits for the process to exit (SIGKILL after 15 s). */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const late = setTimeout(() => this.kill(), 15_000);
    await this.request({ cmd: 'stop' }).catch(() => undefined);
    await this.exited;
    clearTimeout(late);
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

/** CPU time (user + system) of a process and of its reaped children, from /proc, ms. */
function procCpuMs(pid: number, reaped: boolean): number {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields after the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
    return ((f[11]! + f[12]! + (reaped ? f[13]! + f[14]! : 0)) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Every postgres process: the postmaster with its exited backends, and each live child. */
function pgCpuMs(postmaster: number): number {
  let total = procCpuMs(postmaster, true);
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) total += procCpuMs(Number(e), true);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function main(): Promise<void> {
  const ca = new TestCa();
  const cert = ca.issue();
  const sink = await Sink.start(cert, [
    { name: 'sink', mode: 'sink' },
    { name: 'hold', mode: 'hold' },
    { name: 'flood-wan', mode: 'sink', replyDelayMs: RTT_MS },
    { name: 'blackhole', mode: 'blackhole' },
  ]);
  // The healthy tenant's server in its own process, as in bench/isolation.ts.
  const healthySink = await Sink.start(cert, [{ name: 'healthy-wan', mode: 'sink', replyDelayMs: RTT_MS }]);
  const refused = await closedPort();
  progress('cluster: starting PostgreSQL');
  const server = await startPostgres();
  let dbs = 0;
  const database = async () => {
    const name = `bench_${++dbs}`;
    const url = await server.createDatabase(name);
    return { url, drop: () => server.dropDatabase(name) };
  };
  const spoolOf = (url: string | undefined, leaseMs?: number) =>
    url === undefined ? {} : { spool: { store: 'postgres', postgres: { connectionString: url, ...(leaseMs !== undefined && { leaseMs }) } } };
  const tenant = (id: string, port: number, over: Record<string, unknown> = {}) => ({ from: `PBX <pbx@${id}>`, smtp: smtpTo(port, ca.cert, over) });

  /** The 1-minute load average after each round: the machine is shared. */
  const loads: number[] = [];
  try {
    const settings = (await query(server, `SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, current_setting('shared_buffers') AS sb, version() AS v`))[0]!;
    progress(`PostgreSQL ${String(settings.v).split(' ')[1]}, fsync ${settings.fsync}, synchronous_commit ${settings.sc}, shared_buffers ${settings.sb}`);

    // 1a. Durable accepts, one node, PostgreSQL against SQLite.
    const acceptTenant = 'accepts.example.com';
    async function acceptRun(store: 'sqlite' | 'postgres') {
      const db = store === 'postgres' ? await database() : undefined;
      const config = { ...spoolOf(db?.url), delivery: { shutdownTimeoutMs: 0 }, tenants: { [acceptTenant]: tenant(acceptTenant, refused) } };
      const node = await Node.start({ config, parked: true, keep: true });
      try {
        await node.request({ cmd: 'send', tenants: [acceptTenant], count: 1000, concurrency: ACCEPT_CONCURRENCY }); // warm-up
        const r = await node.request({ cmd: 'send', tenants: [acceptTenant], count: ACCEPTS, concurrency: ACCEPT_CONCURRENCY });
        await node.stop();
        // Every resolution is in the store: count what a fresh reader finds there.
        let onDisk: number;
        if (db) onDisk = Number((await query(server, `SELECT count(*)::int AS n FROM ${SCHEMA}.messages`, `bench_${dbs}`))[0]!.n);
        else {
          const s = new SqliteSpool(node.dataDir);
          const c = await s.counts();
          await s.close();
          onDisk = c.queued + c.delivered + c.failed;
        }
        return { rate: ACCEPTS / r.seconds, durable: onDisk === ACCEPTS + 1000 };
      } finally {
        await node.stop();
        fs.rmSync(node.dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    }
    progress(`1. durable accepts: ${ACCEPTS} events a round (after 1,000 warm-up), ${ACCEPT_CONCURRENCY} handler calls in flight, one node; ${ROUNDS} rounds`);
    const accepts = { sqlite: [] as number[], postgres: [] as number[], ratios: [] as number[], durable: true };
    for (let r = 0; wanted('accepts') && r < ROUNDS; r++) {
      for (const store of r % 2 === 0 ? (['sqlite', 'postgres'] as const) : (['postgres', 'sqlite'] as const)) {
        const x = await acceptRun(store);
        accepts[store].push(x.rate);
        accepts.durable &&= x.durable;
      }
      accepts.ratios.push(accepts.postgres[r]! / accepts.sqlite[r]!);
      loads.push(os.loadavg()[0]!);
      progress(`round ${r + 1}: SQLite ${round(accepts.sqlite[r]!, 0)}/s, PostgreSQL ${round(accepts.postgres[r]!, 0)}/s, ratio ${round(accepts.ratios[r]!, 2)}`);
    }

    // 1b + 2. Delivered msg/s: one SQLite node; one, two, three PostgreSQL nodes.
    const tenants = Array.from({ length: TENANTS }, (_, i) => `t${i}.cluster.example.com`);
    type Variant = 'sqlite1' | 'pg1' | 'pg2' | 'pg3';
    interface DeliverRun {
      rate: number;
      acceptSeconds: number;
      nodeCpuMs: number;
      pgCpuMs: number;
      sinkCpuMs: number;
      duplicates: number;
      notDelivered: number;
    }
    async function deliverRun(v: Variant): Promise<DeliverRun> {
      const n = Number(v.slice(-1));
      const total = Math.floor(MESSAGES / n) * n;
      const db = v === 'sqlite1' ? undefined : await database();
      const config = {
        ...spoolOf(db?.url),
        delivery: { retry: { initialDelayMs: 100, maxDelayMs: 1000 } },
        tenants: Object.fromEntries(tenants.map((t) => [t, tenant(t, sink.ports.sink!)])),
      };
      const nodes = await Promise.all(Array.from({ length: n }, () => Node.start({ config })));
      try {
        const sinkCount = async () => (await sink.counts()).sink!.messages;
        const deliver = async (each: number) => {
          const base = await sinkCount();
          const sends = Promise.all(nodes.map((x) => x.request({ cmd: 'send', tenants, count: each, concurrency: each })));
          await waitFor(async () => (await sinkCount()) >= base + each * n, { what: `${each * n} delivered`, timeoutMs: 120_000, intervalMs: 10 });
          return sends;
        };
        await deliver(TENANTS); // warm-up: every node, every tenant
        const cpu = async () => ({ nodes: (await Promise.all(nodes.map((x) => x.request({ cmd: 'cpu' })))).reduce((a, c) => a + c.cpuMs, 0), pg: pgCpuMs(server.pid), sink: procCpuMs(sink.pid, false) });
        const before = await sinkCount();
        const c0 = await cpu();
        const t0 = performance.now();
        const sends = await deliver(total / n);
        const seconds = (performance.now() - t0) / 1000;
        const c1 = await cpu();
        await sleep(200); // a duplicate would arrive now
        const received = (await sinkCount()) - before;
        const stats = await Promise.all(nodes.map((x) => x.request({ cmd: 'cpu' })));
        return {
          rate: total / seconds,
          acceptSeconds: Math.max(...sends.map((s) => s.seconds)),
          nodeCpuMs: (c1.nodes - c0.nodes) / total,
          pgCpuMs: (c1.pg - c0.pg) / total,
          sinkCpuMs: (c1.sink - c0.sink) / total,
          duplicates: received - total,
          notDelivered: stats.reduce((a, s) => a + s.notDelivered, 0),
        };
      } finally {
        await Promise.all(nodes.map((x) => x.stop()));
        await db?.drop();
      }
    }
    const variants: Variant[] = ['sqlite1', 'pg1', 'pg2', 'pg3'];
    progress(`1+2. delivered msg/s: ${MESSAGES} messages a round over ${TENANTS} tenants (default perTenant 4, global 32 a node), split evenly over the nodes' handlers; ${ROUNDS} rounds`);
    const deliver: Record<Variant, DeliverRun[]> = { sqlite1: [], pg1: [], pg2: [], pg3: [] };
    for (let r = 0; wanted('deliver') && r < ROUNDS; r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) deliver[v].push(await deliverRun(v));
      const line = variants.map((v) => {
        const x = deliver[v][r]!;
        return `${v} ${round(x.rate, 1)}/s (CPU/msg nodes ${round(x.nodeCpuMs, 2)} + pg ${round(x.pgCpuMs, 2)} + sink ${round(x.sinkCpuMs, 2)} ms)`;
      });
      loads.push(os.loadavg()[0]!);
      progress(`round ${r + 1}: ${line.join(', ')}; load ${round(os.loadavg()[0]!, 1)}`);
    }
    const ratio = (a: Variant, b: Variant) => deliver[a].map((x, i) => x.rate / deliver[b][i]!.rate);

    // 3. Failover.
    const failTenant = 'failover.example.com';
    async function failover(leaseMs: number | undefined) {
      const db = await database();
      const pgc = new pg.Client({ connectionString: db.url });
      await pgc.connect();
      const config = {
        ...spoolOf(db.url, leaseMs),
        delivery: { shutdownTimeoutMs: 0 },
        // The held sessions must outlive the surviving node's start on a busy machine.
        tenants: { [failTenant]: tenant(failTenant, sink.ports.hold!, { socketTimeoutMs: 60_000 }) },
      };
      // A lane that has gone idle starts again with a probe, one session alone, and only a success
      // opens its full perTenant: the first message is answered, the next HELD are held in DATA.
      sink.hold('hold', 1);
      const base = (await sink.counts()).hold!; // also: the sink has switched before the first send
      let a: Node | undefined;
      let b: Node | undefined;
      try {
        a = await Node.start({ config, watch: [failTenant] });
        await a.request({ cmd: 'send', tenants: [failTenant], count: 1 + HELD, concurrency: 1 + HELD });
        let seen: unknown;
        await waitFor(async () => ((seen = (await sink.counts()).hold!), (seen as { held: number }).held >= base.held + HELD && a!.delivered.length === 1), {
          what: `the probe delivered and ${HELD} sessions held in DATA`,
          timeoutMs: 30_000,
          detail: () => ({ base, seen, a: a!.delivered.length }),
        });
        b = await Node.start({ config, watch: [failTenant] });
        sink.hold('hold', null);
        const held = (await sink.counts()).hold!.held - base.held; // also: the sink has switched before the kill
        const lease = (await pgc.query(`SELECT (min(lease_until) - (extract(epoch from clock_timestamp()) * 1000)::bigint)::int AS remaining, count(lease_owner)::int AS leased FROM ${SCHEMA}.messages WHERE state = 'queued'`)).rows[0];
        const killedAt = wall();
        a.kill();
        await waitFor(() => b!.delivered.length >= HELD, { what: `${HELD} delivered by the surviving node`, timeoutMs: (leaseMs ?? 15_000) + 30_000, intervalMs: 5 });
        const ats = b.delivered.map((d) => d.at - killedAt);
        return { firstMs: Math.min(...ats), allMs: Math.max(...ats), held, leased: lease.leased, leaseRemainingMs: lease.remaining, deliveredByKilled: a.delivered.length - 1 };
      } finally {
        a?.kill();
        await a?.exited;
        await b?.stop();
        await pgc.end();
        await db.drop();
      }
    }
    progress(`3. failover: ${HELD} messages held in DATA by the node then SIGKILLed; default leaseMs and 2000 ms; ${FAILOVER_REPS} repetitions each`);
    const fo = { default: [] as Awaited<ReturnType<typeof failover>>[], lease2000: [] as Awaited<ReturnType<typeof failover>>[] };
    for (let r = 0; wanted('failover') && r < FAILOVER_REPS; r++) {
      for (const k of r % 2 === 0 ? (['lease2000', 'default'] as const) : (['default', 'lease2000'] as const)) {
        const x = await failover(k === 'default' ? undefined : 2000);
        fo[k].push(x);
        loads.push(os.loadavg()[0]!);
        progress(`rep ${r + 1} ${k}: first delivery ${round(x.firstMs, 0)} ms after the kill, all ${HELD} ${round(x.allMs, 0)} ms; lease had ${x.leaseRemainingMs} ms to run (${x.leased} leased, ${x.held} held at the server)`);
      }
    }

    // 4. Healthy tenant latency with a blackhole and a flood, three nodes against one.
    const healthy = 'healthy.example.com';
    let cleanupTrace = async () => undefined as unknown;
    async function latencyPhase(n: number) {
      const db = await database();
      const config = {
        ...spoolOf(process.env.BENCH_LATENCY_STORE === 'sqlite' ? undefined : db.url), // diagnosis: the same on SQLite (one node)
        delivery: { retry: { initialDelayMs: 200, maxDelayMs: 2000 }, messageTimeoutMs: 5000, shutdownTimeoutMs: 0 },
        tenants: {
          [healthy]: tenant(healthy, healthySink.ports['healthy-wan']!),
          'flood.example.com': tenant('flood.example.com', sink.ports['flood-wan']!),
          'blackhole.example.com': tenant('blackhole.example.com', sink.ports.blackhole!, { greetingTimeoutMs: 1000 }),
        },
      };
      const nodes = await Promise.all(Array.from({ length: n }, () => Node.start({ config, watch: [healthy, 'flood.example.com'] })));
      try {
        // Warm every node first (JIT, templates, TLS) with a few healthy and flood messages: a fresh
        // process's first delivery takes ~1 s here, and a tenant's first session in the cluster is a
        // probe that runs alone (tenant_breakers starts half-open), so a cold start would gate the queue.
        const warm = 4;
        await Promise.all(nodes.map((x) => x.request({ cmd: 'send', tenants: [healthy, 'flood.example.com'], count: 2 * warm, concurrency: 1 })));
        await waitFor(() => nodes.reduce((a, x) => a + x.delivered.length, 0) >= 2 * warm * n, { what: 'warm-up delivered', timeoutMs: 60_000 });
        for (const x of nodes) x.delivered.length = x.dispatched.length = 0;
        const blackholeBefore = (await sink.counts()).blackhole!.connections;
        const sick = process.env.BENCH_SICK; // diagnosis: 'flood', 'dead' or 'none'
        await Promise.all(
          nodes.flatMap((x) => [
            ...(sick === 'dead' || sick === 'none' ? [] : [x.request({ cmd: 'send', tenants: ['flood.example.com'], count: Math.floor(FLOOD / n), concurrency: 1000 })]),
            ...(sick === 'flood' || sick === 'none' ? [] : [x.request({ cmd: 'send', tenants: ['blackhole.example.com'], count: Math.floor(DEAD_QUEUE / n), concurrency: 1000 })]),
          ]),
        );
        await sleep(500);
        const floodBefore = nodes.reduce((a, x) => a + x.delivered.filter((d) => d.tenant !== healthy).length, 0);
        // Diagnosis: BENCH_TRACE=1 prints the healthy tenant's queued rows as they change.
        let trace: NodeJS.Timeout | undefined;
        if (process.env.BENCH_TRACE) {
          const tc = new pg.Client({ connectionString: db.url });
          await tc.connect();
          let last = '';
          const t0 = Date.now();
          trace = setInterval(async () => {
            const rows = (await tc.query(`SELECT seq, attempts, right(lease_owner, 8) AS o, lease_until - (extract(epoch from clock_timestamp()) * 1000)::bigint AS l, (extract(epoch from clock_timestamp()) * 1000)::bigint - created_at AS age FROM ${SCHEMA}.messages WHERE tenant = $1 AND state = 'queued' ORDER BY seq`, [healthy])).rows;
            const key = rows.map((r) => `${r.seq}:${r.o ?? '-'}`).join(' ');
            if (key !== last) progress(`+${Date.now() - t0} ms ${rows.map((r) => `${r.seq}[${r.o ?? '-'} l${r.l ?? ''} age${r.age} a${r.attempts}]`).join(' ')}`);
            last = key;
          }, 10);
          cleanupTrace = () => tc.end();
        }
        const acked = new Map<string, { at: number; node: number }>();
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < SAMPLES; i++) {
          pending.push(nodes[i % n]!.request({ cmd: 'one', tenant: healthy }).then((r) => acked.set(r.eventId, { at: r.at, node: i % n })));
          await sleep(INTERVAL_MS);
        }
        await Promise.all(pending);
        clearInterval(trace);
        await cleanupTrace();
        const deliveredHealthy = () => nodes.flatMap((x, node) => x.delivered.filter((d) => d.tenant === healthy).map((d) => ({ ...d, node })));
        await waitFor(() => deliveredHealthy().length >= SAMPLES, { what: `${SAMPLES} healthy delivered`, timeoutMs: 60_000, detail: () => deliveredHealthy().length });
        const latencies = deliveredHealthy().map((d) => d.at - acked.get(d.eventId)!.at);
        const byOther = deliveredHealthy().filter((d) => d.node !== acked.get(d.eventId)!.node).length;
        // First beforeSend of each healthy event (a retried one has several).
        const firstDispatch = new Map<string, number>();
        for (const d of nodes.flatMap((x) => x.dispatched)) if (d.tenant === healthy) firstDispatch.set(d.eventId, Math.min(firstDispatch.get(d.eventId) ?? Infinity, d.at));
        const dispatch = [...firstDispatch].map(([id, at]) => at - acked.get(id)!.at);
        const flooded = nodes.reduce((a, x) => a + x.delivered.filter((d) => d.tenant !== healthy).length, 0) - floodBefore;
        const blackholeConnections = (await sink.counts()).blackhole!.connections - blackholeBefore;
        const stats = await Promise.all(nodes.map((x) => x.request({ cmd: 'cpu' })));
        // healthyNotDelivered is misnamed: every tenant's deferrals, so the blackhole's probes (the key kept for the recorded runs).
        return { latencies, dispatch, flooded, blackholeConnections, duplicates: latencies.length - SAMPLES, healthyNotDelivered: stats.reduce((a, s) => a + s.notDelivered, 0), deliveredByOtherNode: byOther };
      } finally {
        await Promise.all(nodes.map((x) => x.stop()));
        sink.drop();
        await db.drop();
      }
    }
    progress(`4. healthy tenant latency, one vs three nodes (PostgreSQL), with a blackhole (${DEAD_QUEUE} queued) and a flood (${FLOOD} queued); every server ${RTT_MS} ms away; healthy every ${INTERVAL_MS} ms, ${SAMPLES} samples; ${ROUNDS} rounds`);
    const lat = { one: [] as Awaited<ReturnType<typeof latencyPhase>>[], three: [] as Awaited<ReturnType<typeof latencyPhase>>[] };
    for (let r = 0; wanted('latency') && r < ROUNDS; r++) {
      for (const k of r % 2 === 0 ? (['one', 'three'] as const) : (['three', 'one'] as const)) {
        const x = await latencyPhase(k === 'one' ? 1 : 3);
        lat[k].push(x);
        loads.push(os.loadavg()[0]!);
        progress(`round ${r + 1} ${k}: p50 ${round(percentile(x.latencies, 50), 1)} ms, p99 ${round(percentile(x.latencies, 99), 1)} ms; accepted -> beforeSend p50/p99 ${round(percentile(x.dispatch, 50), 1)}/${round(percentile(x.dispatch, 99), 1)} ms; flood delivered ${x.flooded}, blackhole connections ${x.blackholeConnections}`);
      }
    }

    const dm = (v: Variant, k: keyof DeliverRun) => median(deliver[v].map((x) => x[k]));
    const latStat = (k: 'one' | 'three') => {
      const all = lat[k].flatMap((x) => x.latencies);
      const dispatch = lat[k].flatMap((x) => x.dispatch);
      return {
        dispatchP50: percentile(dispatch, 50),
        dispatchP99: percentile(dispatch, 99),
        p50: percentile(all, 50),
        p99: percentile(all, 99),
        samples: all.length,
        p99ByRound: lat[k].map((x) => percentile(x.latencies, 99)),
        flooded: lat[k].reduce((a, x) => a + x.flooded, 0),
        blackholeConnections: lat[k].map((x) => x.blackholeConnections),
        duplicates: lat[k].reduce((a, x) => a + x.duplicates, 0),
        notDelivered: lat[k].reduce((a, x) => a + x.healthyNotDelivered, 0),
        deliveredByOtherNode: lat[k].reduce((a, x) => a + x.deliveredByOtherNode, 0),
      };
    };
    const foStat = (xs: Awaited<ReturnType<typeof failover>>[]) => ({
      firstMedianMs: median(xs.map((x) => x.firstMs)),
      firstMaxMs: Math.max(...xs.map((x) => x.firstMs)),
      allMedianMs: median(xs.map((x) => x.allMs)),
      allMaxMs: Math.max(...xs.map((x) => x.allMs)),
      afterLeaseMedianMs: median(xs.map((x) => x.firstMs - x.leaseRemainingMs)),
      afterLeaseMaxMs: Math.max(...xs.map((x) => x.firstMs - x.leaseRemainingMs)),
      reps: xs,
    });
    const one = latStat('one');
    const three = latStat('three');
    const p99Ratios = lat.three.map((x, i) => percentile(x.latencies, 99) / percentile(lat.one[i]!.latencies, 99));
    report({
      rounds: ROUNDS,
      loadavg1: { min: Math.min(...loads), median: median(loads), max: Math.max(...loads) },
      postgres: { version: String(settings.v).split(' ')[1], fsync: settings.fsync, synchronousCommit: settings.sc, sharedBuffers: settings.sb },
      accepts: { events: ACCEPTS, concurrency: ACCEPT_CONCURRENCY, sqlite: median(accepts.sqlite), postgres: median(accepts.postgres), ratio: median(accepts.ratios), ratios: accepts.ratios, durable: accepts.durable, runs: accepts },
      deliver: {
        messages: MESSAGES,
        tenants: TENANTS,
        ...Object.fromEntries(
          variants.map((v) => [v, { rate: dm(v, 'rate'), nodeCpuMs: dm(v, 'nodeCpuMs'), pgCpuMs: dm(v, 'pgCpuMs'), sinkCpuMs: dm(v, 'sinkCpuMs'), acceptSeconds: dm(v, 'acceptSeconds') }]),
        ),
        pgOverSqlite: median(ratio('pg1', 'sqlite1')),
        pgOverSqliteRatios: ratio('pg1', 'sqlite1'),
        twoOverOne: median(ratio('pg2', 'pg1')),
        threeOverOne: median(ratio('pg3', 'pg1')),
        threeOverOneRatios: ratio('pg3', 'pg1'),
        duplicates: variants.reduce((a, v) => a + deliver[v].reduce((b, x) => b + x.duplicates, 0), 0),
        notDelivered: variants.reduce((a, v) => a + deliver[v].reduce((b, x) => b + x.notDelivered, 0), 0),
        runs: deliver,
      },
      failover: { held: HELD, reps: FAILOVER_REPS, default: foStat(fo.default), lease2000: foStat(fo.lease2000) },
      latency: { samples: SAMPLES, intervalMs: INTERVAL_MS, flood: FLOOD, deadQueue: DEAD_QUEUE, rttMs: RTT_MS, one, three, p50Ratio: three.p50 / one.p50, pooledP99Ratio: three.p99 / one.p99, p99Ratios, p99Ratio: median(p99Ratios) },
    });
  } finally {
    const left = [...Node.live];
    for (const n of left) n.kill();
    await Promise.all(left.map((n) => n.exited)); // and their dataDirs removed
    await sink.stop();
    await healthySink.stop();
    await server.stop();
  }
}

async function query(server: TestPostgres, sql: string, database = 'postgres'): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: server.url(database) });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
