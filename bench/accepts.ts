/**
 * Benchmark 2, durable accepts per second: handler resolutions (each event validated,
 * neutralised and fsynced to the spool, group commit allowed) with many concurrent handler
 * calls, against one fsynced SQLite insert per event (same schema, WAL, synchronous=FULL, no
 * group commit). Rounds interleaved. Delivery is parked (a send that never finishes), so the
 * figure is the intake path alone.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmailNotifyPlugin } from '../src/plugin';
import { SqliteSpool } from '../src/spool';
import { BenchHost, smtpTo, voicemail } from './lib/host';
import { median, now, pool, progress, report, round } from './lib/stats';

const EVENTS = Number(process.env.BENCH_ACCEPTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_ACCEPT_CONCURRENCY ?? 1000);
const BASELINE_EVENTS = Number(process.env.BENCH_BASELINE_INSERTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TENANT = 'accepts.example.com';

const config = {
  delivery: { shutdownTimeoutMs: 0 },
  tenants: { [TENANT]: { from: `PBX <pbx@${TENANT}>`, smtp: smtpTo(9, 'unused') } },
};

/** A send that never completes until the plugin abandons it at shutdown. */
const parked = (_smtp: unknown, _mail: unknown, signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

async function viaHandler(events: number): Promise<{ rate: number; seconds: number; durableChecked: number }> {
  const host = new BenchHost(config);
  const plugin = await EmailNotifyPlugin.activate(host.context(), { send: parked });
  const batch = Array.from({ length: events }, () => voicemail(TENANT));
  const t0 = now();
  await pool(batch, CONCURRENCY, (e) => host.send(e));
  const s = (now() - t0) / 1000;
  await plugin.deactivate();
  // Every resolution is on disk: reopen the spool and count.
  const check = new SqliteSpool(host.dataDir);
  const c = await check.counts();
  await check.close();
  host.cleanup();
  return { rate: events / s, seconds: s, durableChecked: c.queued + c.delivered + c.failed };
}

/** The spool's enqueue alone (group commit, no validation): where the handler's time goes. */
async function spoolOnly(events: number): Promise<{ rate: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-'));
  const spool = new SqliteSpool(dir);
  const recs = Array.from({ length: events }, () => record(voicemail(TENANT)));
  const t0 = now();
  await pool(recs, CONCURRENCY, (r) => spool.enqueue(r));
  const s = (now() - t0) / 1000;
  await spool.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { rate: events / s };
}

/** No group commit: each event its own transaction, fsynced, one after another. */
function perEventFsync(events: number): { rate: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-bench-'));
  void new SqliteSpool(dir).close(); // creates the schema
  const db = new Database(path.join(dir, 'spool.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    `INSERT OR IGNORE INTO messages (event_id, tenant, type, event, attachments, files_dir, pending, state, created_at, next_attempt_at, updated_at, message_id)
     VALUES (@eventId, @tenant, @type, @event, '[]', NULL, @pending, 'queued', @now, @now, @now, @messageId)`,
  );
  const recs = Array.from({ length: events }, () => record(voicemail(TENANT)));
  const t0 = now();
  for (const r of recs) {
    insert.run({ eventId: r.eventId, tenant: r.tenant, type: r.type, event: JSON.stringify(r.event), pending: JSON.stringify(r.pending), now: Date.now(), messageId: r.messageId });
  }
  const s = (now() - t0) / 1000;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { rate: events / s };
}

function record(e: ReturnType<typeof voicemail>) {
  return { eventId: e.id, tenant: TENANT, type: 'voicemail.received' as const, event: e as never, attachments: [], pending: [...e.data.recipient.email], messageId: `<${e.id}@${TENANT}>` };
}

async function main(): Promise<void> {
  progress(`accepts: ${EVENTS} events a round, ${CONCURRENCY} handler calls in flight; baseline ${BASELINE_EVENTS} single fsynced inserts; ${ROUNDS} rounds`);
  await viaHandler(2000);
  perEventFsync(200);
  const handler: Awaited<ReturnType<typeof viaHandler>>[] = [];
  const spool: number[] = [];
  const baseline: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    baseline.push(perEventFsync(BASELINE_EVENTS).rate);
    handler.push(await viaHandler(EVENTS));
    spool.push((await spoolOnly(EVENTS)).rate);
    ratios.push(handler[r]!.rate / baseline[r]!);
    progress(`round ${r + 1}: handler ${round(handler[r]!.rate, 0)}/s (${handler[r]!.durableChecked} on disk), spool.enqueue alone ${round(spool[r]!, 0)}/s, one fsynced insert per event ${round(baseline[r]!, 0)}/s`);
  }
  report({
    events: EVENTS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    handler: median(handler.map((h) => h.rate)),
    spoolOnly: median(spool),
    baseline: median(baseline),
    ratio: median(ratios),
    ratios,
    allDurable: handler.every((h) => h.durableChecked === EVENTS),
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
