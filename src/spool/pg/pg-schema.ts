import { PluginError } from '../../errors';
import { ident, type PgDb, type Query } from './pg-db';

/**
 * The PostgreSQL spool's layout inside its own schema (`spool.postgres.schema`), versioned in the
 * table `meta` (key `layout`).
 *
 * - 1: SQLite's layout 3 (messages, delivery_log, refusals, tenant_totals; epoch-ms BIGINTs, JSON as
 *      text) plus what a cluster needs: leases on messages (`lease_owner`, `lease_until` on the
 *      database clock), the shared breaker (`tenant_breakers`) and the attachments themselves
 *      (`attachment_files`, `attachment_chunks` of 256 KiB).
 *
 * A new layout is a new entry at the end of MIGRATIONS. Every node migrates at start under one
 * transaction-scoped advisory lock, so nodes starting together migrate once and the others find
 * the work done.
 */
export const PG_SCHEMA_VERSION = 1;

const LAYOUT_1 = (s: string) => `
CREATE TABLE ${s}.messages (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  event TEXT NOT NULL,
  attachments TEXT NOT NULL,
  files_dir TEXT,
  pending TEXT NOT NULL,
  delivered TEXT NOT NULL DEFAULT '[]',
  failed TEXT NOT NULL DEFAULT '[]',
  state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'partial', 'failed', 'discarded')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  age_from BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_error TEXT,
  last_error_code TEXT,
  message_id TEXT NOT NULL,
  lease_owner TEXT,
  lease_until BIGINT,
  UNIQUE (tenant, event_id)
);
CREATE INDEX messages_due ON ${s}.messages (tenant, next_attempt_at, seq) WHERE state = 'queued';
CREATE INDEX messages_leased ON ${s}.messages (tenant, lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX messages_owner ON ${s}.messages (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX messages_done ON ${s}.messages (state, updated_at) WHERE state <> 'queued';
CREATE INDEX messages_files ON ${s}.messages (files_dir) WHERE files_dir IS NOT NULL;
CREATE INDEX messages_listed ON ${s}.messages (tenant, created_at, seq);
CREATE INDEX messages_age ON ${s}.messages (created_at, seq);
CREATE INDEX messages_depth ON ${s}.messages (tenant, state, attempts, created_at);
CREATE TABLE ${s}.delivery_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_seq BIGINT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('attempt', 'outcome', 'operator')),
  code TEXT,
  detail TEXT,
  attempt TEXT
);
CREATE INDEX delivery_log_message ON ${s}.delivery_log (message_seq, kind, id);
CREATE TABLE ${s}.refusals (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  tenant TEXT,
  event_id TEXT,
  event_type TEXT,
  code TEXT NOT NULL,
  field TEXT,
  message TEXT NOT NULL
);
CREATE INDEX refusals_tenant ON ${s}.refusals (tenant, id);
CREATE INDEX refusals_at ON ${s}.refusals (at);
CREATE TABLE ${s}.tenant_totals (
  tenant TEXT PRIMARY KEY,
  accepted BIGINT NOT NULL DEFAULT 0,
  delivered BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  partial BIGINT NOT NULL DEFAULT 0,
  last_success_at BIGINT,
  last_failure_at BIGINT,
  last_failure_code TEXT,
  last_failure_message TEXT
);
CREATE TABLE ${s}.tenant_breakers (
  tenant TEXT PRIMARY KEY,
  failures INTEGER NOT NULL DEFAULT 0,
  probing BOOLEAN NOT NULL DEFAULT true,
  hold_until BIGINT,
  code TEXT,
  message TEXT
);
CREATE TABLE ${s}.attachment_files (
  files_dir TEXT NOT NULL,
  name TEXT NOT NULL,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (files_dir, name)
);
CREATE INDEX attachment_files_age ON ${s}.attachment_files (created_at);
CREATE TABLE ${s}.attachment_chunks (
  files_dir TEXT NOT NULL,
  name TEXT NOT NULL,
  n INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (files_dir, name, n)
);
${CLAIM_FUNCTION(s)}
`;

/**
 * A claim in one round trip (it is the hot path: every lane refill on every node). Locks the
 * tenant's breaker row, which serialises the tenant's claims across nodes; answers with the hold
 * while the breaker holds the tenant, with how long to wait while the tenant's leases fill its cap
 * (perTenant, or one while half-open), or else leases up to that many due messages, oldest due
 * first, skipping rows another claim has locked. For one lease period after the database
 * (re)started, a lease that ran out while it was down is still its owner's and counts against the
 * cap: a live owner reconnects, renews it and writes the outcome it kept.
 * Rows: leased messages (c_seq set), or one row with c_wait in ms (at least 50, at most a lease;
 * with c_code and c_message for a hold).
 */
