export type { AttachmentStore, AttemptOutcome, AttemptWrite, Claim, ClaimRequest, HealthReport, ListQuery, LogLimits, NewRecord, Spool, SpoolRecord, StoredAttachment, StoredAttempt, StoredLogEntry, StoredRefusal, StoredState, TenantDepth, TenantDue, TenantTotals } from './spool';
export { SqliteSpool } from './sqlite-spool';
export { FileStore, syncDir } from './file-store';
export { DataDirLock } from './data-dir-lock';
export { SCHEMA_VERSION } from './schema';
export { isConnectionLoss, isCorruption, storageError, storageErrorCode } from './storage-error';
export { leadingCode } from './schema';
export type { SpoolObserver, StateStats } from './observer';
export { PgSpool, PG_SCHEMA_VERSION, type ImportedMessage, type PgSpoolOptions } from './pg';
