import * as path from 'node:path';
import type Database from 'better-sqlite3';
import { PluginError } from '../errors';

/**
 * The spool's on-disk layout, versioned with `PRAGMA user_version`.
 *
 * - 0: the first layout (no user_version). Attachment paths absolute; `event_id` unique alone.
 * - 1: attachment paths and `files_dir` relative to dataDir (a moved or restored dataDir keeps
 *      its files); the unique key is (tenant, event_id).
 * - 2: the delivery log. Messages gain the states `partial` (delivered to some recipients, failed
 *      for the others; layout 1 stored those as `delivered`) and `discarded`, `age_from` (what
 *      maxAgeMs counts from: the accept, or an operator's retry) and `last_error_code`; new tables
 *      `delivery_log` (attempts, outcomes, operations per message), `refusals` and
 *      `tenant_totals` (counts and last success/failure that outlive retention).
 * - 3: a covering index for the per-tenant depth of status() (a scan of the index instead of
 *      every row with its event: 100,000 messages in 11 ms instead of 150 ms).
 *
 * A new layout is a new entry at the end of MIGRATIONS; a spool is brought forward one step at a
 * time, each step in its own transaction together with its user_version.
 */
export const SCHEMA_VERSION = 3;

const MESSAGES_V1 = `
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  event TEXT NOT NULL,
  attachments TEXT NOT NULL,
  files_dir TEXT,
  pending TEXT NOT NULL,
  delivered TEXT NOT NULL DEFAULT '[]',
  failed TEXT NOT NULL DEFAULT '[]',
  state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_error TEXT,
  message_id TEXT NOT NULL,
  UNIQUE (tenant, event_id)
);
CREATE INDEX messages_due ON messages (tenant, next_attempt_at, seq) WHERE state = 'queued';
CREATE INDEX messages_done ON messages (state, updated_at) WHERE state != 'queued';
CREATE INDEX messages_files ON messages (files_dir) WHERE files_dir IS NOT NULL;
`;

const MESSAGES_V2 = `
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY,
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
  created_at INTEGER NOT NULL,
  age_from INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_error TEXT,
  last_error_code TEXT,
  message_id TEXT NOT NULL,
  UNIQUE (tenant, event_id)
);
CREATE INDEX messages_due ON messages (tenant, next_attempt_at, seq) WHERE state = 'queued';
CREATE INDEX messages_done ON messages (state, updated_at) WHERE state != 'queued';
CREATE INDEX messages_files ON messages (files_dir) WHERE files_dir IS NOT NULL;
CREATE INDEX messages_listed ON messages (tenant, created_at, seq);
CREATE INDEX messages_age ON messages (created_at, seq);
CREATE TABLE delivery_log (
  id INTEGER PRIMARY KEY,
  message_seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('attempt', 'outcome', 'operator')),
  code TEXT,
  detail TEXT,
  attempt TEXT
);
CREATE INDEX delivery_log_message ON delivery_log (message_seq, kind, id);
CREATE TABLE refusals (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  tenant TEXT,
  event_id TEXT,
  event_type TEXT,
  code TEXT NOT NULL,
  field TEXT,
  message TEXT NOT NULL
);
CREATE INDEX refusals_tenant ON refusals (tenant, id);
CREATE TABLE tenant_totals (
  tenant TEXT PRIMARY KEY,
  accepted INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  partial INTEGER NOT NULL DEFAULT 0,
  last_success_at INTEGER,
  last_failure_at INTEGER,
  last_failure_code TEXT,
  last_failure_message TEXT
);
`;

/** The code a layout-1 `last_error` starts with (after an `address: ` prefix for a recipient's error). */
export function leadingCode(reason: string | null): string | null {
  return reason === null ? null : (/^(?:[^\s:]+@[^\s:]+: )?([A-Z][A-Z0-9_]+[A-Z0-9])\b/.exec(reason)?.[1] ?? null);
}

/** Version 0 stored `<old dataDir>/files/<dir>/<name>`; whatever the old dataDir was, the last two parts locate the copy. */
function relativeFromV0(abs: string, parts: 1 | 2): string {
  const tail = parts === 1 ? [path.basename(abs)] : [path.basename(path.dirname(abs)), path.basename(abs)];
  return ['files', ...tail].join('/');
}

