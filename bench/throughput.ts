/**
 * Benchmark 1, throughput: events in -> durable queue -> render -> STARTTLS delivery through the
 * plugin, against bare nodemailer (a new transport per message, the same number of parallel
 * sessions) and the old single-loop design (one message after another over one transport), all
 * to the same fast sink in its own process, rounds interleaved.
 */
import nodemailer from 'nodemailer';
import { resolveConfig, SchemaRegistry } from '../src/config';
import { transportOptions } from '../src/delivery';
import { TestCa } from '../src/host/demo/test-ca';
import { EmailNotifyPlugin, type ActivateOptions } from '../src/plugin';
import { Composer } from './lib/composer';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { Sink } from './lib/sink';
import { median, now, progress, report, round } from './lib/stats';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 8);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
/** Many short interleaved rounds: the machine is shared, and a burst elsewhere then spoils one pair, not the median. */
const ROUNDS = Number(process.env.BENCH_THROUGHPUT_ROUNDS ?? 8);
const TENANT = 'bench.example.com';
/** Tenants in the default-configuration comparison (issue 9). */
const DEFAULT_TENANTS = Number(process.env.BENCH_DEFAULT_TENANTS ?? 8);
/** Profiling aid: run one variant only (bare, plugin or loop). */
const ONLY = process.env.BENCH_ONLY;
/** Unmeasured rounds of each default-configuration variant before the measured ones. */
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP_ROUNDS ?? 2);

interface RoundResult {
  messages: number;
  seconds: number;
  rate: number;
  /** CPU time of this process (user + system) per message, ms: the client's cost, robust to contention. */
  cpuMs: number;
}

function timer(messages: number): () => RoundResult {
  const t0 = now();
  const c0 = process.cpuUsage();
  return () => {
    const s = (now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    return { messages, seconds: s, rate: messages / s, cpuMs: (c.user + c.system) / 1000 / messages };
  };
}

async function bare(c: Composer, messages: number, sessions = SESSIONS): Promise<RoundResult> {
  const opts = transportOptions(c.tenant.smtp);
  const mail = c.compose();
  let next = 0;
  const stop = timer(messages);
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      while (next < messages) {
        next++;
        const t = nodemailer.createTransport(opts);
        try {
          await t.sendMail(mail);
        } finally {
          t.close();
        }
      }
    }),
  );
  return stop();
}

/** The design this plugin replaced: one loop, render then send, one message after another, one transport. */
async function singleLoop(c: Composer, messages: number): Promise<RoundResult> {
  const t = nodemailer.createTransport(transportOptions(c.tenant.smtp));
  const stop = timer(messages);
  try {
    for (let i = 0; i < messages; i++) await t.sendMail(c.compose());
  } finally {
    t.close();
  }
  return stop();
}

/** A send that succeeds at once, with no SMTP: the pipeline's own cost (intake, spool, scheduling, render, outcome). */
const stubSend = async (_smtp: unknown, mail: { envelopeTo: string[] }) => ({ accepted: [...mail.envelopeTo], rejected: [], response: '250 stub' });

async function plugin(config: unknown, messages: number, opts: ActivateOptions = {}, tenants: readonly string[] = [TENANT]): Promise<RoundResult & { acceptSeconds: number; notDelivered: number }> {
  const host = new BenchHost(config);
  const p = await EmailNotifyPlugin.activate(host.context(), opts);
  let delivered = 0;
  let notDelivered = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  host.onEmit = (type) => {
    if (type === 'email.delivered' && ++delivered === messages) done();
    if (type === 'email.deferred' || type === 'email.failed') notDelivered++;
  };
  const events = Array.from({ length: messages }, (_, i) => voicemail(tenants[i % tenants.length]!));
  const t0 = now();
  const stop = timer(messages);
  await Promise.all(events.map((e) => host.send(e)));
  const acceptSeconds = (now() - t0) / 1000;
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((_, reject) => (guard = setTimeout(() => reject(new Error(`plugin delivered ${delivered}/${messages}`)), 120_000)))]);
  clearTimeout(guard);
  const r = stop();
  await p.deactivate();
  host.cleanup();
  return { ...r, acceptSeconds, notDelivered };
}

