/**
 * `npm run bench`: compiles src/ and bench/ to bench/.build (the figures are for plain compiled
 * JavaScript, as a host loads it from dist/, not for ts-node, which alone costs ~100 MB of RSS),
 * then runs each benchmark in its own child process, one after another, and prints the tables.
 * Results are also written to bench/results/<time>.json.
 *
 * Select benchmarks by name: `npm run bench -- throughput isolation`.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const build = path.join(__dirname, '.build');
const ALL = ['throughput', 'accepts', 'isolation', 'scale', 'latency', 'media-latency', 'cluster'] as const;
/**
 * Run only when named: `npm run bench -- media-latency` (not one of the four issue 3 figures, and
 * ~4 minutes), `npm run bench -- cluster` (issue 13, needs the PostgreSQL server binaries, ~5 minutes).
 */
const DEFAULT: readonly Name[] = ['throughput', 'accepts', 'isolation', 'scale', 'latency'];
type Name = (typeof ALL)[number];
type Result = Record<string, any>;

function compile(): void {
  fs.rmSync(build, { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(__dirname, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    // Type errors still emit JavaScript; only a missing output is fatal.
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    if (!fs.existsSync(path.join(build, 'bench', 'throughput.js'))) throw new Error(`compilation failed:\n${out}`);
    process.stderr.write(`(type errors in the tree; benchmarking the emitted JavaScript anyway)\n${out}`);
  }
}

function runOne(name: Name): Promise<Result> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [path.join(build, 'bench', `${name}.js`)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.split('\n').reverse().find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) return reject(new Error(`${name} exited with ${code}\n${out}`));
      resolve({ ...JSON.parse(line.slice(7)), wallSeconds: (Date.now() - t0) / 1000 });
    });
  });
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
const pass = (ok: boolean) => (ok ? 'pass' : 'FAIL');

