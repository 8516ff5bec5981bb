import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StoredAttachment } from './spool';

const COPY_CHUNK = 256 * 1024;

/** fsync a directory so a rename or create inside it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const h = await fs.promises.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Attachment copies, one directory per accepted event, under `<dataDir>/files`. A copy is
 * written to a temporary name, synced, renamed and its directory synced, so a crash leaves either
 * nothing or the whole file; directories no queued record names are swept at start-up.
 */
export class FileStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    fs.chmodSync(root, 0o700);
  }

  async createDir(eventId: string): Promise<string> {
    const key = crypto.createHash('sha256').update(eventId).digest('hex').slice(0, 24);
    const dir = path.join(this.root, `${key}-${crypto.randomBytes(4).toString('hex')}`);
    await fs.promises.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Streams `from` (an open descriptor) into `dir/name` and makes it durable. */
  async copyIn(from: fs.promises.FileHandle, dir: string, name: string): Promise<string> {
    const dest = path.join(dir, name);
    const tmp = `${dest}.part`;
    const out = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await out.chmod(0o600); // recordings and faxes are private, whatever the umask
      const buf = Buffer.allocUnsafe(COPY_CHUNK);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await from.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        // A write may be short (a nearly full disk writes what fits and reports no error): write
        // the rest until it lands or the kernel says why not (ENOSPC), never keep a truncated copy.
        for (let done = 0; done < bytesRead; ) {
          const { bytesWritten } = await out.write(buf, done, bytesRead - done, pos + done);
          if (bytesWritten === 0) throw Object.assign(new Error(`no progress writing ${tmp}`), { code: 'EIO' });
          done += bytesWritten;
        }
        pos += bytesRead;
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.promises.rename(tmp, dest);
    await syncDir(dir);
    await syncDir(this.root);
    return dest;
  }

  /** The copies are local already. */
  async materialise(_attachments: readonly StoredAttachment[]): Promise<void> {}

  async remove(dir: string): Promise<void> {
    if (path.dirname(dir) !== this.root) return;
    await fs.promises.rm(dir, { recursive: true, force: true });
  }

  /** Removes every directory not in `keep` (crash leftovers). */
  async sweep(keep: ReadonlySet<string>): Promise<number> {
    let n = 0;
    for (const name of await fs.promises.readdir(this.root)) {
      const dir = path.join(this.root, name);
      if (!keep.has(dir)) {
        await fs.promises.rm(dir, { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }
}
