export type { AttachmentStore, AttemptOutcome, AttemptWrite, MessageState, NewRecord, Spool, SpoolRecord, StoredAttachment, TenantDue } from './spool';
export { SqliteSpool } from './sqlite-spool';
export { FileStore, syncDir } from './file-store';
export { DataDirLock } from './data-dir-lock';
export { SCHEMA_VERSION } from './schema';
export { isCorruption, storageError, storageErrorCode } from './storage-error';
export type { SpoolObserver, StateStats } from './observer';
