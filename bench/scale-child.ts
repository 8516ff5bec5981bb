/**
 * One process of the scale benchmark (bench/scale.ts starts it, compiled, without ts-node):
 * - `bare`: loads the plugin's modules and nothing else (the RSS baseline);
 * - `fill DIR N PORT`: queues N events through the plugin's handler, in concurrent batches;
 * - `restart DIR PORT`: activates the plugin on DIR and times activate() and the first
 *   delivery attempt (the scheduler picked up the queue), then samples RSS while the dead
 *   tenant's breaker cycles.
 */
import { EmailNotifyPlugin } from '../src/plugin';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { now, report, sleep } from './lib/stats';

const TENANT = 'dead.example.com';
const RUN_MS = Number(process.env.BENCH_SCALE_RUN_MS ?? 3000);
const BATCH = 10_000;

const config = (port: number) => ({
  delivery: { retry: { initialDelayMs: 100, maxDelayMs: 400 }, shutdownTimeoutMs: 0 },
  tenants: { [TENANT]: { from: `PBX <pbx@${TENANT}>`, smtp: smtpTo(port, 'unused', { connectionTimeoutMs: 1000 }) } },
});

const mb = (n: number) => n / 1024 / 1024;

async function fill(dir: string, n: number, port: number): Promise<void> {
  const host = new BenchHost(config(port), dir);
  const plugin = await EmailNotifyPlugin.activate(host.context());
  const t0 = now();
  for (let done = 0; done < n; done += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, n - done) }, () => host.send(voicemail(TENANT))));
  }
  const seconds = (now() - t0) / 1000;
  await plugin.deactivate();
  report({ filled: n, seconds, rate: n / seconds, rssMb: mb(process.memoryUsage().rss) });
}

async function restart(dir: string, port: number): Promise<void> {
  const rssLoaded = process.memoryUsage().rss;
  const host = new BenchHost(config(port), dir);
  let firstAttempt: number | undefined;
  let attempts = 0;
  host.onEmit = (type, _payload, at) => {
    if (type === 'email.deferred' || type === 'email.failed') {
      attempts++;
      firstAttempt ??= at;
    }
  };
  const t0 = now();
  const plugin = await EmailNotifyPlugin.activate(host.context());
  const activateMs = now() - t0;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  while (firstAttempt === undefined && now() - t0 < 30_000) await sleep(1);
  const readyMs = (firstAttempt ?? NaN) - t0;
  await sleep(RUN_MS);
  clearInterval(sampler);
  const status = (await plugin.status());
  const memory = process.memoryUsage();
  peak = Math.max(peak, memory.rss);
  const d0 = now();
  await plugin.deactivate();
  report({
    activateMs,
    readyMs,
    deactivateMs: now() - d0,
    attempts,
    queued: status.counts.queued,
    rssLoadedMb: mb(rssLoaded),
    rssPeakMb: mb(peak),
    rssEndMb: mb(memory.rss),
    heapUsedMb: mb(memory.heapUsed),
  });
}

async function main(): Promise<void> {
  const [mode, dir, a, b] = process.argv.slice(2);
  if (mode === 'bare') {
    await sleep(200);
    report({ rssMb: mb(process.memoryUsage().rss), heapUsedMb: mb(process.memoryUsage().heapUsed) });
  } else if (mode === 'fill') await fill(dir!, Number(a), Number(b));
  else if (mode === 'restart') await restart(dir!, Number(a));
  else throw new Error(`unknown mode ${mode}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
