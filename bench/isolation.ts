/**
 * Benchmark 3, isolation: a healthy tenant's delivery latency (handler resolution ->
 * email.delivered emitted), p50/p99, with no sick tenants, against the same with three sick
 * tenants at once: a blackhole (accepts TCP, never greets), a refused port, and a flood
 * (thousands queued). Phases interleaved, each with a fresh plugin instance and spool.
 */
import * as net from 'node:net';
import { TestCa } from '../src/host/demo/test-ca';
import { EmailNotifyPlugin } from '../src/plugin';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { Sink } from './lib/sink';
import { percentile, progress, report, round, sleep } from './lib/stats';

const SAMPLES = Number(process.env.BENCH_ISOLATION_SAMPLES ?? 200);
const INTERVAL_MS = Number(process.env.BENCH_ISOLATION_INTERVAL_MS ?? 20);
const FLOOD = Number(process.env.BENCH_FLOOD ?? 3000);
const SICK_QUEUE = 200;
/** Simulated round trip of the flooding tenant's server (each reply held this long). */
const FLOOD_RTT_MS = Number(process.env.BENCH_FLOOD_RTT_MS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

type Phase = 'quiet' | 'sick' | 'sick-fast-flood';

interface PhaseResult {
  phase: Phase;
  latencies: number[];
  flooded: number;
  blackholeConnections: number;
  refusedAttempts: number;
  notDelivered: number;
}

async function freePortThenClose(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function main(): Promise<void> {
  const ca = new TestCa();
  const sink = await Sink.start(ca.issue(), [
    { name: 'healthy', mode: 'sink' },
    { name: 'flood', mode: 'sink', replyDelayMs: FLOOD_RTT_MS },
    { name: 'floodFast', mode: 'sink' },
    { name: 'blackhole', mode: 'blackhole' },
  ]);
  const refused = await freePortThenClose();
  const tenant = (id: string, port: number, over: Record<string, unknown> = {}) => ({ from: `PBX <pbx@${id}>`, smtp: smtpTo(port, ca.cert, over) });
  const configFor = (floodPort: number) => ({
    delivery: { retry: { initialDelayMs: 200, maxDelayMs: 2000 }, messageTimeoutMs: 5000, shutdownTimeoutMs: 0 },
    tenants: {
      'healthy.example.com': tenant('healthy.example.com', sink.ports.healthy!),
      'flood.example.com': tenant('flood.example.com', floodPort),
      'blackhole.example.com': tenant('blackhole.example.com', sink.ports.blackhole!, { greetingTimeoutMs: 1000 }),
      'refused.example.com': tenant('refused.example.com', refused),
    },
  });

  async function phase(kind: Phase): Promise<PhaseResult> {
    const host = new BenchHost(configFor(kind === 'sick-fast-flood' ? sink.ports.floodFast! : sink.ports.flood!));
    const plugin = await EmailNotifyPlugin.activate(host.context());
    const resolvedAt = new Map<string, number>();
    const latencies: number[] = [];
    let flooded = 0;
    let refusedAttempts = 0;
    let notDelivered = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    host.onEmit = (type, payload, at) => {
      if (payload.tenant === 'healthy.example.com') {
        if (type !== 'email.delivered') return void notDelivered++;
        latencies.push(at - resolvedAt.get(payload.eventId)!);
        if (latencies.length === SAMPLES) done();
      } else if (payload.tenant === 'flood.example.com' && type === 'email.delivered') flooded++;
      else if (payload.tenant === 'refused.example.com') refusedAttempts++;
    };
    const blackholeBefore = (await sink.counts()).blackhole!.connections;
    if (kind !== 'quiet') {
      const sick = [
        ...Array.from({ length: FLOOD }, () => voicemail('flood.example.com')),
        ...Array.from({ length: SICK_QUEUE }, () => voicemail('blackhole.example.com')),
        ...Array.from({ length: SICK_QUEUE }, () => voicemail('refused.example.com')),
      ];
      await Promise.all(sick.map((e) => host.send(e)));
      await sleep(500); // the sick tenants are in full swing before the first healthy message
    }
    for (let i = 0; i < SAMPLES; i++) {
      const e = voicemail('healthy.example.com');
      void host.send(e).then(() => resolvedAt.set(e.id, performance.now()));
      await sleep(INTERVAL_MS);
    }
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((_, rej) => (guard = setTimeout(() => rej(new Error(`healthy delivered ${latencies.length}/${SAMPLES}`)), 60_000)))]);
    clearTimeout(guard);
    const blackholeConnections = (await sink.counts()).blackhole!.connections - blackholeBefore;
    await plugin.deactivate();
    sink.drop();
    host.cleanup();
    return { phase: kind, latencies, flooded, blackholeConnections, refusedAttempts, notDelivered };
  }

  const withFast = process.env.BENCH_FAST_FLOOD !== '0';
  progress(`isolation: ${SAMPLES} healthy messages every ${INTERVAL_MS} ms a phase; sick = blackhole + refused (${SICK_QUEUE} queued each) + flood (${FLOOD} queued, ${FLOOD_RTT_MS} ms RTT); ${ROUNDS} rounds`);
  await phase('quiet'); // warm-up
  const results: PhaseResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: Phase[] = r % 2 === 0 ? ['quiet', 'sick'] : ['sick', 'quiet'];
    if (withFast) order.push('sick-fast-flood');
    for (const k of order) {
      const res = await phase(k);
      results.push(res);
      progress(
        `round ${r + 1} ${k}: p50 ${round(percentile(res.latencies, 50), 1)} ms, p99 ${round(percentile(res.latencies, 99), 1)} ms` +
          (k === 'quiet' ? '' : `; flood delivered ${res.flooded}, blackhole connections ${res.blackholeConnections}, refused attempts ${res.refusedAttempts}`),
      );
    }
  }
  await sink.stop();
  const pooled = (k: Phase) => results.filter((x) => x.phase === k).flatMap((x) => x.latencies);
  const stat = (k: Phase) => ({ p50: percentile(pooled(k), 50), p99: percentile(pooled(k), 99), samples: pooled(k).length });
  const quiet = stat('quiet');
  const sick = stat('sick');
  const fast = withFast ? stat('sick-fast-flood') : undefined;
  const sum = (k: Phase, f: (x: PhaseResult) => number) => results.filter((x) => x.phase === k).reduce((a, x) => a + f(x), 0);
  report({
    samples: SAMPLES,
    intervalMs: INTERVAL_MS,
    flood: FLOOD,
    floodRttMs: FLOOD_RTT_MS,
    rounds: ROUNDS,
    quiet,
    sick,
    p50Ratio: sick.p50 / quiet.p50,
    p99Ratio: sick.p99 / quiet.p99,
    sickActivity: { flooded: sum('sick', (x) => x.flooded), blackholeConnections: sum('sick', (x) => x.blackholeConnections), refusedAttempts: sum('sick', (x) => x.refusedAttempts) },
    ...(fast && {
      fastFlood: fast,
      fastFloodP99Ratio: fast.p99 / quiet.p99,
      fastFloodP50Ratio: fast.p50 / quiet.p50,
      fastFloodActivity: { flooded: sum('sick-fast-flood', (x) => x.flooded) },
    }),
    healthyNotDelivered: results.reduce((a, x) => a + x.notDelivered, 0),
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
