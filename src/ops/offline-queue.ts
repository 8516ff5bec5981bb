import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../errors';
import { DataDirLock, SqliteSpool } from '../spool';
import { QueueReader } from './operations';
import type { MessageDetail, MessagesQuery, MessageSummary, OpsStatus, RefusalRecord } from './types';

/**
 * A host's spool read directly and read-only, for the queue CLI's `--data DIR` on a stopped host:
 * the read operations of OpsApi and status(), with nothing in flight and no breaker state (a
 * stopped host has neither). It holds the dataDir lock while open, so a running host is refused
 * (SPOOL_LOCKED: ask it over HTTP instead) and none can start meanwhile; spool.db is only read,
 * and the SQLite sidecar files a reader needs (`-wal`, `-shm`) are removed at close() when it
 * made them. A missing spool, or one of another layout, is SPOOL_FAILURE.
 * @example const q = OfflineQueue.open('/var/lib/pbx-email'); try { console.log(await q.messages({ state: 'failed' })); } finally { q.close(); }
 */
export class OfflineQueue {
  readonly #spool: SqliteSpool;
  readonly #lock: DataDirLock;
  readonly #made: string[];
  readonly #reader: QueueReader;

  private constructor(spool: SqliteSpool, lock: DataDirLock, made: string[]) {
    this.#spool = spool;
    this.#lock = lock;
    this.#made = made;
    this.#reader = new QueueReader(spool);
  }

  static open(dataDir: string): OfflineQueue {
    const { spool, lock, made } = openStopped(dataDir);
    return new OfflineQueue(spool, lock, made);
  }

  messages(q?: MessagesQuery): Promise<MessageSummary[]> {
    return this.#reader.messages(q);
  }

  message(eventId: string, tenant: string): Promise<MessageDetail | undefined> {
    return this.#reader.message(eventId, tenant);
  }

  refusals(q?: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    return this.#reader.refusals(q);
  }

  /** Per tenant depth, oldest age, last success and failure, totals: every tenant the spool knows (the configuration is not read). */
  status(): Promise<OpsStatus> {
    return this.#reader.status([]);
  }

  close(): void {
    closeStopped(this.#spool, this.#lock, this.#made);
  }
}

/**
 * A stopped host's spool opened read-only under its dataDir lock (SPOOL_LOCKED while the host
 * runs), with the sidecar files the read-only connection made; give all three to closeStopped().
 * A dataDir without spool.db, or one of another layout, is SPOOL_FAILURE.
 */
export function openStopped(dataDir: string): { spool: SqliteSpool; lock: DataDirLock; made: string[] } {
  const file = path.join(dataDir, 'spool.db');
  if (!fs.existsSync(file)) throw new PluginError('SPOOL_FAILURE', `${dataDir} holds no spool (no spool.db): not a plugin dataDir, or nothing was ever accepted there`, { field: '--data' });
  const lock = DataDirLock.acquire(dataDir);
  const made = [`${file}-wal`, `${file}-shm`].filter((f) => !fs.existsSync(f));
  try {
    return { spool: SqliteSpool.openReadOnly(dataDir), lock, made };
  } catch (e) {
    removeEmpty(made);
    lock.release();
    throw e;
  }
}

/** Closes what openStopped() opened, removing the sidecars it made, and releases the lock. */
export function closeStopped(spool: SqliteSpool, lock: DataDirLock, made: string[]): void {
  void spool.close();
  removeEmpty(made);
  lock.release();
}

/** Removes the sidecars a read-only connection created, as long as the WAL holds nothing (it cannot: nobody wrote). */
function removeEmpty(files: string[]): void {
  const wal = files.find((f) => f.endsWith('-wal'));
  if (wal && fs.existsSync(wal) && fs.statSync(wal).size > 0) return;
  for (const f of files) fs.rmSync(f, { force: true });
}
