import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

/**
 * Attachments are streamed from the spool, never read whole into memory: a 50 MB file goes out
 * while the sender's resident memory rises by far less than the file (measured in a child
 * process, against a control that reads the file into memory first). A memory check, not a timing.
 */
describe('attachments are streamed', () => {
  it('sending a 50 MB attachment (plain, and DKIM-signed via a temp file) does not grow RSS by the file size', async function () {
    this.timeout(120_000);
    const child = path.join(__dirname, 'stream-child.ts');
    // A small young generation keeps garbage from streaming out of the figure.
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--max-semi-space-size=2', '-r', 'ts-node/register/transpile-only', child, '50'], {
      cwd: path.join(__dirname, '../..'),
      // One malloc arena: freed buffers go back instead of lingering in per-thread arenas.
      env: { ...process.env, MALLOC_ARENA_MAX: '1' },
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
    expect(r.plainReceivedMB).to.be.greaterThan(66);
    expect(r.dkimReceivedMB).to.be.greaterThan(66);
    expect(r.bufferedGrowthMB, 'the control must show what buffering costs').to.be.greaterThan(50);
    expect(r.plainGrowthMB).to.be.lessThan(25);
    // DKIM signing keeps up to 1 MB of the message in memory, then spills it to dataDir/tmp (measured ~18 MB of RSS).
    expect(r.dkimGrowthMB).to.be.lessThan(35);
  });
});
