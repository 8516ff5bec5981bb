/**
 * Media latency (issue 12): a healthy tenant's end-to-end delivery latency (event handed to the
 * plugin's handler -> `email.delivered` emitted) for voicemails whose recording is converted to
 * MP3, with no other traffic ("quiet") against the same while a second tenant floods the plugin
 * with large recordings ("flood"). Each phase has a fresh plugin instance and spool; quiet and
 * flood phases alternate in order from round to round, after one unmeasured phase of each.
 *
 * - healthy: a 10 s 8 kHz mu-law WAV (80 kB) every BENCH_MEDIA_INTERVAL_MS (100), BENCH_MEDIA_SAMPLES
 *   (100) a phase, each converted to MP3 32 kbit/s by the media pool and sent to its own SMTP sink;
 * - flood: BENCH_MEDIA_FLOOD (20) recordings of BENCH_MEDIA_FLOOD_SECONDS (600) s of 16 kHz 16-bit
 *   mono PCM (19.2 MB each, ~1 s of conversion each on this machine) handed to the handler evenly
 *   from 1 s before the first healthy event to the last, each converted (2.4 MB of MP3) and sent to
 *   a second sink. The media pool has 2 workers here and caps a tenant at all but one.
 *
 * Both sinks run in their own process (bench/smtp-sink.ts), every reply BENCH_RTT_MS (10) ms away.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TestCa } from '../src/host/demo/test-ca';
import type { HostContext } from '../src/host-api';
import { EmailNotifyPlugin } from '../src/plugin';
import { makeWav } from '../test/helpers/media-fixtures';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { Sink } from './lib/sink';
import { median, now, percentile, progress, report, round, sleep } from './lib/stats';

const ROUNDS = Number(process.env.BENCH_MEDIA_ROUNDS ?? 5);
const SAMPLES = Number(process.env.BENCH_MEDIA_SAMPLES ?? 100);
const INTERVAL_MS = Number(process.env.BENCH_MEDIA_INTERVAL_MS ?? 100);
const FLOOD = Number(process.env.BENCH_MEDIA_FLOOD ?? 20);
const FLOOD_SECONDS = Number(process.env.BENCH_MEDIA_FLOOD_SECONDS ?? 600);
const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 10);
/** The flood starts this long before the first healthy event, so its conversions are under way. */
const LEAD_MS = 1000;
/** Diagnosis: the flood's files all handed over before the measured window (its intake out of the way). */
const UPFRONT = process.env.BENCH_MEDIA_FLOOD_UPFRONT === '1';
/** Healthy voicemails delivered, unmeasured, at the start of every phase. */
const WARM = 3;

const HEALTHY = 'healthy.example.com';
const FLOODER = 'flood.example.com';

interface Conversion {
  ms: number;
  fromBytes: number;
  toBytes: number;
}

interface PhaseResult {
  flood: boolean;
  /** Event handed to the handler -> email.delivered, ms. */
  latencies: number[];
  /** Event -> handler resolved (validation, copying the WAV into the spool, group commit). */
  accept: number[];
  /** Handler resolved -> beforeSend hook (scheduling, waiting for a worker, conversion, render). */
  dispatch: number[];
  /** The healthy tenant's conversions as the worker timed them. */
  healthyConversionMs: number[];
  /** The flood's conversions finished while the healthy tenant was measured. */
  floodConversions: Conversion[];
  floodAccepted: number;
  floodAcceptMs: number[];
  floodDelivered: number;
  notDelivered: number;
  conversionProblems: number;
  loopDelayP99: number;
  loadavg1: number;
}

