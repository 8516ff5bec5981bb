import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AttachmentStore, StoredAttachment } from '../spool';
import { syncDir } from '../file-store';
import { storageError } from '../storage-error';
import type { PgDb, Query } from './pg-db';

/** The size of a stored chunk, and of a read from the file being copied in. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks fetched per query when a copy is streamed out (4 MiB at most in memory). */
const CHUNKS_PER_READ = 16;

/** Fills `buf` from `h` at `pos` unless the file ends first; returns how many bytes came. */
async function readFull(h: fs.promises.FileHandle, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await h.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/**
 * Attachments stored in PostgreSQL, so that any node can deliver any message: each copy is a row
 * of `attachment_files` and its 256 KiB chunks in `attachment_chunks`, keyed by the event's
 * directory name (`files_dir`) and the copy's name. A node works on local copies under
 * `<dataDir>/files/<files_dir>/<name>`, made by materialise() when a delivery needs them; that
 * directory is a cache, emptied at start (sweepOrphans).
 */
export class PgFiles implements AttachmentStore {
  /** `<dataDir>/files`: this node's cache. */
  readonly root: string;
  readonly #db: PgDb;
  readonly #s: string;

  /** `s`: the quoted schema. */
  constructor(db: PgDb, s: string, dataDir: string) {
    this.#db = db;
    this.#s = s;
    this.root = path.join(dataDir, 'files');
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.root, 0o700);
  }

  /** The stored key of a directory handed out by createDir (its last component), or undefined for a path that is not one. */
  #key(dir: string): string | undefined {
    return path.dirname(dir) === this.root ? path.basename(dir) : undefined;
  }

  /** A path under this node's cache; the directory itself is made when a copy is materialised. */
  async createDir(eventId: string): Promise<string> {
    const key = crypto.createHash('sha256').update(eventId).digest('hex').slice(0, 24);
    return path.join(this.root, `${key}-${crypto.randomBytes(4).toString('hex')}`);
  }

  /**
   * Streams `from` into the database in 256 KiB chunks, one INSERT per chunk, never the whole file
   * in memory; every chunk and the file's row in one transaction, so a crash leaves all or none.
   */
  async copyIn(from: fs.promises.FileHandle, dir: string, name: string): Promise<string> {
    const key = this.#key(dir);
    if (key === undefined || name.includes('/') || name.includes(path.sep)) throw storageError(new Error(`${dir}/${name} is not a spool attachment path`), 'spool: storing an attachment');
    await this.#db.tx('storing an attachment', async (q) => {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      let size = 0;
      for (let n = 0; ; n++) {
        const got = await readFull(from, buf, size);
        if (got === 0) break;
        // The buffer is reused: the INSERT has been sent (awaited) before the next read fills it.
        await q(`INSERT INTO ${this.#s}.attachment_chunks (files_dir, name, n, data) VALUES ($1, $2, $3, $4)`, [key, name, n, buf.subarray(0, got)]);
        size += got;
        if (got < buf.length) break;
      }
      await q(`INSERT INTO ${this.#s}.attachment_files (files_dir, name, size, created_at) VALUES ($1, $2, $3, $4)`, [key, name, size, Date.now()]);
    });
    return path.join(dir, name);
  }

  /**
   * Deletes a directory made by createDir: this node's local copies, and the stored ones unless a
   * message names them. Those go with their message at purge: the courier removes a delivered
   * message's copies here, another node may still be sending it (its lease ran out), and an accept
   * whose COMMIT went through unacknowledged is removed by the intake although it is queued.
   */
  async remove(dir: string): Promise<void> {
    const key = this.#key(dir);
    if (key === undefined) return;
    await fs.promises.rm(dir, { recursive: true, force: true });
    await this.#db.tx('deleting attachments', async (q) => {
      const owned = await q(`SELECT 1 FROM ${this.#s}.messages WHERE files_dir = $1 LIMIT 1`, [`files/${key}`]);
      if (owned.rows.length === 0) await this.forget(q, [key]);
    });
  }

  /** Deletes the stored copies of these directories (keys), in the caller's transaction. */
  async forget(q: Query, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await q(`DELETE FROM ${this.#s}.attachment_chunks WHERE files_dir = ANY($1::text[])`, [keys]);
    await q(`DELETE FROM ${this.#s}.attachment_files WHERE files_dir = ANY($1::text[])`, [keys]);
  }

  /** Streams every copy missing here out of the database into `<path>.part`, fsyncs and renames it; a copy stored nowhere stays missing. */
  async materialise(attachments: readonly StoredAttachment[]): Promise<void> {
    for (const a of attachments) {
      const key = this.#key(path.dirname(a.path));
      if (key === undefined) continue;
      try {
        await fs.promises.access(a.path);
        continue;
      } catch {
        // Not here yet: fetched below.
      }
      await this.#fetch(key, path.basename(a.path), a.path);
    }
  }

  async #fetch(key: string, name: string, dest: string): Promise<void> {
    await this.#db.withClient('reading an attachment', async (q) => {
      const file = (await q<{ size: number }>(`SELECT size FROM ${this.#s}.attachment_files WHERE files_dir = $1 AND name = $2`, [key, name])).rows[0];
      if (!file) return;
      const dir = path.dirname(dest);
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${dest}.part`;
      const out = await fs.promises.open(tmp, 'w', 0o600);
      let written = 0;
      try {
        await out.chmod(0o600);
        for (let next = 0; ; ) {
          const rows = (
            await q<{ n: number; data: Buffer }>(`SELECT n, data FROM ${this.#s}.attachment_chunks WHERE files_dir = $1 AND name = $2 AND n >= $3 ORDER BY n LIMIT $4`, [
              key,
              name,
              next,
              CHUNKS_PER_READ,
            ])
          ).rows;
          for (const r of rows) {
            await out.write(r.data, 0, r.data.length, written);
            written += r.data.length;
            next = r.n + 1;
          }
          if (rows.length < CHUNKS_PER_READ) break;
        }
        await out.sync();
      } finally {
        await out.close();
      }
      // Purged under us (or half-deleted): no copy rather than a truncated one.
      if (written !== file.size) {
        await fs.promises.rm(tmp, { force: true });
        return;
      }
      await fs.promises.rename(tmp, dest);
      await syncDir(dir);
    });
  }

  /** Empties this node's cache; returns how many directories went. */
  async sweepLocal(): Promise<number> {
    let n = 0;
    for (const name of await fs.promises.readdir(this.root)) {
      await fs.promises.rm(path.join(this.root, name), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  /** Deletes stored copies no message names that are older than `before` (younger ones may be an accept in progress on another node); returns how many directories. */
  async sweepStored(before: number): Promise<number> {
    return this.#db.tx('sweeping orphaned attachments', async (q) => {
      const keys = (
        await q<{ files_dir: string }>(
          `SELECT DISTINCT f.files_dir FROM ${this.#s}.attachment_files f
           WHERE f.created_at < $1 AND NOT EXISTS (SELECT 1 FROM ${this.#s}.messages m WHERE m.files_dir = 'files/' || f.files_dir)`,
          [before],
        )
      ).rows.map((r) => r.files_dir);
      await this.forget(q, keys);
      return keys.length;
    });
  }
}
