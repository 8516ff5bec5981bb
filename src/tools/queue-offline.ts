import { CommandError, type QueueSource } from './queue-client';

/** A stopped host's spool, read directly and read-only (list, show, refusals). */
export class OfflineQueueSource {
  static async open(dir: string): Promise<QueueSource> {
    throw new CommandError('CLI_USAGE', `--data ${dir}: reading a stopped host's spool is not available yet`, { field: '--data' });
  }
}
