import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { MediaPool } from '../../src/media';
import { makeWav } from '../helpers/media-fixtures';

describe('media: the worker pool shares its workers fairly and keeps each conversion on its budget', () => {
  let dir: string;
  let big: string;
  let small: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'media-pool-'));
    big = path.join(dir, 'big.wav');
    small = path.join(dir, 'small.wav');
    fs.writeFileSync(big, makeWav({ encoding: 'pcm16', sampleRate: 48000, channels: 2, seconds: 20 }));
    fs.writeFileSync(small, makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 1 }));
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const job = (input: string, name: string) => ({ kind: 'mp3' as const, input, output: path.join(dir, name), bitrateKbps: 32 });

  it('a tenant with a queue of large files never holds every worker: another tenant\'s file is converted while that queue still waits', async () => {
    const pool = new MediaPool({ size: 2 });
    try {
      const flood = [0, 1, 2, 3].map((i) => pool.run('big', job(big, `big-${i}.mp3`), 60_000));
      const r = await pool.run('small', job(small, 'small.mp3'), 60_000);
      expect(r.bytes).to.be.above(0);
      // Four files of the big tenant, at most one running: at least two are still queued.
      expect(pool.stats().queued).to.be.at.least(2);
      await Promise.all(flood);
      expect(pool.stats()).to.include({ queued: 0, stopped: 0 });
    } finally {
      await pool.dispose();
    }
  });

  it('a conversion over its budget is stopped with CONVERSION_TIMEOUT, its worker replaced; one still queued when its signal aborts is dropped', async () => {
    const pool = new MediaPool({ size: 2 });
    try {
      const err = await pool.run('t', job(big, 'slow.mp3'), 1).then(() => undefined, (e: { code?: string }) => e);
      expect(err?.code).to.equal('CONVERSION_TIMEOUT');
      expect(pool.stats().stopped).to.equal(1);
      expect((await pool.run('t', job(small, 'after.mp3'), 60_000)).bytes).to.be.above(0);

      const running = pool.run('t', job(big, 'a.mp3'), 60_000);
      const ac = new AbortController();
      const queued = pool.run('t', job(small, 'b.mp3'), 60_000, ac.signal); // the tenant's cap is 1: this one waits
      ac.abort(new Error('shutdown'));
      expect(await queued.then(() => 'converted', (e: Error) => e.message)).to.equal('shutdown');
      expect(fs.existsSync(path.join(dir, 'b.mp3'))).to.equal(false);
      expect((await running).bytes).to.be.above(0);
    } finally {
      await pool.dispose();
      await pool.dispose();
    }
    const late = await pool.run('t', job(small, 'late.mp3'), 60_000).then(() => undefined, (e: { code?: string }) => e);
    expect(late?.code).to.equal('CONVERSION_FAILED');
  });
});
