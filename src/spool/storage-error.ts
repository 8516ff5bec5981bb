import { isPluginError, PluginError } from '../errors';

/** SQLite result codes that mean the file itself is damaged (better-sqlite3 puts them in `code`). */
const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** True for an error saying the spool database is damaged. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (CORRUPT.has(code) || code.startsWith('SQLITE_CORRUPT'));
}

/**
 * Any error from the storage layer as a coded PluginError: SPOOL_CORRUPT for a damaged database,
 * SPOOL_FAILURE for everything else (disk full, I/O error, too many open files, ...). A PluginError
 * passes through unchanged.
 */
export function storageError(e: unknown, doing: string, spoolFile?: string): PluginError {
  if (isPluginError(e)) return e;
  const detail = `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`;
  if (isCorruption(e)) {
    return new PluginError('SPOOL_CORRUPT', `${doing}: the spool database${spoolFile ? ` ${spoolFile}` : ''} is damaged (${detail}); stop the host, move spool.db aside or restore dataDir from a backup (README, "A corrupt spool")`, { cause: e });
  }
  return new PluginError('SPOOL_FAILURE', `${doing}: ${detail}`, { cause: e });
}

/** The underlying error code of a storage error (SQLITE_FULL, SQLITE_IOERR, ENOSPC, EIO, ...), looking through a PluginError to its cause. */
export function storageErrorCode(e: unknown): string {
  const cause = isPluginError(e) && e.cause !== undefined ? e.cause : e;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