async function main(): Promise<void> {
  const ca = new TestCa();
  const sink = await Sink.start(ca.issue(), [{ name: 'sink', mode: 'sink' }]);
  const config = {
    delivery: { concurrency: { perTenant: SESSIONS, global: SESSIONS }, retry: { initialDelayMs: 100, maxDelayMs: 1000 } },
    tenants: { [TENANT]: { from: `PBX <pbx@${TENANT}>`, smtp: smtpTo(sink.ports.sink!, ca.cert) } },
  };
  const c = new Composer(config, TENANT);
  // The default configuration: 8 tenants, default perTenant and global (no concurrency block),
  // against bare nodemailer with as many parallel sessions as the plugin may open.
  const defaultTenants = [TENANT, ...Array.from({ length: DEFAULT_TENANTS - 1 }, (_, i) => `t${i + 1}.bench.example.com`)];
  const defaultConfig = {
    delivery: { retry: { initialDelayMs: 100, maxDelayMs: 1000 } },
    tenants: Object.fromEntries(defaultTenants.map((t) => [t, { from: `PBX <pbx@${t}>`, smtp: smtpTo(sink.ports.sink!, ca.cert) }])),
  };
  const { concurrency } = resolveConfig(defaultConfig, new SchemaRegistry()).delivery;
  const defaultSessions = Math.min(concurrency.global, DEFAULT_TENANTS * concurrency.perTenant);
  const loopMessages = Math.max(20, Math.round(MESSAGES / 4));
  progress(`throughput: ${SESSIONS} sessions, ${MESSAGES} messages a round (${loopMessages} for the single loop), ${ROUNDS} rounds`);
  await bare(c, 40);
  await plugin(config, 40);
  await singleLoop(c, 20);
  if (!ONLY || ONLY === 'default') {
    // Warm both to a steady state (JIT) before the first measured round: a round of the plugin
    // otherwise pays for compiling code the bare loop has long compiled (round 2 was the worst in
    // every earlier run).
    for (let i = 0; i < WARMUP_ROUNDS; i++) {
      await bare(c, MESSAGES, defaultSessions);
      await plugin(defaultConfig, MESSAGES, {}, defaultTenants);
    }
  }
  const before = (await sink.counts()).sink!.messages;
  type PluginRound = RoundResult & { acceptSeconds: number; notDelivered: number };
  const runs: { bare: RoundResult[]; plugin: PluginRound[]; loop: RoundResult[]; pipeline: RoundResult[]; defaultBare: RoundResult[]; defaultPlugin: PluginRound[] } = {
    bare: [],
    plugin: [],
    loop: [],
    pipeline: [],
    defaultBare: [],
    defaultPlugin: [],
  };
  const defaultRatios: number[] = [];
  const defaultCpuRatios: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['bare', 'plugin', 'loop'] as const) : (['plugin', 'bare', 'loop'] as const);
    for (const v of order.filter((x) => !ONLY || x === ONLY)) {
      if (v === 'bare') runs.bare.push(await bare(c, MESSAGES));
      if (v === 'plugin') runs.plugin.push(await plugin(config, MESSAGES));
      if (v === 'loop') runs.loop.push(await singleLoop(c, loopMessages));
    }
    if (!ONLY || ONLY === 'pipeline') runs.pipeline.push(await plugin(config, MESSAGES, { send: stubSend }));
    if (!ONLY || ONLY === 'default') {
      const pair = r % 2 === 0 ? (['bare', 'plugin'] as const) : (['plugin', 'bare'] as const);
      for (const v of pair) {
        if (v === 'bare') runs.defaultBare.push(await bare(c, MESSAGES, defaultSessions));
        else runs.defaultPlugin.push(await plugin(defaultConfig, MESSAGES, {}, defaultTenants));
      }
      const [db, dp] = [runs.defaultBare[r]!, runs.defaultPlugin[r]!];
      defaultRatios.push(dp.rate / db.rate);
      defaultCpuRatios.push(dp.cpuMs / db.cpuMs);
      progress(`round ${r + 1} default config (${DEFAULT_TENANTS} tenants, ${defaultSessions} sessions): bare ${round(db.rate, 1)}/s ${round(db.cpuMs, 2)} ms CPU, plugin ${round(dp.rate, 1)}/s ${round(dp.cpuMs, 2)} ms CPU`);
    }
    if (ONLY) continue;
    ratios.push(runs.plugin[r]!.rate / runs.bare[r]!.rate);
    cpuRatios.push(runs.bare[r]!.cpuMs / runs.plugin[r]!.cpuMs);
    const cpu = (x: RoundResult) => `${round(x.rate, 1)}/s (${round(x.cpuMs, 2)} ms CPU/msg)`;
    progress(`round ${r + 1}: bare ${cpu(runs.bare[r]!)}, plugin ${cpu(runs.plugin[r]!)}, single loop ${cpu(runs.loop[r]!)}`);
  }
  const received = (await sink.counts()).sink!.messages - before;
  await sink.stop();
  const bareRate = median(runs.bare.map((x) => x.rate));
  const pluginRate = median(runs.plugin.map((x) => x.rate));
  const loopRate = median(runs.loop.map((x) => x.rate));
  report({
    sessions: SESSIONS,
    messages: MESSAGES,
    rounds: ROUNDS,
    bare: bareRate,
    plugin: pluginRate,
    loop: loopRate,
    ratio: median(ratios),
    ratios,
    cpuMs: {
      bare: median(runs.bare.map((x) => x.cpuMs)),
      plugin: median(runs.plugin.map((x) => x.cpuMs)),
      loop: median(runs.loop.map((x) => x.cpuMs)),
      pipeline: median(runs.pipeline.map((x) => x.cpuMs)),
    },
    pipeline: median(runs.pipeline.map((x) => x.rate)),
    cpuRatio: median(cpuRatios),
    loopRatio: loopRate / bareRate,
    acceptSeconds: median(runs.plugin.map((x) => x.acceptSeconds)),
    notDelivered: runs.plugin.reduce((a, x) => a + x.notDelivered, 0),
    sinkReceived: received,
    sinkExpected: ROUNDS * (4 * MESSAGES + loopMessages),
    default: {
      tenants: DEFAULT_TENANTS,
      sessions: defaultSessions,
      bare: median(runs.defaultBare.map((x) => x.rate)),
      plugin: median(runs.defaultPlugin.map((x) => x.rate)),
      ratios: defaultRatios,
      ratio: median(defaultRatios),
      minRatio: Math.min(...defaultRatios),
      cpuMs: { bare: median(runs.defaultBare.map((x) => x.cpuMs)), plugin: median(runs.defaultPlugin.map((x) => x.cpuMs)) },
      cpuRatios: defaultCpuRatios,
      cpuRatio: median(defaultCpuRatios),
      notDelivered: runs.defaultPlugin.reduce((a, x) => a + x.notDelivered, 0),
    },
    runs,
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
