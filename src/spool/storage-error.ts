import { isPluginError, PluginError } from '../errors';

/** SQLite result codes that mean the file itself is damaged (better-sqlite3 puts them in `code`). */
const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** Socket errors of a database server that went away or cannot be reached. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** PostgreSQL SQLSTATEs of a server shutting down or refusing connections (class 08 is matched by prefix). */
const PG_GONE = new Set(['57P01', '57P02', '57P03', '53300']);

/** What pg says, without a code, about a connection that ended under it. */
const PG_LOST = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect/i;

/** True for an error saying the spool database is damaged. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (CORRUPT.has(code) || code.startsWith('SQLITE_CORRUPT'));
}

/** True for an error saying the connection to a database server is lost or cannot be made (PostgreSQL: network, shutdown, class 08). */
export function isConnectionLoss(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (NETWORK.has(code) || PG_GONE.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (e instanceof AggregateError) return e.errors.some(isConnectionLoss);
  return e instanceof Error && PG_LOST.test(e.message);
}

/** An error's text: an AggregateError (a refused connection to every address of `localhost`) has none of its own. */
function describe(e: unknown): string {
  const msg = (e as Error | undefined)?.message;
  if (msg) return msg;
  if (e instanceof AggregateError) return e.errors.map((x: unknown) => (x as Error).message).join('; ');
  return String(e);
}

/**
 * Any error from the storage layer as a coded PluginError: SPOOL_CORRUPT for a damaged database,
 * SPOOL_FAILURE for everything else (disk full, I/O error, too many open files, a lost or refused
 * database connection, ...), the original in `cause`. A PluginError passes through unchanged.
 */
export function storageError(e: unknown, doing: string, spoolFile?: string): PluginError {
  if (isPluginError(e)) return e;
  const detail = `${(e as { code?: string } | undefined)?.code ?? 'error'}: ${describe(e)}`;
  if (isCorruption(e)) {
    return new PluginError('SPOOL_CORRUPT', `${doing}: the spool database${spoolFile ? ` ${spoolFile}` : ''} is damaged (${detail}); stop the host, move spool.db aside or restore dataDir from a backup (README, "A corrupt spool")`, { cause: e });
  }
  if (isConnectionLoss(e)) {
    return new PluginError('SPOOL_FAILURE', `${doing}: the spool database connection is lost or refused (${detail})`, { cause: e });
  }
  return new PluginError('SPOOL_FAILURE', `${doing}: ${detail}`, { cause: e });
}

/** The underlying error code of a storage error (SQLITE_FULL, SQLITE_IOERR, ENOSPC, EIO, a SQLSTATE, ...), looking through a PluginError to its cause. */
export function storageErrorCode(e: unknown): string {
  const cause = isPluginError(e) && e.cause !== undefined ? e.cause : e;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return isConnectionLoss(cause) ? 'CONNECTION_LOST' : 'unknown';
}
