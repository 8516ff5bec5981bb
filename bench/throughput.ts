/**
 * Benchmark 1, throughput: events in -> durable queue -> render -> STARTTLS delivery through the
 * plugin, against bare nodemailer (a new transport per message, the same number of parallel
 * sessions) and the old single-loop design (one message after another over one transport), all
 * to the same fast sink in its own process, rounds interleaved.
 */
import nodemailer, { type SendMailOptions } from 'nodemailer';
import * as path from 'node:path';
import { resolveConfig, SchemaRegistry, TenantDirectory, type EffectiveTenant } from '../src/config';
import { transportOptions } from '../src/delivery';
import { neutraliseEvent, validateEvent } from '../src/events';
import { TestCa } from '../src/host/demo/test-ca';
import { EmailNotifyPlugin, messageIdFor, type ActivateOptions } from '../src/plugin';
import type { SpoolRecord } from '../src/spool';
import { Renderer } from '../src/templates';
import { packageRoot } from '../src/util/package-root';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { Sink } from './lib/sink';
import { median, now, progress, report, round } from './lib/stats';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 8);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
/** Many short interleaved rounds: the machine is shared, and a burst elsewhere then spoils one pair, not the median. */
const ROUNDS = Number(process.env.BENCH_THROUGHPUT_ROUNDS ?? 8);
const TENANT = 'bench.example.com';
/** Profiling aid: run one variant only (bare, plugin or loop). */
const ONLY = process.env.BENCH_ONLY;

type Mail = SendMailOptions;

/** The mail the plugin would send for one voicemail event, rendered by the plugin's own Renderer. */
class Composer {
  readonly #schemas = new SchemaRegistry();
  readonly #renderer = new Renderer(path.join(packageRoot(__dirname), 'templates'), { debug() {}, info() {}, warn() {}, error() {} });
  readonly tenant: EffectiveTenant;

  constructor(config: unknown) {
    this.tenant = new TenantDirectory(resolveConfig(config, this.#schemas)).get(TENANT)!;
  }

  compose(): Mail {
    const event = neutraliseEvent(validateEvent(voicemail(TENANT), this.#schemas));
    const rec: SpoolRecord = {
      seq: 1,
      eventId: event.id,
      tenant: TENANT,
      type: event.type,
      event,
      attachments: [],
      pending: [`alice@${TENANT}`],
      delivered: [],
      failed: [],
      state: 'queued',
      attempts: 0,
      createdAt: Date.now(),
      nextAttemptAt: Date.now(),
      messageId: messageIdFor(TENANT, event.id, this.tenant.domain),
    };
    const r = this.#renderer.render(rec, this.tenant);
    return {
      from: this.tenant.from,
      to: [{ name: 'Alice Example', address: `alice@${TENANT}` }],
      envelope: { from: this.tenant.fromAddress, to: rec.pending },
      subject: r.subject,
      text: r.text,
      html: r.html,
      messageId: rec.messageId,
      date: new Date(rec.createdAt),
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All', 'Content-Language': r.language, 'X-PBX-Event-Id': rec.eventId },
    };
  }
}

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

async function bare(c: Composer, messages: number): Promise<RoundResult> {
  const opts = transportOptions(c.tenant.smtp);
  const mail = c.compose();
  let next = 0;
  const stop = timer(messages);
  await Promise.all(
    Array.from({ length: SESSIONS }, async () => {
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

async function plugin(config: unknown, messages: number, opts: ActivateOptions = {}): Promise<RoundResult & { acceptSeconds: number; notDelivered: number }> {
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
  const events = Array.from({ length: messages }, () => voicemail(TENANT));
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
  const c = new Composer(config);
  const loopMessages = Math.max(20, Math.round(MESSAGES / 4));
  progress(`throughput: ${SESSIONS} sessions, ${MESSAGES} messages a round (${loopMessages} for the single loop), ${ROUNDS} rounds`);
  await bare(c, 40);
  await plugin(config, 40);
  await singleLoop(c, 20);
  const before = (await sink.counts()).sink!.messages;
  const runs: { bare: RoundResult[]; plugin: (RoundResult & { acceptSeconds: number; notDelivered: number })[]; loop: RoundResult[]; pipeline: RoundResult[] } = {
    bare: [],
    plugin: [],
    loop: [],
    pipeline: [],
  };
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
    sinkExpected: ROUNDS * (2 * MESSAGES + loopMessages),
    runs,
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
