/**
 * Benchmark 4, scale: 100,000 messages queued for a dead tenant (a refused port). Fills a spool
 * through the plugin's handler, then restarts on it in fresh child processes and measures
 * restart-to-ready (activate() until the first delivery attempt) and resident memory, against
 * a bare process that only loads the plugin's modules (RSS) and a restart with one message
 * queued (time). Rounds interleaved.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closedPort } from './lib/sink';
import { median, progress, report, round } from './lib/stats';

const QUEUED = Number(process.env.BENCH_SCALE_QUEUED ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const child = path.join(__dirname, `scale-child${path.extname(__filename)}`);

function run(args: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, child, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('RESULT '));
      if (err || !line) return reject(new Error(`scale child ${args[0]} failed: ${err?.message ?? ''}\n${stderr}`));
      resolve(JSON.parse(line.slice(7)));
    });
  });
}

async function main(): Promise<void> {
  const port = await closedPort();
  const big = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-scale-'));
  const one = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-scale-'));
  progress(`scale: filling ${QUEUED} messages for a dead tenant through the handler`);
  const filled = await run(['fill', big, String(QUEUED), String(port)]);
  await run(['fill', one, '1', String(port)]);
  const dbMb = fs.statSync(path.join(big, 'spool.db')).size / 1024 / 1024;
  progress(`filled in ${round(filled.seconds!, 1)} s (${round(filled.rate!, 0)}/s); spool.db ${round(dbMb, 0)} MB`);
  const bare: Record<string, number>[] = [];
  const bigRuns: Record<string, number>[] = [];
  const oneRuns: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await run(['bare']));
    bigRuns.push(await run(['restart', big, String(port)]));
    oneRuns.push(await run(['restart', one, String(port)]));
    progress(
      `round ${r + 1}: ${QUEUED} queued: activate ${round(bigRuns[r]!.activateMs!, 0)} ms, ready ${round(bigRuns[r]!.readyMs!, 0)} ms, RSS peak ${round(bigRuns[r]!.rssPeakMb!, 1)} MB; ` +
        `1 queued: ready ${round(oneRuns[r]!.readyMs!, 0)} ms, RSS peak ${round(oneRuns[r]!.rssPeakMb!, 1)} MB; bare RSS ${round(bare[r]!.rssMb!, 1)} MB`,
    );
  }
  fs.rmSync(big, { recursive: true, force: true });
  fs.rmSync(one, { recursive: true, force: true });
  const m = (xs: Record<string, number>[], k: string) => median(xs.map((x) => x[k]!));
  report({
    queued: QUEUED,
    rounds: ROUNDS,
    fill: { seconds: filled.seconds, rate: filled.rate, method: 'plugin handler, batches of 10,000 concurrent calls', spoolDbMb: dbMb },
    rssPeakMb: m(bigRuns, 'rssPeakMb'),
    rssBareMb: m(bare, 'rssMb'),
    rssOneMb: m(oneRuns, 'rssPeakMb'),
    rssRatio: m(bigRuns, 'rssPeakMb') / m(bare, 'rssMb'),
    readyMs: m(bigRuns, 'readyMs'),
    activateMs: m(bigRuns, 'activateMs'),
    readyOneMs: m(oneRuns, 'readyMs'),
    readyRatio: m(bigRuns, 'readyMs') / m(oneRuns, 'readyMs'),
    deactivateMs: m(bigRuns, 'deactivateMs'),
    heapUsedMb: m(bigRuns, 'heapUsedMb'),
    attemptsWhileRunning: m(bigRuns, 'attempts'),
    stillQueued: m(bigRuns, 'queued'),
    runs: { bare, big: bigRuns, one: oneRuns },
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
