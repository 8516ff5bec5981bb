/**
 * Benchmark 3, isolation: a healthy tenant's delivery latency (handler resolution ->
 * email.delivered emitted), p50/p99, with no sick tenants, against the same with three sick
 * tenants at once: a blackhole (accepts TCP, never greets), a refused port, and a flood
 * (thousands queued). Phases interleaved, each with a fresh plugin instance and spool.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TestCa } from '../src/host/demo/test-ca';
import { EmailNotifyPlugin } from '../src/plugin';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { closedPort, Sink } from './lib/sink';
import { median, percentile, progress, report, round, sleep } from './lib/stats';

const ROUNDS = Number(process.env.BENCH_ISOLATION_ROUNDS ?? 5);
const FLOOD = Number(process.env.BENCH_FLOOD ?? 3000);
const SICK_QUEUE = 200;
/** Simulated network round trip of every server in the `wan` scenario (each reply held this long). */
const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 10);

/**
 * Two scenarios, each measured quiet and sick:
 * - `loopback`: every server is a zero-latency sink on this machine, so the flood's four sessions
 *   run flat out and compete with the healthy tenant for the same CPU (a stress case);
 * - `wan`: every server, healthy and flooded alike, answers after RTT_MS, as remote servers do.
 */
const SCENARIOS = {
  loopback: { samples: Number(process.env.BENCH_ISOLATION_SAMPLES ?? 100), intervalMs: 40 },
  wan: { samples: Number(process.env.BENCH_ISOLATION_SAMPLES ?? 100), intervalMs: 60 },
} as const;
type Scenario = keyof typeof SCENARIOS;

interface PhaseResult {
  scenario: Scenario;
  sick: boolean;
  latencies: number[];
  /** Handler resolution -> beforeSend hook (scheduling, spool read and render: the plugin's own part of the latency). */
  dispatch: number[];
  flooded: number;
  blackholeConnections: number;
  refusedAttempts: number;
  notDelivered: number;
  /** Event-loop delay during the phase, ms. */
  loopDelayP99: number;
  loopDelayMax: number;
}

