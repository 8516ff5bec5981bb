import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';
const wav = (marker: string) => Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.from(marker.repeat(64))]);
const INSIDE = wav('INSIDE-ROOT-');
const SECRET = wav('OUTSIDE-SECRET-');

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; field?: string }> {
  try {
    await p;
    return {};
  } catch (e) {
    return e as { code?: string; field?: string };
  }
}

describe('attachment paths: nothing outside attachmentRoots is ever mailed', () => {
  let smtp: TestSmtp;
  const h = new Harness();
  let work: string;
  let root: string;
  let outside: string;
  let swapper: ChildProcess | undefined;

  beforeEach(async () => {
    const ca = testCa();
    smtp = await h.smtp();
    work = h.tmpdir('att-paths-');
    root = path.join(work, 'root');
    outside = path.join(work, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret.wav'), SECRET);
    fs.writeFileSync(path.join(root, 'ok.wav'), INSIDE);
    const cfg = tenantConfig(ca.cert, { [T]: { port: smtp.port } }, { attachmentRoots: [root], delivery: { concurrency: { perTenant: 8 }, retry: { initialDelayMs: 200, maxDelayMs: 1000 }, messageTimeoutMs: 8000 } });
    await h.start(cfg);
  });

  afterEach(async () => {
    swapper?.kill('SIGKILL');
    swapper = undefined;
    await h.dispose();
  });

  const send = (p: string) => h.host.send(voicemail(T, {}, { recording: { path: p, contentType: 'audio/wav' } }));

  it('symlinks out, symlinked directories, .., device nodes and FIFOs are refused with ATTACHMENT_FORBIDDEN naming the field', async () => {
    fs.symlinkSync(path.join(outside, 'secret.wav'), path.join(root, 'link.wav'));
    fs.symlinkSync(outside, path.join(root, 'dirlink'));
    fs.symlinkSync('/dev/zero', path.join(root, 'zero.wav'));
    fs.mkdirSync(path.join(root, 'sub'));
    execFileSync('mkfifo', [path.join(root, 'fifo.wav')]);
    execFileSync('mknod', [path.join(root, 'null.wav'), 'c', '1', '3']);
    const attempts = [
      path.join(root, 'link.wav'),
      path.join(root, 'dirlink', 'secret.wav'),
      `${root}/../outside/secret.wav`,
      `${root}/./sub/../../outside/secret.wav`,
      path.join(root, 'zero.wav'),
      path.join(root, 'fifo.wav'),
      path.join(root, 'null.wav'),
      root,
    ];
    for (const p of attempts) {
      const e = await codeOf(send(p));
      expect(e.code, p).to.equal('ATTACHMENT_FORBIDDEN');
      expect(e.field, p).to.equal('/data/recording/path');
    }
    expect((await h.plugin.status()).counts.queued).to.equal(0);
  });

  it('a file swapped for a symlink between check and copy (TOCTOU, in a tight loop) never gets outside content mailed', async function () {
    this.timeout(60_000);
    const target = path.join(root, 'swap.wav');
    fs.writeFileSync(target, INSIDE);
    // A separate process swaps the file and a symlink out of the root, atomically, as fast as it can.
    const script = `
      const fs = require('fs');
      const [target, secret, master] = process.argv.slice(1);
      for (let i = 0; ; i++) {
        const tmp = target + '.tmp' + (i % 2);
        try { fs.rmSync(tmp, { force: true }); } catch {}
        if (i % 2) fs.symlinkSync(secret, tmp); else fs.linkSync(master, tmp);
        fs.renameSync(tmp, target);
      }`;
    swapper = spawn(process.execPath, ['-e', script, target, path.join(outside, 'secret.wav'), path.join(root, 'ok.wav')], { stdio: 'ignore' });
    const outcomes: string[] = [];
    for (let i = 0; i < 60; i++) {
      const e = await codeOf(send(target));
      outcomes.push(e.code ?? 'queued');
    }
    swapper.kill('SIGKILL');
    swapper = undefined;
    expect(outcomes.every((o) => ['queued', 'ATTACHMENT_FORBIDDEN', 'ATTACHMENT_NOT_FOUND'].includes(o)), outcomes.join(',')).to.equal(true);
    const queued = outcomes.filter((o) => o === 'queued').length;
    expect(queued).to.be.greaterThan(0);
    await smtp.waitFor(queued, 40_000);
    for (const m of smtp.mails) {
      expect(m.raw.includes('OUTSIDE-SECRET')).to.equal(false);
      for (const a of m.parsed.attachments) expect(a.content.equals(INSIDE)).to.equal(true);
    }
    // And nothing from outside sits in the spool either.
    const files = path.join(h.host.dataDir, 'files');
    for (const d of fs.readdirSync(files)) for (const f of fs.readdirSync(path.join(files, d))) expect(fs.readFileSync(path.join(files, d, f)).includes('OUTSIDE-SECRET')).to.equal(false);
  });
});
