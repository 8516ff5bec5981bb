export {
  MESSAGE_STATES,
  type AttemptRecord,
  type CodedReason,
  type LogEntry,
  type MessageDetail,
  type MessagesQuery,
  type MessageState,
  type MessageSummary,
  type OpsApi,
  type OpsStatus,
  type RefusalRecord,
  type TenantOpsStatus,
  type TestSendResult,
} from './types';
export { Operations, DISCARDED_REASON, type OperationsDeps } from './operations';
export { opsState } from './queue-view';
export { OfflineQueue } from './offline-queue';
export { QueueReader } from './operations';
export { migrateSpool, defaultPgSchema, MIGRATION_PAGE, type SpoolMigrationOptions, type SpoolMigrationSummary } from './spool-migration';
