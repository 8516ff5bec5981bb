import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PluginError } from '../errors';

/**
 * The exclusive claim of one plugin instance on its dataDir: `dataDir/lock`, a tiny SQLite
 * database held in `locking_mode=EXCLUSIVE` after a write. SQLite keeps a POSIX write lock on it
 * until the connection closes, which the kernel drops when the process dies (kill -9 included),
 * and SQLite also refuses a second connection to the same file inside one process (POSIX locks
 * alone would not: they are per process). Node has no flock; this needs nothing native beyond
 * better-sqlite3, which the spool uses anyway.
 */
export class DataDirLock {
  readonly file: string;
  #db: Database.Database | undefined;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.#db = db;
  }

  /** Takes the lock at once or rejects with SPOOL_LOCKED naming the directory; never waits. */
  static acquire(dataDir: string): DataDirLock {
    const file = path.join(dataDir, 'lock');
    let db: Database.Database | undefined;
    try {
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      fs.chmodSync(file, 0o600);
      db = new Database(file, { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = MEMORY'); // no lock-journal file beside it
      db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since TEXT NOT NULL)');
      // The write is what takes the exclusive lock; it is then held until close().
      db.prepare('INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)').run(process.pid, new Date().toISOString());
      return new DataDirLock(file, db);
    } catch (e) {
      db?.close();
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new PluginError('SPOOL_LOCKED', `dataDir ${dataDir} is in use by another live instance of the plugin (this process or another holds ${file}); give each instance its own dataDir, or stop the other one`, { cause: e });
      }
      throw new PluginError('SPOOL_FAILURE', `cannot take the lock ${file}: ${code ?? 'error'}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Releases the lock. Idempotent. */
  release(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