async function main(): Promise<void> {
  const ca = new TestCa();
  // The healthy tenant's server and the sick tenants' servers live in separate processes, as
  // they would on separate machines: the flood's TLS handshakes must not delay the healthy server.
  const cert = ca.issue();
  const healthySink = await Sink.start(cert, [
    { name: 'healthy-loopback', mode: 'sink' },
    { name: 'healthy-wan', mode: 'sink', replyDelayMs: RTT_MS },
  ]);
  const sink = await Sink.start(cert, [
    { name: 'flood-loopback', mode: 'sink' },
    { name: 'flood-wan', mode: 'sink', replyDelayMs: RTT_MS },
    { name: 'blackhole', mode: 'blackhole' },
  ]);
  const refused = await closedPort();
  const tenant = (id: string, port: number, over: Record<string, unknown> = {}) => ({ from: `PBX <pbx@${id}>`, smtp: smtpTo(port, ca.cert, over) });
  const configFor = (scenario: Scenario) => ({
    delivery: {
      retry: { initialDelayMs: 200, maxDelayMs: 2000 },
      messageTimeoutMs: 5000,
      shutdownTimeoutMs: 0,
      ...(process.env.BENCH_PER_TENANT && { concurrency: { perTenant: Number(process.env.BENCH_PER_TENANT) } }), // diagnosis
    },
    tenants: {
      'healthy.example.com': tenant('healthy.example.com', healthySink.ports[`healthy-${scenario}`]!),
      'flood.example.com': tenant('flood.example.com', sink.ports[`flood-${scenario}`]!),
      'blackhole.example.com': tenant('blackhole.example.com', sink.ports.blackhole!, { greetingTimeoutMs: 1000 }),
      'refused.example.com': tenant('refused.example.com', refused),
    },
  });

  async function phase(scenario: Scenario, sick: boolean): Promise<PhaseResult> {
    const { samples, intervalMs } = SCENARIOS[scenario];
    const host = new BenchHost(configFor(scenario));
    const plugin = await EmailNotifyPlugin.activate(host.context());
    const resolvedAt = new Map<string, number>();
    const latencies: number[] = [];
    const dispatch: number[] = [];
    plugin.addHook('beforeSend', ({ tenant, event }) => {
      if (tenant === 'healthy.example.com') dispatch.push(performance.now() - resolvedAt.get(event.id)!);
    });
    let flooded = 0;
    let refusedAttempts = 0;
    let notDelivered = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    host.onEmit = (type, payload, at) => {
      if (payload.tenant === 'healthy.example.com') {
        if (type !== 'email.delivered') return void notDelivered++;
        latencies.push(at - resolvedAt.get(payload.eventId)!);
        if (latencies.length === samples) done();
      } else if (payload.tenant === 'flood.example.com' && type === 'email.delivered') flooded++;
      else if (payload.tenant === 'refused.example.com') refusedAttempts++;
    };
    const blackholeBefore = (await sink.counts()).blackhole!.connections;
    if (sick) {
      const only = process.env.BENCH_SICK; // diagnosis: 'flood' or 'dead' (blackhole + refused) alone
      const queued = [
        ...(only === 'dead' ? [] : Array.from({ length: FLOOD }, () => voicemail('flood.example.com'))),
        ...(only === 'flood' ? [] : Array.from({ length: SICK_QUEUE }, () => voicemail('blackhole.example.com'))),
        ...(only === 'flood' ? [] : Array.from({ length: SICK_QUEUE }, () => voicemail('refused.example.com'))),
      ];
      await Promise.all(queued.map((e) => host.send(e)));
    }
    await sleep(500); // the sick tenants are in full swing (and the quiet phase as settled) before the first healthy message
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    for (let i = 0; i < samples; i++) {
      const e = voicemail('healthy.example.com');
      void host.send(e).then(() => resolvedAt.set(e.id, performance.now()));
      await sleep(intervalMs);
    }
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((_, rej) => (guard = setTimeout(() => rej(new Error(`healthy delivered ${latencies.length}/${samples}`)), 60_000)))]);
    clearTimeout(guard);
    loop.disable();
    const blackholeConnections = (await sink.counts()).blackhole!.connections - blackholeBefore;
    await plugin.deactivate();
    sink.drop();
    host.cleanup();
    return { scenario, sick, latencies, dispatch, flooded, blackholeConnections, refusedAttempts, notDelivered, loopDelayP99: loop.percentile(99) / 1e6, loopDelayMax: loop.max / 1e6 };
  }

  progress(
    `isolation: healthy tenant alone vs with a blackhole + a refused port (${SICK_QUEUE} queued each) + a flood (${FLOOD} queued); ` +
      `scenarios loopback (zero-latency servers) and wan (${RTT_MS} ms per reply); ${ROUNDS} rounds`,
  );
  await phase('loopback', false); // warm-up
  const results: PhaseResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      for (const sick of r % 2 === 0 ? [false, true] : [true, false]) {
        const res = await phase(scenario, sick);
        results.push(res);
        progress(
          `round ${r + 1} ${scenario} ${sick ? 'sick ' : 'quiet'}: p50 ${round(percentile(res.latencies, 50), 1)} ms, p99 ${round(percentile(res.latencies, 99), 1)} ms, ` +
            `dispatch p50/p99 ${round(percentile(res.dispatch, 50), 1)}/${round(percentile(res.dispatch, 99), 1)} ms, loop delay p99 ${round(res.loopDelayP99, 1)} ms` +
            (sick ? `; flood delivered ${res.flooded}, blackhole connections ${res.blackholeConnections}, refused attempts ${res.refusedAttempts}` : ''),
        );
      }
    }
  }
  await sink.stop();
  await healthySink.stop();
  const summary = (scenario: Scenario) => {
    const of = (sick: boolean) => results.filter((x) => x.scenario === scenario && x.sick === sick);
    const stat = (sick: boolean) => {
      const l = of(sick).flatMap((x) => x.latencies);
      const d = of(sick).flatMap((x) => x.dispatch);
      return { p50: percentile(l, 50), p99: percentile(l, 99), samples: l.length, dispatchP50: percentile(d, 50), dispatchP99: percentile(d, 99), loopDelayP99: median(of(sick).map((x) => x.loopDelayP99)) };
    };
    const quiet = stat(false);
    const sick = stat(true);
    const sum = (f: (x: PhaseResult) => number) => of(true).reduce((a, x) => a + f(x), 0);
    const byRound = Array.from({ length: ROUNDS }, (_, r) => percentile(of(true)[r]!.latencies, 99) / percentile(of(false)[r]!.latencies, 99));
    return {
      ...SCENARIOS[scenario],
      quiet,
      sick,
      p50Ratio: sick.p50 / quiet.p50,
      pooledP99Ratio: sick.p99 / quiet.p99,
      // Per round, the ratio of each adjacent quiet/sick pair; the median of these is the figure
      // (as for throughput): a burst of load from elsewhere on the shared machine spoils one pair, not the result.
      p99RatiosByRound: byRound,
      p99Ratio: median(byRound),
      sickActivity: { flooded: sum((x) => x.flooded), blackholeConnections: sum((x) => x.blackholeConnections), refusedAttempts: sum((x) => x.refusedAttempts) },
    };
  };
  report({
    rounds: ROUNDS,
    flood: FLOOD,
    sickQueue: SICK_QUEUE,
    rttMs: RTT_MS,
    loopback: summary('loopback'),
    wan: summary('wan'),
    healthyNotDelivered: results.reduce((a, x) => a + x.notDelivered, 0),
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