async function main(): Promise<void> {
  const ca = new TestCa();
  const cert = ca.issue();
  // One process per server, as on separate machines: the flood's 3 MB mails must not slow the healthy server.
  const healthySink = await Sink.start(cert, [{ name: 'healthy', mode: 'sink', replyDelayMs: RTT_MS }]);
  const floodSink = await Sink.start(cert, [{ name: 'flood', mode: 'sink', replyDelayMs: RTT_MS }]);
  const files = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-media-latency-'));
  const small = path.join(files, 'voicemail.wav');
  const big = path.join(files, 'long.wav');
  fs.writeFileSync(small, makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 10, hz: 300 }));
  fs.writeFileSync(big, makeWav({ encoding: 'pcm16', sampleRate: 16000, channels: 1, seconds: FLOOD_SECONDS, hz: 300 }));
  const bigBytes = fs.statSync(big).size;
  const smallBytes = fs.statSync(small).size;
  const config = {
    attachmentRoots: [files],
    delivery: { shutdownTimeoutMs: 0 },
    tenants: {
      [HEALTHY]: { from: `PBX <pbx@${HEALTHY}>`, smtp: smtpTo(healthySink.ports.healthy!, ca.cert) },
      // A generous budget: the flood's conversions are measured running, not stopped at 5 s on a busy machine.
      [FLOODER]: { from: `PBX <pbx@${FLOODER}>`, smtp: smtpTo(floodSink.ports.flood!, ca.cert), attachments: { conversionTimeoutMs: 60_000 } },
    },
  };
  const event = (tenant: string, file: string, seconds: number) => {
    const e = voicemail(tenant);
    return { ...e, data: { ...e.data, durationSeconds: seconds, recording: { path: file, contentType: 'audio/wav', filename: path.basename(file) } } };
  };

  async function phase(flood: boolean): Promise<PhaseResult> {
    const host = new BenchHost(config);
    const r: PhaseResult = {
      flood,
      latencies: [],
      accept: [],
      dispatch: [],
      healthyConversionMs: [],
      floodConversions: [],
      floodAccepted: 0,
      floodAcceptMs: [],
      floodDelivered: 0,
      notDelivered: 0,
      conversionProblems: 0,
      loopDelayP99: NaN,
      loadavg1: NaN,
    };
    let measuring = false;
    const base = host.context();
    const ctx: HostContext = {
      ...base,
      log: {
        ...base.log,
        info: (msg, fields) => {
          if (msg !== 'attachment converted' || !fields) return;
          if (fields.tenant === HEALTHY) r.healthyConversionMs.push(Number(fields.ms));
          else if (measuring) r.floodConversions.push({ ms: Number(fields.ms), fromBytes: Number(fields.fromBytes), toBytes: Number(fields.toBytes) });
        },
        warn: (msg, fields) => {
          if (String(fields?.code ?? '').startsWith('CONVERSION_')) r.conversionProblems++;
          base.log.warn(msg, fields);
        },
      },
    };
    const plugin = await EmailNotifyPlugin.activate(ctx);
    const sentAt = new Map<string, number>();
    const warming = new Map<string, () => void>();
    const acceptedAt = new Map<string, number>();
    plugin.addHook('beforeSend', ({ tenant, event: e }) => {
      if (tenant === HEALTHY && acceptedAt.has(e.id)) r.dispatch.push(now() - acceptedAt.get(e.id)!);
    });
    let done!: () => void;
    const all = new Promise<void>((res) => (done = res));
    host.onEmit = (type, payload, at) => {
      if (payload.tenant === HEALTHY && warming.has(payload.eventId)) return warming.get(payload.eventId)!();
      if (payload.tenant === HEALTHY) {
        if (type !== 'email.delivered') return void r.notDelivered++;
        r.latencies.push(at - sentAt.get(payload.eventId)!);
        if (r.latencies.length === SAMPLES) done();
      } else if (payload.tenant === FLOODER && type === 'email.delivered') r.floodDelivered++;
    };
    // Unmeasured first: the media worker starts, the encoder loads, the TLS context is built (as in a plugin that has run a while).
    for (let i = 0; i < WARM; i++) {
      const e = event(HEALTHY, small, 10);
      const delivered = new Promise<void>((res) => warming.set(e.id, res));
      await host.send(e);
      await delivered;
    }
    r.healthyConversionMs.length = 0;
    const floodDone: Promise<void>[] = [];
    const window = LEAD_MS + SAMPLES * INTERVAL_MS;
    const t0 = now();
    if (flood) {
      // Each large file handed over at its time, concurrently with the healthy tenant's events.
      for (let i = 0; i < FLOOD; i++) {
        floodDone.push(
          sleep(UPFRONT ? 0 : (i * window) / FLOOD).then(async () => {
            const s = now();
            await host.send(event(FLOODER, big, FLOOD_SECONDS));
            r.floodAcceptMs.push(now() - s);
            r.floodAccepted++;
          }),
        );
      }
    }
    if (UPFRONT) await Promise.all(floodDone); // diagnosis: every large file accepted before the lead, so no intake I/O while measured
    await sleep(LEAD_MS - (now() - t0));
    measuring = true;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const start = now();
    for (let i = 0; i < SAMPLES; i++) {
      const wait = start + i * INTERVAL_MS - now();
      if (wait > 1) await sleep(wait);
      const e = event(HEALTHY, small, 10);
      sentAt.set(e.id, now());
      void host.send(e).then(() => {
        acceptedAt.set(e.id, now());
        r.accept.push(now() - sentAt.get(e.id)!);
      });
    }
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((_, rej) => (guard = setTimeout(() => rej(new Error(`healthy delivered ${r.latencies.length}/${SAMPLES}`)), 60_000)))]);
    clearTimeout(guard);
    measuring = false;
    loop.disable();
    r.loopDelayP99 = loop.percentile(99) / 1e6;
    r.loadavg1 = os.loadavg()[0]!;
    await Promise.all(floodDone);
    await plugin.deactivate();
    host.cleanup();
    return r;
  }

  progress(
    `media-latency: healthy 10 s mu-law voicemail every ${INTERVAL_MS} ms (${SAMPLES} a phase), alone vs beside ${FLOOD} x ${FLOOD_SECONDS} s 16 kHz 16-bit recordings; ` +
      `${RTT_MS} ms per SMTP reply; ${ROUNDS} rounds`,
  );
  await phase(false); // warm-up, both kinds
  await phase(true);
  const results: PhaseResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const flood of i % 2 === 0 ? [false, true] : [true, false]) {
      const x = await phase(flood);
      results.push(x);
      const fc = x.floodConversions;
      progress(
        `round ${i + 1} ${flood ? 'flood' : 'quiet'}: p50 ${round(percentile(x.latencies, 50), 1)} ms, p99 ${round(percentile(x.latencies, 99), 1)} ms; ` +
          `accept p50 ${round(percentile(x.accept, 50), 1)}, dispatch p50/p99 ${round(percentile(x.dispatch, 50), 1)}/${round(percentile(x.dispatch, 99), 1)} ms, ` +
          `healthy conversion p50 ${round(percentile(x.healthyConversionMs, 50), 0)} ms, loop delay p99 ${round(x.loopDelayP99, 1)} ms, load ${x.loadavg1.toFixed(2)}` +
          (flood ? `; flood accepted ${x.floodAccepted}, converted ${fc.length} (median ${round(median(fc.map((c) => c.ms)), 0)} ms), delivered ${x.floodDelivered}` : ''),
      );
    }
  }
  await healthySink.stop();
  await floodSink.stop();
  fs.rmSync(files, { recursive: true, force: true });

  const of = (flood: boolean) => results.filter((x) => x.flood === flood);
  const stat = (flood: boolean) => {
    const xs = of(flood);
    const l = xs.flatMap((x) => x.latencies);
    const pick = (f: (x: PhaseResult) => number[], p: number) => percentile(xs.flatMap(f), p);
    return {
      samples: l.length,
      p50: percentile(l, 50),
      p99: percentile(l, 99),
      max: Math.max(...l),
      p50ByRound: xs.map((x) => percentile(x.latencies, 50)),
      p99ByRound: xs.map((x) => percentile(x.latencies, 99)),
      acceptP50: pick((x) => x.accept, 50),
      acceptP99: pick((x) => x.accept, 99),
      dispatchP50: pick((x) => x.dispatch, 50),
      dispatchP99: pick((x) => x.dispatch, 99),
      dispatchMax: Math.max(...xs.flatMap((x) => x.dispatch)),
      conversionP50: pick((x) => x.healthyConversionMs, 50),
      conversionP99: pick((x) => x.healthyConversionMs, 99),
      conversionMax: Math.max(...xs.flatMap((x) => x.healthyConversionMs)),
      loopDelayP99: median(xs.map((x) => x.loopDelayP99)),
      notDelivered: xs.reduce((a, x) => a + x.notDelivered, 0),
      conversionProblems: xs.reduce((a, x) => a + x.conversionProblems, 0),
      loadavg1: xs.map((x) => +x.loadavg1.toFixed(2)),
    };
  };
  const quiet = stat(false);
  const flooded = stat(true);
  const ratios = (q: number[], f: number[]) => q.map((v, i) => f[i]! / v);
  const p50Ratios = ratios(quiet.p50ByRound, flooded.p50ByRound);
  const p99Ratios = ratios(quiet.p99ByRound, flooded.p99ByRound);
  const fc = of(true).flatMap((x) => x.floodConversions);
  report({
    rounds: ROUNDS,
    samples: SAMPLES,
    intervalMs: INTERVAL_MS,
    rttMs: RTT_MS,
    floodUpfront: UPFRONT,
    flood: { files: FLOOD, seconds: FLOOD_SECONDS, bytes: bigBytes },
    healthyWavBytes: smallBytes,
    quiet,
    flooded,
    p50RatiosByRound: p50Ratios,
    p99RatiosByRound: p99Ratios,
    p50Ratio: median(p50Ratios),
    p99Ratio: median(p99Ratios),
    pooledP50Ratio: flooded.p50 / quiet.p50,
    pooledP99Ratio: flooded.p99 / quiet.p99,
    floodActivity: {
      accepted: of(true).reduce((a, x) => a + x.floodAccepted, 0),
      acceptMsP50: percentile(of(true).flatMap((x) => x.floodAcceptMs), 50),
      convertedWhileMeasured: fc.length,
      conversionMsP50: median(fc.map((c) => c.ms)),
      conversionMsPerMinuteP50: median(fc.map((c) => c.ms)) / (FLOOD_SECONDS / 60),
      fromBytes: fc[0]?.fromBytes,
      toBytes: fc[0]?.toBytes,
      delivered: of(true).reduce((a, x) => a + x.floodDelivered, 0),
    },
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
