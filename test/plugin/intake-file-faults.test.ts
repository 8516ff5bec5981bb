import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { toneWav } from '../../src/host/demo/samples';
import { FakeHost } from '../helpers/fake-host';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';
const repo = path.join(__dirname, '../..');

describe('intake: transient file errors are SPOOL_FAILURE (the host may retry), never ATTACHMENT_NOT_FOUND', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('EMFILE (no descriptor left, in a child under ulimit -n 256) opening the recording: SPOOL_FAILURE naming the field; the retry once descriptors are free is queued', async function () {
    this.timeout(60_000);
    const root = h.tmpdir('pbx-emfile-root-');
    fs.writeFileSync(path.join(root, 'vm.wav'), toneWav(1));
    const dataDir = path.join(h.tmpdir('pbx-emfile-'), 'data');
    const config = tenantConfig(testCa().cert, { [T]: { port: 9 } }, { attachmentRoots: [root] });
    const event = voicemail(T, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    const arg = JSON.stringify({ config, dataDir, event });
    const child = spawn('/bin/sh', ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'intake-fd-exhaustion.child.ts'), arg], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    h.defer(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (err += b));
    expect(await exited, err).to.equal(0);
    const line = (tag: string) => JSON.parse(out.split('\n').find((l) => l.startsWith(`${tag} `))!.slice(tag.length + 1));
    const first = line('FIRST');
    expect(first.exhausted).to.equal('EMFILE'); // the fault really happened
    expect(first).to.deep.include({ ok: false, code: 'SPOOL_FAILURE', field: '/data/recording/path' });
    expect(first.message).to.contain('EMFILE');
    expect(line('SECOND')).to.deep.equal({ ok: true });
  });

  it('ENOSPC (a full tmpfs dataDir) while the recording is copied: SPOOL_FAILURE naming the field, no copy left behind; queued once there is room', async function () {
    this.timeout(60_000);
    if (process.getuid?.() !== 0) return this.skip(); // mounting a tmpfs needs root
    const mnt = h.tmpdir('pbx-enospc-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
    h.defer(() => execFileSync('umount', ['-l', mnt]));
    const root = h.tmpdir('pbx-enospc-root-');
    const wav = toneWav(8); // 128 kB
    fs.writeFileSync(path.join(root, 'vm.wav'), wav);
    const dataDir = path.join(mnt, 'data');
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: 9 } }, { attachmentRoots: [root] }), dataDir);
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    // Leave 16 kB free: less than the recording.
    const st = fs.statfsSync(mnt);
    const filler = path.join(mnt, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(st.bavail * st.bsize - 16 * 1024));
    const e = voicemail(T, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
    const err = await host.send(e).then(
      () => undefined,
      (x: { code?: string; field?: string; message: string }) => x,
    );
    expect(err?.code).to.equal('SPOOL_FAILURE');
    expect(err?.field, err?.message).to.equal('/data/recording/path');
    expect(err?.message).to.contain('ENOSPC');
    expect(fs.readdirSync(path.join(dataDir, 'files'))).to.deep.equal([]);
    expect((await plugin.lookup(e.id, T))).to.equal(undefined);
    fs.rmSync(filler);
    await host.send(e);
    expect((await plugin.lookup(e.id, T))!.attachments.map((a) => a.size)).to.deep.equal([wav.length]);
  });
});
