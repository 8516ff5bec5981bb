import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { expectHostRefusesToStart } from '../helpers/host-process';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';
const repo = path.join(__dirname, '../..');

/** A child holding (or failing to hold) `dataDir`; resolves with its first line: READY or REFUSED {...}. */
function child(h: Harness, config: unknown, dataDir: string): { proc: ChildProcessWithoutNullStreams; first: Promise<string>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'hold-data-dir.child.ts'), JSON.stringify({ config, dataDir })], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  h.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (b: Buffer) => (err += b));
  const first = new Promise<string>((resolve, reject) => {
    proc.stdout.on('data', (b: Buffer) => {
      out += b;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    proc.on('exit', (c) => reject(new Error(`child exited (${c}) before a line: ${err}`)));
  });
  return { proc, first, exited };
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

// Store-independent, so run on the default store only: the lock is <dataDir>/lock, taken before either spool is opened.
describe('spool: one plugin instance per dataDir (dataDir/lock)', () => {
  const h = new Harness();
  afterEach(() => h.dispose());
  const config = () => tenantConfig(testCa().cert, { [T]: { port: 9 } });

  it('a second activate() in the same process on the same dataDir rejects with SPOOL_LOCKED naming the directory; after deactivate() it succeeds', async () => {
    await h.start(config());
    const second = new FakeHost(config(), h.host.dataDir);
    const err = await rejection(activate(second.context()));
    expect(err.code).to.equal('SPOOL_LOCKED');
    expect(err.message).to.contain(h.host.dataDir);
    // The first instance is untouched by the refused one.
    const e = missed(T);
    await h.host.send(e);
    expect((await h.plugin.lookup(e.id))!.state).to.equal('queued');
    await h.deactivate();
    const third = await activate(second.context());
    try {
      expect((await third.lookup(e.id))!.state).to.equal('queued');
    } finally {
      await third.deactivate();
    }
  });

  it('a second process on a dataDir this process holds is refused with SPOOL_LOCKED naming the directory', async function () {
    this.timeout(30_000);
    await h.start(config());
    const c = child(h, config(), h.host.dataDir);
    const line = await c.first;
    expect(line).to.match(/^REFUSED /);
    const err = JSON.parse(line.slice('REFUSED '.length));
    expect(err.code).to.equal('SPOOL_LOCKED');
    expect(err.message).to.contain(h.host.dataDir);
    expect((await c.exited).code).to.equal(3);
  });

  it('a dataDir another process holds is refused here; once that process is killed with SIGKILL the lock is free', async function () {
    this.timeout(30_000);
    const dataDir = path.join(h.tmpdir('pbx-lock-'), 'data');
    const c = child(h, config(), dataDir);
    expect(await c.first).to.equal('READY');
    const host = new FakeHost(config(), dataDir);
    const err = await rejection(activate(host.context()));
    expect(err.code).to.equal('SPOOL_LOCKED');
    expect(err.message).to.contain(dataDir);
    c.proc.kill('SIGKILL');
    expect((await c.exited).signal).to.equal('SIGKILL');
    const plugin = await activate(host.context());
    await plugin.deactivate();
  });

  it('a refused start deletes nothing the live instance owns: its tmp/ files and an attachment copy not yet queued stay', async function () {
    this.timeout(30_000);
    const dataDir = path.join(h.tmpdir('pbx-lock-'), 'data');
    const c = child(h, config(), dataDir);
    expect(await c.first).to.equal('READY');
    // What a live instance has mid-work: a DKIM spill file, and an event's copy whose accept has not committed yet.
    const spill = path.join(dataDir, 'tmp', 'spill-1');
    const inFlight = path.join(dataDir, 'files', 'feedfacefeedfacefeedface-01020304');
    fs.writeFileSync(spill, 'x');
    fs.mkdirSync(inFlight);
    fs.writeFileSync(path.join(inFlight, 'recording'), 'RIFF');
    const host = new FakeHost(config(), dataDir);
    const started = activate(host.context());
    h.defer(() => started.then((p) => p.deactivate(), () => undefined));
    const err = await started.then(() => undefined, (e: { code?: string }) => e);
    expect(fs.existsSync(spill)).to.equal(true);
    expect(fs.existsSync(path.join(inFlight, 'recording'))).to.equal(true);
    expect(err?.code).to.equal('SPOOL_LOCKED');
  });
});

describe('reference host: a locked dataDir stops it before it claims to be ready', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('exits non-zero printing SPOOL_LOCKED and the directory, without its ready line', async function () {
    this.timeout(30_000);
    const dir = h.tmpdir('pbx-host-lock-');
    const dataDir = path.join(dir, 'data');
    const cfg = tenantConfig(testCa().cert, { [T]: { port: 9 } });
    const holder = child(h, cfg, dataDir);
    expect(await holder.first).to.equal('READY');
    const err = await expectHostRefusesToStart(h, cfg, dataDir, path.join(dir, 'config.json'));
    expect(err).to.contain('SPOOL_LOCKED');
    expect(err).to.contain(dataDir);
  });
});