interface V0Row {
  seq: number;
  attachments: string;
  files_dir: string | null;
}

const DEPTH_INDEX = 'CREATE INDEX messages_depth ON messages (tenant, state, attempts, created_at);';

const MIGRATIONS: ((db: Database.Database) => void)[] = [
  // 0 → 1
  (db) => {
    db.exec('ALTER TABLE messages RENAME TO messages_v0; DROP INDEX IF EXISTS messages_due; DROP INDEX IF EXISTS messages_done; DROP INDEX IF EXISTS messages_files;');
    db.exec(MESSAGES_V1);
    db.exec(`INSERT INTO messages (seq, event_id, tenant, type, event, attachments, files_dir, pending, delivered, failed, state, attempts, created_at, next_attempt_at, updated_at, last_error, message_id)
             SELECT seq, event_id, tenant, type, event, attachments, files_dir, pending, delivered, failed, state, attempts, created_at, next_attempt_at, updated_at, last_error, message_id FROM messages_v0`);
    const fix = db.prepare('UPDATE messages SET attachments = ?, files_dir = ? WHERE seq = ?');
    for (const r of db.prepare("SELECT seq, attachments, files_dir FROM messages WHERE attachments != '[]' OR files_dir IS NOT NULL").all() as V0Row[]) {
      const atts = (JSON.parse(r.attachments) as { path: string }[]).map((a) => ({ ...a, path: relativeFromV0(a.path, 2) }));
      fix.run(JSON.stringify(atts), r.files_dir === null ? null : relativeFromV0(r.files_dir, 1), r.seq);
    }
    db.exec('DROP TABLE messages_v0');
  },
  // 1 → 2
  (db) => {
    db.exec('ALTER TABLE messages RENAME TO messages_v1; DROP INDEX IF EXISTS messages_due; DROP INDEX IF EXISTS messages_done; DROP INDEX IF EXISTS messages_files;');
    db.exec(MESSAGES_V2);
    db.exec(`INSERT INTO messages (seq, event_id, tenant, type, event, attachments, files_dir, pending, delivered, failed, state, attempts, created_at, age_from, next_attempt_at, updated_at, last_error, message_id)
             SELECT seq, event_id, tenant, type, event, attachments, files_dir, pending, delivered, failed,
                    CASE WHEN state = 'delivered' AND failed != '[]' THEN 'partial' ELSE state END,
                    attempts, created_at, created_at, next_attempt_at, updated_at, last_error, message_id FROM messages_v1`);
    db.exec('DROP TABLE messages_v1');
    const code = db.prepare('UPDATE messages SET last_error_code = ? WHERE seq = ?');
    for (const r of db.prepare('SELECT seq, last_error FROM messages WHERE last_error IS NOT NULL').all() as { seq: number; last_error: string }[]) code.run(leadingCode(r.last_error), r.seq);
    db.exec(`INSERT INTO tenant_totals (tenant, accepted, delivered, failed, partial, last_success_at)
             SELECT tenant, COUNT(*), SUM(state = 'delivered'), SUM(state = 'failed'), SUM(state = 'partial'),
                    MAX(CASE WHEN state IN ('delivered', 'partial') THEN updated_at END)
             FROM messages GROUP BY tenant`);
  },
  // 2 → 3
  (db) => db.exec(DEPTH_INDEX),
];

/** Creates the current layout in an empty database, or brings an older one forward; returns the version found. */
export function migrate(db: Database.Database, file: string): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) {
    throw new PluginError('SPOOL_FAILURE', `${file} has spool layout ${found}, written by a newer version of the plugin; this version reads layouts up to ${SCHEMA_VERSION}. Run the newer version, or restore the dataDir backup made before the upgrade`);
  }
  const empty = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").get() === undefined;
  if (empty) {
    db.transaction(() => {
      db.exec(MESSAGES_V2);
      db.exec(DEPTH_INDEX);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    return SCHEMA_VERSION;
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return found;
}
