/**
 * Benchmark 5, latency (issue 9): event-to-delivered time at a steady 50 messages/s spread over
 * 100 tenants, every SMTP reply 20 ms away (a simulated network round trip), through the plugin
 * at its default configuration, against bare nodemailer sending the same rendered mail the moment
 * each event arrives (a new transport per message, at most as many sessions in flight as the
 * plugin's default `global`). Rounds alternate plugin / bare in one process.
 */
import nodemailer from 'nodemailer';
import { resolveConfig, SchemaRegistry } from '../src/config';
import { transportOptions } from '../src/delivery';
import { TestCa } from '../src/host/demo/test-ca';
import { EmailNotifyPlugin } from '../src/plugin';
import { Composer } from './lib/composer';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { Sink } from './lib/sink';
import { now, percentile, progress, report, round } from './lib/stats';

const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 50);
const TENANTS = Number(process.env.BENCH_LATENCY_TENANTS ?? 100);
const RTT_MS = Number(process.env.BENCH_LATENCY_RTT_MS ?? 20);
const SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS ?? 2);

interface RoundResult {
  /** Event-to-delivered times, ms, one per message. */
  latencies: number[];
  lost: number;
}

/** Calls `send(i)` for i = 0..count-1 at `RATE` per second, on schedule (late calls catch up at once). */
async function paced(count: number, send: (i: number) => void): Promise<void> {
  const t0 = now();
  for (let i = 0; i < count; ) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    for (; i < count && t0 + (i * 1000) / RATE <= now() + 1; i++) send(i);
  }
}

function deadline<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(what())), ms)))]).finally(() => clearTimeout(t));
}

async function plugin(config: unknown, tenants: string[], count: number): Promise<RoundResult> {
  const host = new BenchHost(config);
  const p = await EmailNotifyPlugin.activate(host.context());
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  host.onEmit = (type, payload, at) => {
    if (type !== 'email.delivered') return;
    const t = sentAt.get(payload.eventId);
    if (t !== undefined) latencies.push(at - t);
    if (latencies.length === count) done();
  };
  try {
    await paced(count, (i) => {
      const e = voicemail(tenants[i % tenants.length]!);
      sentAt.set(e.id, now());
      void host.send(e);
    });
    await deadline(all, 60_000, () => `plugin delivered ${latencies.length}/${count}`);
  } finally {
    await p.deactivate();
    host.cleanup();
  }
  return { latencies, lost: count - latencies.length };
}

async function bare(c: Composer, sessions: number, count: number): Promise<RoundResult> {
  const opts = transportOptions(c.tenant.smtp);
  const mail = c.compose();
  const latencies: number[] = [];
  const waiting: number[] = [];
  let inFlight = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const start = (arrived: number) => {
    inFlight++;
    const t = nodemailer.createTransport(opts);
    t.sendMail(mail)
      .then(() => latencies.push(now() - arrived))
      .finally(() => {
        t.close();
        inFlight--;
        if (waiting.length > 0) start(waiting.shift()!);
        if (latencies.length === count) done();
      });
  };
  await paced(count, () => {
    const t = now();
    if (inFlight < sessions) start(t);
    else waiting.push(t);
  });
  await deadline(all, 60_000, () => `bare delivered ${latencies.length}/${count}`);
  return { latencies, lost: count - latencies.length };
}

async function main(): Promise<void> {
  const ca = new TestCa();
  const sink = await Sink.start(ca.issue(), [{ name: 'wan', mode: 'sink', replyDelayMs: RTT_MS }]);
  const tenants = Array.from({ length: TENANTS }, (_, i) => `t${i}.latency.example.com`);
  const config = {
    tenants: Object.fromEntries(tenants.map((t) => [t, { from: `PBX <pbx@${t}>`, smtp: smtpTo(sink.ports.wan!, ca.cert) }])),
  };
  const sessions = resolveConfig(config, new SchemaRegistry()).delivery.concurrency.global;
  const c = new Composer(config, tenants[0]!);
  const count = Math.round(RATE * SECONDS);
  progress(`latency: ${RATE} msg/s for ${SECONDS} s over ${TENANTS} tenants, ${RTT_MS} ms per reply, ${ROUNDS} rounds of each`);
  await plugin(config, tenants, Math.min(50, count));
  await bare(c, sessions, Math.min(50, count));
  const runs = { plugin: [] as RoundResult[], bare: [] as RoundResult[] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 === 0 ? (['plugin', 'bare'] as const) : (['bare', 'plugin'] as const)) {
      if (v === 'plugin') runs.plugin.push(await plugin(config, tenants, count));
      else runs.bare.push(await bare(c, sessions, count));
    }
    const pct = (x: RoundResult) => `p50 ${round(percentile(x.latencies, 50), 1)} ms, p99 ${round(percentile(x.latencies, 99), 1)} ms`;
    progress(`round ${r + 1}: plugin ${pct(runs.plugin[r]!)}; bare ${pct(runs.bare[r]!)}`);
  }
  await sink.stop();
  const all = (xs: RoundResult[]) => xs.flatMap((x) => x.latencies);
  const p = (xs: RoundResult[], q: number) => percentile(all(xs), q);
  report({
    rate: RATE,
    tenants: TENANTS,
    rttMs: RTT_MS,
    seconds: SECONDS,
    rounds: ROUNDS,
    sessions,
    plugin: { p50: p(runs.plugin, 50), p99: p(runs.plugin, 99), lost: runs.plugin.reduce((a, x) => a + x.lost, 0) },
    bare: { p50: p(runs.bare, 50), p99: p(runs.bare, 99), lost: runs.bare.reduce((a, x) => a + x.lost, 0) },
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
