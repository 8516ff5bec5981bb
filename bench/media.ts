/**
 * Media conversion figures (issue 12): time and size of a recording converted to MP3 and of a fax
 * converted to PDF, in the plugin's own media worker pool, and what a tenant converting large
 * files does to another tenant's conversions. Standalone:
 * `node -r ts-node/register/transpile-only bench/media.ts` (needs tiffcp, Debian libtiff-tools).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MediaPool } from '../src/media';
import { makeBitmap, makeTiff, makeWav, tiffcp } from '../test/helpers/media-fixtures';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-media-'));
  const pool = new MediaPool({ size: 2 });
  try {
    const rows: string[] = [];
    const measure = async (name: string, input: string, kind: 'mp3' | 'pdf', per: string, units: number) => {
      const ms: number[] = [];
      let bytes = 0;
      let detail = '';
      for (let i = 0; i < ROUNDS + 1; i++) {
        const output = path.join(dir, `out-${i}.${kind}`);
        const r = await pool.run('bench', kind === 'mp3' ? { kind, input, output, bitrateKbps: 32 } : { kind, input, output }, 60_000);
        if (i > 0) ms.push(r.ms); // the first warms the worker up
        bytes = r.bytes;
        detail = r.detail;
      }
      const inBytes = fs.statSync(input).size;
      rows.push(`| ${name} | ${median(ms)} ms | ${(median(ms) / units).toFixed(0)} ms ${per} | ${(inBytes / 1024).toFixed(1)} kB | ${(bytes / 1024).toFixed(1)} kB | ${(bytes / inBytes).toFixed(3)} | ${detail} |`);
    };
    const wav = (name: string, spec: Parameters<typeof makeWav>[0]) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, makeWav(spec));
      return f;
    };
    await measure('60 s, 8 kHz mu-law mono WAV -> MP3 32 kbit/s', wav('mulaw.wav', { encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 60, hz: 300 }), 'mp3', 'a minute', 1);
    await measure('60 s, 16 kHz 16-bit mono WAV -> MP3 32 kbit/s', wav('pcm16.wav', { encoding: 'pcm16', sampleRate: 16000, channels: 1, seconds: 60, hz: 300 }), 'mp3', 'a minute', 1);
    await measure('60 s, 48 kHz 16-bit stereo WAV -> MP3 32 kbit/s', wav('stereo.wav', { encoding: 'pcm16', sampleRate: 48000, channels: 2, seconds: 60, hz: 300 }), 'mp3', 'a minute', 1);
    const raw = path.join(dir, 'raw.tif');
    fs.writeFileSync(raw, makeTiff([1, 2, 3].map((s) => ({ bitmap: makeBitmap(1728, 2200, s), xDpi: 204, yDpi: 196 }))));
    for (const [c, label] of [['g4', 'G4'], ['g3:2d:fill', 'G3 2-D'], ['g3', 'G3 1-D'], ['lzw', 'LZW']] as const) {
      const f = path.join(dir, `fax-${label.replace(/\W/g, '')}.tif`);
      tiffcp(raw, f, c, { rowsPerStrip: 100_000 });
      await measure(`3-page ${label} fax TIFF (1728 x 2200, fine) -> PDF`, f, 'pdf', 'a page', 3);
    }

    // Fairness: tenant "big" keeps both workers' worth of work queued (ten 60 s 48 kHz stereo files);
    // tenant "small" converts 10 s voicemails one after another, alone and then alongside.
    const small = wav('small.wav', { encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 10 });
    const big = path.join(dir, 'stereo.wav');
    const smallRuns = async () => {
      const lat: number[] = [];
      for (let i = 0; i < 8; i++) {
        const t0 = performance.now();
        await pool.run('small', { kind: 'mp3', input: small, output: path.join(dir, `small-${i}.mp3`), bitrateKbps: 32 }, 60_000);
        lat.push(performance.now() - t0);
      }
      return lat;
    };
    const alone = await smallRuns();
    const flood = Array.from({ length: 10 }, (_, i) => pool.run('big', { kind: 'mp3', input: big, output: path.join(dir, `big-${i}.mp3`), bitrateKbps: 32 }, 60_000));
    const t0 = performance.now();
    const beside = await smallRuns();
    const smallDone = performance.now() - t0;
    await Promise.all(flood);
    const floodMs = performance.now() - t0;
    rows.push('', '| another tenant\'s 10 s voicemail, submit to MP3 on disk | median | max |', '| --- | --- | --- |');
    rows.push(`| alone | ${median(alone).toFixed(0)} ms | ${Math.max(...alone).toFixed(0)} ms |`);
    rows.push(`| while a tenant has ten 60 s 48 kHz stereo files queued (${(floodMs / 1000).toFixed(1)} s of work; the small tenant was done after ${(smallDone / 1000).toFixed(1)} s) | ${median(beside).toFixed(0)} ms | ${Math.max(...beside).toFixed(0)} ms |`);
    console.log(['| conversion | time (median) | per unit | original | converted | ratio | what |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n'));
  } finally {
    await pool.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
