import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { Harness } from '../helpers/harness';
import { decodeMp3, makeWav } from '../helpers/media-fixtures';
import { testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const T = 'crash-media.example.com';
const CHILD = path.join(__dirname, 'convert-child.ts');

/** A child host process and the lines it printed. */
function child(opts: Record<string, unknown>): { proc: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD], { env: { ...process.env, CHILD_OPTS: JSON.stringify(opts) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i));
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, lines, exited };
}

describe('media: a crash in the middle of a conversion', () => {
  const h = new Harness();
  after(() => h.dispose());

  it('SIGKILL while the MP3 is half written: the next run converts again and delivers exactly one mail with a whole MP3', async () => {
    const server = await h.smtp({ mode: 'none' });
    const root = h.tmpdir('media-crash-root-');
    const dataDir = h.tmpdir('media-crash-data-');
    const wav = path.join(root, 'vm.wav');
    fs.writeFileSync(wav, makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 3 }));
    const base = { dataDir, root, port: server.port, ca: testCa().cert, tenant: T, eventId: 'crash-vm-1' };

    const first = child({ ...base, wav, pauseMs: 60_000, drain: false });
    h.defer(() => first.proc.kill('SIGKILL'));
    await waitFor(() => first.lines.includes('ACK crash-vm-1'), { what: 'the event accepted', timeoutMs: 20_000 });
    const files = path.join(dataDir, 'files');
    const part = await waitFor(
      () => fs.readdirSync(files).map((d) => path.join(files, d, 'recording.mp3.part')).find((p) => fs.existsSync(p)),
      { what: 'the conversion half written (recording.mp3.part)', timeoutMs: 20_000 },
    );
    first.proc.kill('SIGKILL');
    await first.exited;
    // Killed mid-conversion: only the temporary file is there, and nothing was sent.
    expect(fs.existsSync(part)).to.equal(true);
    expect(fs.existsSync(part.replace(/\.part$/, ''))).to.equal(false);
    expect(server.mails).to.have.length(0);

    const second = child({ ...base, pauseMs: 0, drain: true });
    h.defer(() => second.proc.kill('SIGKILL'));
    expect(await second.exited).to.equal(0);
    expect(second.lines.filter((l) => l.startsWith('DELIVERED'))).to.deep.equal(['DELIVERED crash-vm-1']);
    const stats = JSON.parse(second.lines.find((l) => l.startsWith('STATS '))!.slice(6));
    expect(stats).to.include({ converted: 1, reused: 0, failed: 0 });
    expect(server.mails).to.have.length(1);
    const att = server.mails[0]!.parsed.attachments[0]!;
    expect(att.contentType).to.equal('audio/mpeg');
    const tmp = h.tmpdir('media-crash-out-');
    fs.writeFileSync(path.join(tmp, 'a.mp3'), att.content);
    const pcm = decodeMp3(path.join(tmp, 'a.mp3'), path.join(tmp, 'a.wav'));
    expect(pcm.samples.length / pcm.sampleRate).to.be.closeTo(3, 0.06);
  });
});