function tables(r: Partial<Record<Name, Result>>): string {
  const out: string[] = [];
  const t = r.throughput;
  if (t && t.plugin !== null) {
    out.push(
      `### Throughput (${t.messages} messages a round, ${t.sessions} parallel sessions, median of ${t.rounds} rounds)`,
      '| measure | value | baseline | ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- |',
      `| plugin: events in -> spool -> render -> STARTTLS | ${f(t.plugin)} msg/s | bare nodemailer ${f(t.bare)} msg/s | ${f(t.ratio, 2)} | >= 0.9 | ${pass(t.ratio >= 0.9)} |`,
      `| old single loop (reference) | ${f(t.loop)} msg/s | bare nodemailer ${f(t.bare)} msg/s | ${f(t.loopRatio, 2)} | - | - |`,
      `| CPU per message in the sending process | plugin ${f(t.cpuMs.plugin, 2)} ms | bare ${f(t.cpuMs.bare, 2)} ms (single loop ${f(t.cpuMs.loop, 2)} ms) | ${f(t.cpuRatio, 2)} (bare/plugin) | - | - |`,
      `| pipeline alone: same plugin, SMTP send stubbed out (where the plugin's own cost goes) | ${f(t.pipeline)} msg/s | - | - | - | - |`,
      `pipeline CPU per message (intake, group commit, scheduling, render, outcome, no SMTP): ${f(t.cpuMs.pipeline, 2)} ms`,
      `per-round plugin/bare: ${t.ratios.map((x: number) => f(x, 2)).join(', ')}; sink received ${t.sinkReceived}/${t.sinkExpected}; plugin deferrals ${t.notDelivered}`,
      '',
    );
  }
  const d = t?.default;
  if (d) {
    out.push(
      `### Throughput at the default configuration (${d.tenants} tenants, default perTenant and global: ${d.sessions} sessions; median of ${t!.rounds} rounds)`,
      '| measure | value | baseline | ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- |',
      `| plugin, msg/s (worst round) | ${f(d.plugin)} msg/s | bare nodemailer, ${d.sessions} sessions, ${f(d.bare)} msg/s | ${f(d.ratio, 2)} (${f(d.minRatio, 2)}) | >= 0.9 every round | ${pass(d.minRatio >= 0.9)} |`,
      `| CPU per message, sending process | plugin ${f(d.cpuMs.plugin, 2)} ms | bare ${f(d.cpuMs.bare, 2)} ms | ${f(d.cpuRatio, 2)} (plugin/bare) | <= 1.10 | ${pass(d.cpuRatio <= 1.1)} |`,
      `per-round plugin/bare: ${d.ratios.map((x: number) => f(x, 2)).join(', ')}; CPU plugin/bare: ${d.cpuRatios.map((x: number) => f(x, 2)).join(', ')}; plugin deferrals ${d.notDelivered}`,
      '',
    );
  }
  const a = r.accepts;
  if (a) {
    out.push(
      `### Durable accepts (${a.events} events a round, ${a.concurrency} handler calls in flight, median of ${a.rounds} rounds)`,
      '| measure | value | baseline | ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- |',
      `| handler resolutions, fsynced, group commit | ${f(a.handler, 0)}/s | one fsynced insert per event ${f(a.baseline, 0)}/s | ${f(a.ratio, 1)} | >= 2000/s | ${pass(a.handler >= 2000)} |`,
      `| spool.enqueue alone (no validation), group commit | ${f(a.spoolOnly, 0)}/s | one fsynced insert per event ${f(a.baseline, 0)}/s | ${f(a.spoolOnly / a.baseline, 1)} | - | - |`,
      `all resolutions found on disk after reopening: ${a.allDurable}`,
      '',
    );
  }
  const i = r.isolation;
  if (i) {
    const row = (name: string, x: Result, target: boolean) =>
      `| ${name} | ${f(x.quiet.p50)} / ${f(x.quiet.p99)} ms | ${f(x.sick.p50)} / ${f(x.sick.p99)} ms | ${f(x.p50Ratio, 2)} | ${f(x.p99Ratio, 2)} (median of rounds: ${x.p99RatiosByRound.map((v: number) => f(v, 2)).join(', ')}; pooled ${f(x.pooledP99Ratio, 2)}) | ${target ? 'p99 <= 1.2' : '-'} | ${target ? pass(x.p99Ratio <= 1.2) : '-'} |`;
    out.push(
      `### Isolation (healthy tenant alone vs with a blackhole, a refused port (${i.sickQueue} queued each) and a flood (${i.flood} queued) at once; ${i.rounds} rounds)`,
      '| scenario | quiet p50 / p99 | sick p50 / p99 | p50 ratio | p99 ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      row(`servers ${i.rttMs} ms away (wan), healthy every ${i.wan.intervalMs} ms, ${i.wan.quiet.samples} samples`, i.wan, true),
      row(`zero-latency loopback servers (CPU stress), healthy every ${i.loopback.intervalMs} ms, ${i.loopback.quiet.samples} samples`, i.loopback, true),
      `plugin's own part (handler resolution -> beforeSend: scheduling, spool read, render) p50/p99, quiet vs sick: wan ${f(i.wan.quiet.dispatchP50)}/${f(i.wan.quiet.dispatchP99)} vs ${f(i.wan.sick.dispatchP50)}/${f(i.wan.sick.dispatchP99)} ms, ` +
        `loopback ${f(i.loopback.quiet.dispatchP50)}/${f(i.loopback.quiet.dispatchP99)} vs ${f(i.loopback.sick.dispatchP50)}/${f(i.loopback.sick.dispatchP99)} ms`,
      '',
      `event-loop delay p99, quiet/sick: wan ${f(i.wan.quiet.loopDelayP99)}/${f(i.wan.sick.loopDelayP99)} ms, loopback ${f(i.loopback.quiet.loopDelayP99)}/${f(i.loopback.sick.loopDelayP99)} ms; ` +
        `sick tenants while measured (wan): flood delivered ${i.wan.sickActivity.flooded}, blackhole connections ${i.wan.sickActivity.blackholeConnections}, refused attempts ${i.wan.sickActivity.refusedAttempts}; ` +
        `(loopback): flood delivered ${i.loopback.sickActivity.flooded}; healthy deferrals ${i.healthyNotDelivered}`,
      '',
    );
  }
  const s = r.scale;
  if (s) {
    out.push(
      `### Scale (${s.queued} queued for a dead tenant, median of ${s.rounds} restarts)`,
      '| measure | value | baseline | ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- |',
      `| resident memory (peak over ${s.runs.big.length ? 'the run' : '-'}) | ${f(s.rssPeakMb)} MB | bare process loading the modules ${f(s.rssBareMb)} MB | ${f(s.rssRatio, 2)} | < 150 MB | ${pass(s.rssPeakMb < 150)} |`,
      `| restart-to-ready (activate() to first delivery attempt) | ${f(s.readyMs, 0)} ms | 1 queued ${f(s.readyOneMs, 0)} ms | ${f(s.readyRatio, 2)} | < 2000 ms | ${pass(s.readyMs < 2000)} |`,
      `activate() alone ${f(s.activateMs, 0)} ms; deactivate() ${f(s.deactivateMs, 0)} ms; 1-queued RSS ${f(s.rssOneMb)} MB; heap used ${f(s.heapUsedMb)} MB; ` +
        `fill: ${f(s.fill.seconds)} s (${f(s.fill.rate, 0)}/s, ${s.fill.method}), spool.db ${f(s.fill.spoolDbMb, 0)} MB`,
      '',
    );
  }
  const l = r.latency;
  if (l) {
    out.push(
      `### Latency (${l.rate} msg/s for ${l.seconds} s over ${l.tenants} tenants, every SMTP reply ${l.rttMs} ms away, ${l.rounds} rounds each, interleaved)`,
      '| measure | plugin (default config) | bare nodemailer (send on arrival, at most ' + l.sessions + ' sessions) | ratio |',
      '| --- | --- | --- | --- |',
      `| event -> delivered p50 | ${f(l.plugin.p50)} ms | ${f(l.bare.p50)} ms | ${f(l.plugin.p50 / l.bare.p50, 2)} |`,
      `| event -> delivered p99 | ${f(l.plugin.p99)} ms | ${f(l.bare.p99)} ms | ${f(l.plugin.p99 / l.bare.p99, 2)} |`,
      `not delivered: plugin ${l.plugin.lost}, bare ${l.bare.lost}`,
      '',
    );
  }
  const m = r['media-latency'];
  if (m) {
    const row = (name: string, q: number, fl: number, byRound: number[], ratio: number, pooled: number) =>
      `| ${name} | ${f(q)} ms | ${f(fl)} ms | ${f(ratio, 2)} (rounds: ${byRound.map((v) => f(v, 2)).join(', ')}; pooled ${f(pooled, 2)}) |`;
    const fa = m.floodActivity;
    out.push(
      `### Media latency (healthy 10 s mu-law voicemail -> MP3 every ${m.intervalMs} ms, alone vs while a tenant sends ${m.flood.files} x ${m.flood.seconds} s 16 kHz 16-bit WAVs; ${m.rounds} rounds, ${m.samples} samples each, ${m.rttMs} ms per SMTP reply)`,
      '| healthy tenant, event -> email.delivered | quiet | flood | flood / quiet, median of rounds |',
      '| --- | --- | --- | --- |',
      row('p50', m.quiet.p50, m.flooded.p50, m.p50RatiosByRound, m.p50Ratio, m.pooledP50Ratio),
      row('p99', m.quiet.p99, m.flooded.p99, m.p99RatiosByRound, m.p99Ratio, m.pooledP99Ratio),
      `parts, quiet vs flood: accept p50 ${f(m.quiet.acceptP50)} vs ${f(m.flooded.acceptP50)} ms; accepted -> beforeSend p50/p99/max ${f(m.quiet.dispatchP50)}/${f(m.quiet.dispatchP99)}/${f(m.quiet.dispatchMax)} vs ${f(m.flooded.dispatchP50)}/${f(m.flooded.dispatchP99)}/${f(m.flooded.dispatchMax)} ms; ` +
        `healthy conversion p50/p99/max ${f(m.quiet.conversionP50, 0)}/${f(m.quiet.conversionP99, 0)}/${f(m.quiet.conversionMax, 0)} vs ${f(m.flooded.conversionP50, 0)}/${f(m.flooded.conversionP99, 0)}/${f(m.flooded.conversionMax, 0)} ms; end to end max ${f(m.quiet.max)} vs ${f(m.flooded.max)} ms; event-loop delay p99 ${f(m.quiet.loopDelayP99)} vs ${f(m.flooded.loopDelayP99)} ms`,
      `flood while measured: ${fa.accepted} accepted (p50 ${f(fa.acceptMsP50, 0)} ms each), ${fa.convertedWhileMeasured} converted (p50 ${f(fa.conversionMsP50, 0)} ms, ${f(fa.conversionMsPerMinuteP50, 0)} ms a minute of audio), ${fa.delivered} delivered; ` +
        `healthy not delivered ${m.quiet.notDelivered + m.flooded.notDelivered}, conversion problems ${m.quiet.conversionProblems + m.flooded.conversionProblems}; load (1 min) quiet ${m.quiet.loadavg1.join(', ')}, flood ${m.flooded.loadavg1.join(', ')}`,
      '',
    );
  }
  const c = r.cluster;
  if (c) {
    const a = c.accepts;
    const d = c.deliver;
    const cpu = (v: Result) => `${f(v.nodeCpuMs, 2)} + ${f(v.pgCpuMs, 2)} + ${f(v.sinkCpuMs, 2)} ms`;
    const fo = (name: string, x: Result) =>
      `| ${name} | ${f(x.firstMedianMs, 0)} / ${f(x.firstMaxMs, 0)} ms | ${f(x.allMedianMs, 0)} / ${f(x.allMaxMs, 0)} ms | ${f(x.afterLeaseMedianMs, 0)} / ${f(x.afterLeaseMaxMs, 0)} ms | ${x.reps.map((y: Result) => `${f(y.firstMs, 0)} (lease left ${y.leaseRemainingMs})`).join(', ')} |`;
    const l = c.latency;
    out.push(
      `### Cluster spool (issue 13): PostgreSQL ${c.postgres.version} (fsync ${c.postgres.fsync}, synchronous_commit ${c.postgres.synchronousCommit}), nodes as child processes; ${c.rounds} interleaved rounds; load average ${f(c.loadavg1.min)} to ${f(c.loadavg1.max)}`,
      '| measure | PostgreSQL | baseline | ratio (median of rounds) |',
      '| --- | --- | --- | --- |',
      `| durable accepts/s, one node (${a.events} events, ${a.concurrency} in flight) | ${f(a.postgres, 0)}/s | SQLite ${f(a.sqlite, 0)}/s | ${f(a.ratio, 2)} (${a.ratios.map((x: number) => f(x, 2)).join(', ')}) |`,
      `| delivered msg/s, one node (${d.messages} messages, ${d.tenants} tenants) | ${f(d.pg1.rate)} msg/s | SQLite ${f(d.sqlite1.rate)} msg/s | ${f(d.pgOverSqlite, 2)} (${d.pgOverSqliteRatios.map((x: number) => f(x, 2)).join(', ')}) |`,
      `| delivered msg/s, two nodes | ${f(d.pg2.rate)} msg/s | one node ${f(d.pg1.rate)} msg/s | ${f(d.twoOverOne, 2)} |`,
      `| delivered msg/s, three nodes | ${f(d.pg3.rate)} msg/s | one node ${f(d.pg1.rate)} msg/s | ${f(d.threeOverOne, 2)} (${d.threeOverOneRatios.map((x: number) => f(x, 2)).join(', ')}) |`,
      `CPU per delivered message, nodes + postgres + sink: SQLite 1 node ${cpu(d.sqlite1)}; PostgreSQL 1 node ${cpu(d.pg1)}, 2 nodes ${cpu(d.pg2)}, 3 nodes ${cpu(d.pg3)}. ` +
        `All accepts found in the store: ${a.durable}; duplicates at the sink ${d.duplicates}; deferrals ${d.notDelivered}`,
      '',
      `| failover (${c.failover.held} held in DATA, SIGKILL, ${c.failover.reps} reps) | kill -> first delivery, median / max | kill -> all ${c.failover.held} | lease expiry -> first delivery | reps |`,
      '| --- | --- | --- | --- | --- |',
      fo('leaseMs default (15000)', c.failover.default),
      fo('leaseMs 2000', c.failover.lease2000),
      '',
      `| healthy tenant, blackhole (${l.deadQueue} queued) + flood (${l.flood} queued), servers ${l.rttMs} ms away | one node | three nodes | ratio |`,
      '| --- | --- | --- | --- |',
      `| event accepted -> delivered p50 | ${f(l.one.p50)} ms | ${f(l.three.p50)} ms | ${f(l.p50Ratio, 2)} |`,
      `| event accepted -> delivered p99 | ${f(l.one.p99)} ms | ${f(l.three.p99)} ms | ${f(l.p99Ratio, 2)} (rounds: ${l.p99Ratios.map((x: number) => f(x, 2)).join(', ')}; pooled ${f(l.pooledP99Ratio, 2)}) |`,
      `| accepted -> beforeSend p50 / p99 | ${f(l.one.dispatchP50)} / ${f(l.one.dispatchP99)} ms | ${f(l.three.dispatchP50)} / ${f(l.three.dispatchP99)} ms | - |`,
      `samples ${l.one.samples} / ${l.three.samples}; healthy delivered by another node than the one that accepted it (three nodes): ${l.three.deliveredByOtherNode}; flood delivered while measured ${l.one.flooded} / ${l.three.flooded}; ` +
        `blackhole connections per phase ${l.one.blackholeConnections.join(', ')} / ${l.three.blackholeConnections.join(', ')}; healthy duplicates ${l.one.duplicates + l.three.duplicates}; deferrals of any tenant (the blackhole's probes) ${l.one.notDelivered} / ${l.three.notDelivered}`,
      '',
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a): a is Name => (ALL as readonly string[]).includes(a));
  const names = wanted.length > 0 ? wanted : [...DEFAULT];
  const t0 = Date.now();
  process.stderr.write(`compiling to ${path.relative(root, build)} ...\n`);
  compile();
  const results: Partial<Record<Name, Result>> = {};
  for (const name of names) {
    process.stderr.write(`${name}:\n`);
    results[name] = await runOne(name);
  }
  const machine = { nproc: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((x) => +x.toFixed(2)), date: new Date().toISOString() };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${machine.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ machine, results }, null, 2));
  process.stdout.write(`\n## Run of ${machine.date}: ${machine.nproc} CPUs (${machine.cpu}), node ${machine.node}, load ${machine.loadavg.join(' ')}, ${f((Date.now() - t0) / 1000, 0)} s\n\n`);
  process.stdout.write(tables(results) + '\n');
  process.stdout.write(`(raw results: ${path.relative(root, file)})\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
