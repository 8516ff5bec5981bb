import { OfflineQueue, type MessageDetail, type MessagesQuery, type MessageSummary, type OpsStatus, type RefusalRecord, type TestSendResult } from '../ops';
import { CommandError, type QueueSource } from './queue-client';

/**
 * A stopped host's spool for the read-only commands (`--data DIR`): the plugin's OfflineQueue,
 * which holds the dataDir lock while open (a running host: SPOOL_LOCKED, ask it with --url) and
 * only reads spool.db.
 */
export class OfflineQueueSource implements QueueSource {
  readonly where: string;
  readonly #q: OfflineQueue;

  private constructor(dir: string, q: OfflineQueue) {
    this.where = dir;
    this.#q = q;
  }

  static async open(dir: string): Promise<QueueSource> {
    try {
      return new OfflineQueueSource(dir, OfflineQueue.open(dir));
    } catch (e) {
      if ((e as { code?: string }).code === 'SPOOL_LOCKED') throw new CommandError('SPOOL_LOCKED', `${(e as Error).message}; the host is running: ask it with --url instead of --data`, { field: '--data' });
      throw e;
    }
  }

  messages(q: MessagesQuery): Promise<MessageSummary[]> {
    return this.#q.messages(q);
  }

  async message(tenant: string, eventId: string): Promise<MessageDetail> {
    const m = await this.#q.message(eventId, tenant);
    if (!m) throw new CommandError('MESSAGE_NOT_FOUND', `no message ${JSON.stringify(eventId)} of tenant ${JSON.stringify(tenant)} in the spool at ${this.where} (never accepted, or purged after its retention)`, { field: 'eventId' });
    return m;
  }

  refusals(q: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    return this.#q.refusals(q);
  }

  async status(): Promise<OpsStatus> {
    return this.#q.status();
  }

  retry(): Promise<MessageSummary> {
    return readOnly('retry');
  }

  discard(): Promise<MessageSummary> {
    return readOnly('discard');
  }

  flush(): Promise<{ tenant: string; retried: number }> {
    return readOnly('flush');
  }

  retryFailed(): Promise<{ tenant: string; retried: number }> {
    return readOnly('retry-failed');
  }

  testSend(): Promise<TestSendResult> {
    return readOnly('test');
  }

  async close(): Promise<void> {
    this.#q.close();
  }
}

function readOnly(op: string): Promise<never> {
  return Promise.reject(new CommandError('CLI_USAGE', `${op} changes the queue: it needs the running host (--url)`, { field: '--data' }));
}
