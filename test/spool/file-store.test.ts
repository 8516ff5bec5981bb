import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { FileStore } from '../../src/spool';
import { Harness } from '../helpers/harness';

// SQLite only: the local file store (<dataDir>/files) of SqliteSpool; PgFiles is tested in test/spool/pg-spool.test.ts.
describe('spool file store: a copy is whole or refused', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('on a disk with less room than the file, copyIn rejects with ENOSPC instead of keeping the short write as the copy', async function () {
    if (process.getuid?.() !== 0) return this.skip(); // mounting a tmpfs needs root
    const mnt = h.tmpdir('pbx-short-write-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    h.defer(() => execFileSync('umount', ['-l', mnt]));
    const src = path.join(h.tmpdir('pbx-short-src-'), 'rec.bin');
    fs.writeFileSync(src, Buffer.alloc(128 * 1024, 7));
    const store = new FileStore(path.join(mnt, 'files'));
    const st = fs.statfsSync(mnt);
    fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(st.bavail * st.bsize - 16 * 1024));
    const dir = await store.createDir('ev-1');
    const from = await fs.promises.open(src, 'r');
    try {
      const err = await store.copyIn(from, dir, 'recording').then(
        (p) => ({ code: 'resolved', size: fs.statSync(p).size }),
        (e: NodeJS.ErrnoException) => ({ code: e.code }),
      );
      expect(err).to.deep.equal({ code: 'ENOSPC' });
      expect(fs.existsSync(path.join(dir, 'recording'))).to.equal(false);
    } finally {
      await from.close();
    }
  });
});
