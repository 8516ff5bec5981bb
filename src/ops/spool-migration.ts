import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginError } from '../errors';
import { connectionStringSecrets, redactConnectionString, Redactor } from '../security';
import { PgSpool, type StoredState } from '../spool';
import { packageRoot } from '../util/package-root';
import { closeStopped, openStopped } from './offline-queue';

/** Messages read from SQLite and copied in one transaction. */
export const MIGRATION_PAGE = 200;
/** The migration's own connections: one for the copies, one spare (and PgSpool's LISTEN). */
const POOL_SIZE = 2;
/** Leases are never taken by a migration; PgSpool wants a value. */
const LEASE_MS = 15_000;

/** spool.postgres.schema's default, from schemas/config.schema.json (the one place defaults live). */
export function defaultPgSchema(): string {
  const schema = JSON.parse(fs.readFileSync(path.join(packageRoot(__dirname), 'schemas/config.schema.json'), 'utf8'));
  return schema.properties.spool.properties.postgres.properties.schema.default as string;
}

export interface SpoolMigrationOptions {
  /** The stopped node's dataDir (spool.db and files/). */
  dataDir: string;
  /** The cluster's database (a secret: only ever reported redacted). */
  connectionString: string;
  /** spool.postgres.schema. */
  schema: string;
}

/** What migrateSpool() did. */
export interface SpoolMigrationSummary {
  from: string;
  /** The connection string, its secrets redacted. */
  to: string;
  schema: string;
  /** Messages copied, by stored state. */
  copied: Record<StoredState, number>;
  /** Messages already in the database (an earlier run, or the same event accepted by the cluster): left as they are. */
  skipped: number;
  /** Attachment copies streamed into the database; `missing`: named by a message, gone from the source spool. */
  attachments: { files: number; bytes: number; missing: number };
  logLines: number;
  /** Refusals and tenants' totals: `copied`, or `skipped` (this spool's were added by an earlier run). */
  totals: 'copied' | 'skipped';
  refusals: number;
  tenants: number;
  /** Wall time of the copy (ms). */
  ms: number;
}

const STATES: readonly StoredState[] = ['queued', 'delivered', 'partial', 'failed', 'discarded'];

/**
 * Moves a stopped node's SQLite spool into the cluster's PostgreSQL spool without losing queued
 * mail: under the dataDir lock (SPOOL_LOCKED while the host runs), spool.db opened read-only and
 * left as it is (the operator keeps it as a backup), every message in every state copied with its
 * fields and delivery log by PgSpool.importMessages, a page (one transaction) at a time,
 * attachments streamed into the database first; then
 * the tenants' totals and the refusals, once. A second run copies only what is missing and counts
 * the rest as skipped. Every error is a coded PluginError (SPOOL_LOCKED, SPOOL_FAILURE) whose
 * message names the database redacted and holds none of the connection string's secrets.
 * @example const s = await migrateSpool({ dataDir: '/var/lib/pbx-email', connectionString: process.env.PBX_NOTIFY_PG_URL!, schema: 'pbx_email_notify' });
 */
export async function migrateSpool(o: SpoolMigrationOptions): Promise<SpoolMigrationSummary> {
  const redactor = new Redactor(connectionStringSecrets(o.connectionString));
  const to = redactConnectionString(o.connectionString);
  const started = performance.now();
  const { spool: source, lock, made } = openStopped(o.dataDir);
  // PgSpool keeps a node's local attachment cache under its dataDir: a scratch one, never the source's.
  let scratch: string | undefined;
  let target: PgSpool | undefined;
  try {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-migrate-spool-'));
    try {
      target = await PgSpool.open({
        connectionString: o.connectionString,
        schema: o.schema,
        poolSize: POOL_SIZE,
        leaseMs: LEASE_MS,
        dataDir: scratch,
        owner: `migrate-spool:${os.hostname()}:${process.pid}`,
      });
    } catch (e) {
      throw coded(e, redactor, `cannot open the PostgreSQL spool at ${to} (schema ${o.schema})`);
    }
    const s: SpoolMigrationSummary = {
      from: o.dataDir,
      to,
      schema: o.schema,
      copied: Object.fromEntries(STATES.map((st) => [st, 0])) as Record<StoredState, number>,
      skipped: 0,
      attachments: { files: 0, bytes: 0, missing: 0 },
      logLines: 0,
      totals: 'copied',
      refusals: 0,
      tenants: 0,
      ms: 0,
    };
    try {
      for (let after = 0; ; ) {
        const page = await source.page(after, MIGRATION_PAGE);
        if (page.length === 0) break;
        const lot = await Promise.all(page.map(async (record) => ({ record, log: await source.log(record.seq) })));
        const done = await target.importMessages(lot);
        done.forEach((r, i) => {
          if (r.outcome === 'skipped') s.skipped++;
          else s.copied[page[i]!.state]++;
          s.attachments.files += r.files;
          s.attachments.bytes += r.bytes;
          s.attachments.missing += r.missing;
          s.logLines += r.logLines;
        });
        after = page[page.length - 1]!.seq;
      }
      const totals = await source.totals();
      const refusals = await source.refusals({ limit: Number.MAX_SAFE_INTEGER });
      s.totals = await target.importTotals(totals, refusals);
      if (s.totals === 'copied') {
        s.refusals = refusals.length;
        s.tenants = totals.length;
      }
    } catch (e) {
      throw coded(e, redactor, `migrating ${o.dataDir} to ${to} (schema ${o.schema})`);
    }
    s.ms = Math.round(performance.now() - started);
    return s;
  } finally {
    await target?.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    closeStopped(source, lock, made);
  }
}

/** A PluginError with the same code (SPOOL_FAILURE for anything else), its message prefixed and masked; no cause (a driver's error may quote the connection string). */
function coded(e: unknown, redactor: Redactor, doing: string): PluginError {
  const code = e instanceof PluginError ? e.code : 'SPOOL_FAILURE';
  const field = e instanceof PluginError ? e.field : undefined;
  return new PluginError(code, redactor.text(`${doing}: ${(e as Error)?.message ?? String(e)}`), { ...(field !== undefined && { field }) });
}