const CLAIM_FUNCTION = (s: string) => `
CREATE FUNCTION ${s}.claim_due(p_tenant TEXT, p_owner TEXT, p_lease BIGINT, p_due BIGINT, p_limit INTEGER, p_per_tenant INTEGER, p_exclude BIGINT[])
RETURNS TABLE (c_seq BIGINT, c_due BIGINT, c_attempts INTEGER, c_wait BIGINT, c_code TEXT, c_message TEXT)
LANGUAGE plpgsql AS $claim$
DECLARE
  b RECORD;
  now_ms BIGINT := (extract(epoch from clock_timestamp()) * 1000)::bigint;
  started BIGINT := (extract(epoch from pg_postmaster_start_time()) * 1000)::bigint;
  grace BOOLEAN;
  active INTEGER;
  earliest BIGINT;
  n INTEGER;
  got INTEGER;
BEGIN
  INSERT INTO ${s}.tenant_breakers (tenant) VALUES (p_tenant) ON CONFLICT (tenant) DO NOTHING;
  SELECT tb.probing, tb.hold_until, tb.code, tb.message INTO b FROM ${s}.tenant_breakers tb WHERE tb.tenant = p_tenant FOR UPDATE;
  grace := now_ms - started < p_lease;
  IF b.hold_until IS NOT NULL AND b.hold_until > now_ms THEN
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::integer, b.hold_until - now_ms, COALESCE(b.code, 'UNKNOWN'), COALESCE(b.message, '');
    RETURN;
  END IF;
  SELECT COUNT(*)::integer, MIN(m.lease_until) INTO active, earliest FROM ${s}.messages m
   WHERE m.tenant = p_tenant AND m.state = 'queued' AND m.lease_owner IS NOT NULL AND (m.lease_until > now_ms OR grace);
  n := LEAST(p_limit, (CASE WHEN b.probing THEN 1 ELSE p_per_tenant END) - active);
  IF n <= 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::integer, LEAST(p_lease, GREATEST(50, COALESCE(earliest - now_ms, p_lease))), NULL::text, NULL::text;
    RETURN;
  END IF;
  RETURN QUERY
    WITH c AS (
      UPDATE ${s}.messages m SET lease_owner = p_owner, lease_until = now_ms + p_lease
      WHERE m.seq IN (
        SELECT x.seq FROM ${s}.messages x
        WHERE x.tenant = p_tenant AND x.state = 'queued' AND x.next_attempt_at <= p_due
          AND (x.lease_until IS NULL OR (x.lease_until <= now_ms AND NOT grace)) AND x.seq <> ALL(p_exclude)
        ORDER BY x.next_attempt_at, x.seq LIMIT n FOR UPDATE SKIP LOCKED)
      RETURNING m.seq, m.next_attempt_at, m.attempts)
    SELECT c.seq, c.next_attempt_at, c.attempts, NULL::bigint, NULL::text, NULL::text FROM c ORDER BY c.next_attempt_at, c.seq;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got = 0 AND grace THEN
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::integer, GREATEST(50, started + p_lease - now_ms), NULL::text, NULL::text;
  END IF;
END
$claim$;
`;

/** Each step from version i to i + 1 (the first creates the layout in an empty schema). */
const MIGRATIONS: ((q: Query, s: string) => Promise<unknown>)[] = [
  // 0 → 1
  (q, s) => q(LAYOUT_1(s)),
];

/**
 * Creates the schema and its current layout, or brings an older one forward; returns the version
 * found (0: the schema was empty). Refuses a layout newer than this code knows (SPOOL_FAILURE,
 * naming both versions) and changes nothing then.
 */
export async function migratePg(db: PgDb, schema: string, known = PG_SCHEMA_VERSION): Promise<number> {
  const s = ident(schema);
  return db.tx(`migrating the schema ${schema}`, async (q) => {
    // One key per schema: nodes of another cluster (another schema) in the same database do not wait.
    await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`pbx-email-notify:${schema}`]);
    await q(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await q(`CREATE TABLE IF NOT EXISTS ${s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = (await q<{ value: string }>(`SELECT value FROM ${s}.meta WHERE key = 'layout'`)).rows[0];
    const found = row === undefined ? 0 : Number(row.value);
    if (!Number.isInteger(found) || found > known) {
      throw new PluginError(
        'SPOOL_FAILURE',
        `the PostgreSQL spool schema ${schema} has layout ${row?.value}, written by a newer version of the plugin; this version knows layouts up to ${known}. Run the newer version on every node`,
      );
    }
    for (let v = found; v < known; v++) await MIGRATIONS[v]!(q, s);
    await q(`INSERT INTO ${s}.meta (key, value) VALUES ('layout', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [String(known)]);
    return found;
  });
}
