import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../errors';

/** An opened attachment that was proven to live inside attachmentRoots. The caller closes it. */
export interface ConfinedFile {
  handle: fs.promises.FileHandle;
  realPath: string;
  size: number;
}

/**
 * Opens a PBX file and proves, on the opened descriptor itself, that it is a regular file inside
 * one of the roots. Checking the descriptor rather than the path closes the race in which a file
 * is swapped for a symlink between the check and the copy; O_NONBLOCK keeps a FIFO from hanging
 * the open. Rejects with ATTACHMENT_FORBIDDEN or ATTACHMENT_NOT_FOUND naming `field`.
 */
export async function openConfined(file: string, roots: readonly string[], field: string): Promise<ConfinedFile> {
  const realRoots = await Promise.all(roots.map((r) => fs.promises.realpath(r).catch(() => undefined)));
  let handle: fs.promises.FileHandle;
  try {
    const { O_RDONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;
    handle = await fs.promises.open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Outside the roots, a failed open is FORBIDDEN too: whether a file exists there is not for the event to learn.
    if (!(await mayLieInside(file, roots, realRoots))) {
      throw new PluginError('ATTACHMENT_FORBIDDEN', `${field}: ${JSON.stringify(file)} resolves outside attachmentRoots`, { field });
    }
    if (code === 'ENXIO') {
      throw new PluginError('ATTACHMENT_FORBIDDEN', `${field}: ${JSON.stringify(file)} is not a regular file`, { field });
    }
    if (code !== undefined && ABSENT.has(code)) {
      throw new PluginError('ATTACHMENT_NOT_FOUND', `${field}: cannot open ${JSON.stringify(file)} (${code})`, { field, cause: e });
    }
    throw transient(field, file, e);
  }
  try {
    const realPath = await descriptorPath(handle, file);
    const inside = realRoots.some((r) => r !== undefined && realPath.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
    if (!inside) {
      throw new PluginError('ATTACHMENT_FORBIDDEN', `${field}: ${JSON.stringify(file)} resolves outside attachmentRoots`, { field });
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new PluginError('ATTACHMENT_FORBIDDEN', `${field}: ${JSON.stringify(file)} is not a regular file`, { field });
    }
    return { handle, realPath, size: st.size };
  } catch (e) {
    await handle.close();
    throw e instanceof PluginError ? e : transient(field, file, e);
  }
}

/**
 * Open errors that say the file is not there (or the path cannot name one), which no retry will
 * change: ATTACHMENT_NOT_FOUND, final for the PBX. Everything else (EMFILE, ENFILE, EIO, ENOSPC,
 * EACCES, ENOMEM, ...) is SPOOL_FAILURE: nothing was queued and the host may retry.
 */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

function transient(field: string, file: string, e: unknown): PluginError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new PluginError('SPOOL_FAILURE', `${field}: cannot read ${JSON.stringify(file)} now (${code}: ${(e as Error).message}); nothing was queued, the event may be sent again`, { field, cause: e });
}

/** For a path that could not be opened: whether it would lie inside a root (its parent resolved, or lexically). */
async function mayLieInside(file: string, roots: readonly string[], realRoots: (string | undefined)[]): Promise<boolean> {
  const lexical = path.resolve(file);
  const parent = await fs.promises.realpath(path.dirname(lexical)).catch(() => undefined);
  const candidate = parent === undefined ? lexical : path.join(parent, path.basename(lexical));
  return [...realRoots, ...roots.map((r) => path.resolve(r))].some((r) => r !== undefined && candidate.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
}

/** The path the kernel holds for an open descriptor; elsewhere than Linux, realpath plus an inode check. */
async function descriptorPath(handle: fs.promises.FileHandle, file: string): Promise<string> {
  try {
    return await fs.promises.readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const real = await fs.promises.realpath(file);
    const [a, b] = await Promise.all([handle.stat(), fs.promises.stat(real)]);
    if (a.ino !== b.ino || a.dev !== b.dev) {
      throw new PluginError('ATTACHMENT_FORBIDDEN', `${file} changed while it was being checked`, { field: 'path' });
    }
    return real;
  }
}
