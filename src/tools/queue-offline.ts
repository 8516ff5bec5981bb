import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MessageDetail, MessagesQuery, MessageSummary, OpsStatus, RefusalRecord, TestSendResult } from '../ops';
import { Operations, type OperationsDeps } from '../ops/operations';
import { DataDirLock, SqliteSpool } from '../spool';
import { CommandError, type QueueSource } from './queue-client';

const SPOOL_FILES = ['spool.db', 'spool.db-wal'];

/**
 * A stopped host's spool, read without changing it: under the dataDir lock (so no host starts
 * meanwhile, and none is running: SPOOL_LOCKED otherwise), `spool.db` and its WAL, if a crash
 * left one, are copied into a private temporary directory; the lock is released at once and the
 * copy is read through the plugin's own operations (the same validation, states and shapes as
 * the HTTP API). Nothing in the data directory is written but its lock file's holder row.
 */
export class OfflineQueueSource implements QueueSource {
  readonly where: string;
  readonly #tmp: string;
  readonly #spool: SqliteSpool;
  readonly #ops: Operations;

  private constructor(dir: string, tmp: string, spool: SqliteSpool) {
    this.where = dir;
    this.#tmp = tmp;
    this.#spool = spool;
    // A stopped host has no scheduler: nothing is in flight. Only the read methods (messages,
    // message, refusals), which use nothing else, are ever called on this instance.
    const idle = { inFlight: () => new Set<number>() };
    this.#ops = new Operations({ spool, scheduler: idle } as unknown as OperationsDeps);
  }

  static async open(dir: string): Promise<QueueSource> {
    const data = path.resolve(dir);
    if (!fs.existsSync(path.join(data, 'spool.db'))) throw new CommandError('CLI_USAGE', `--data ${dir}: no spool.db there; expected the host's data directory (its --data)`, { field: '--data' });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-queue-'));
    try {
      const lock = DataDirLock.acquire(data);
      try {
        for (const f of SPOOL_FILES) {
          if (fs.existsSync(path.join(data, f))) fs.copyFileSync(path.join(data, f), path.join(tmp, f));
        }
      } finally {
        lock.release();
      }
      return new OfflineQueueSource(data, tmp, new SqliteSpool(tmp));
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if ((e as { code?: string }).code === 'SPOOL_LOCKED') {
        throw new CommandError('SPOOL_LOCKED', `${(e as Error).message}; the host is running: ask it with --url instead of --data`, { field: '--data' });
      }
      throw e;
    }
  }

  messages(q: MessagesQuery): Promise<MessageSummary[]> {
    return this.#ops.messages(q);
  }

  async message(tenant: string, eventId: string): Promise<MessageDetail> {
    const m = await this.#ops.message(eventId, tenant);
    if (!m) throw new CommandError('MESSAGE_NOT_FOUND', `no message ${JSON.stringify(eventId)} of tenant ${JSON.stringify(tenant)} in the spool at ${this.where} (never accepted, or purged after its retention)`, { field: 'eventId' });
    return m;
  }

  refusals(q: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    return this.#ops.refusals(q);
  }

  status(): Promise<OpsStatus> {
    return Promise.reject(new CommandError('CLI_USAGE', 'status needs the running host (--url): holds and sessions live in it, not in the spool', { field: '--data' }));
  }

  retry(): Promise<MessageSummary> {
    return this.#readOnly('retry');
  }

  discard(): Promise<MessageSummary> {
    return this.#readOnly('discard');
  }

  flush(): Promise<{ tenant: string; retried: number }> {
    return this.#readOnly('flush');
  }

  retryFailed(): Promise<{ tenant: string; retried: number }> {
    return this.#readOnly('retry-failed');
  }

  testSend(): Promise<TestSendResult> {
    return this.#readOnly('test');
  }

  async close(): Promise<void> {
    try {
      await this.#spool.close();
    } finally {
      fs.rmSync(this.#tmp, { recursive: true, force: true });
    }
  }

  #readOnly(op: string): Promise<never> {
    return Promise.reject(new CommandError('CLI_USAGE', `${op} changes the queue: it needs the running host (--url)`, { field: '--data' }));
  }
}
