import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { aLawTable, muLawTable } from '../../src/media/g711';
import { readTiffDirectories } from '../../src/media/tiff-directory';
import { tiffToPdf } from '../../src/media/tiff-to-pdf';
import { readWavFormat, SampleDecoder } from '../../src/media/wav-decoder';
import { aLawEncode, makeBitmap, makeTiff, makeWav, muLawEncode } from '../helpers/media-fixtures';

/** The PluginError code a function throws, or 'none'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}

describe('media: the WAV, G.711 and TIFF readers', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'media-dec-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const format = (bytes: Buffer) => {
    const file = path.join(dir, 'x.wav');
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      return readWavFormat(fd, bytes.length);
    } finally {
      fs.closeSync(fd);
    }
  };

  it('G.711 tables invert an independent encoder within the codec\'s step size, for every 16-bit sample', () => {
    const mu = muLawTable();
    const a = aLawTable();
    let worst = 0;
    for (let s = -32768; s < 32768; s += 7) {
      const step = Math.max(16, Math.abs(s) / 16); // the codecs' quantisation: about 1/16 of the magnitude
      worst = Math.max(worst, Math.abs(mu[muLawEncode(s)]! - Math.max(-32124, Math.min(32124, s))) / step, Math.abs(a[aLawEncode(s)]! - Math.max(-32256, Math.min(32256, s))) / step);
    }
    expect(worst).to.be.below(1.1);
    expect([mu[0xff], mu[0x7f], a[0xd5], a[0x55]]).to.deep.equal([0, 0, 8, -8]);
  });

  it('reads the fmt and data chunks past other chunks; a data size of 0 or past the end (a writer that never finished) means the rest of the file', () => {
    const wav = makeWav({ encoding: 'pcm16', sampleRate: 16000, channels: 2, seconds: 0.1 });
    const f = format(wav);
    expect(f).to.deep.include({ encoding: 'pcm16', sampleRate: 16000, channels: 2, blockAlign: 4, dataBytes: 6400 });
    const dataAt = wav.indexOf('data');
    const unfinished = Buffer.from(wav);
    unfinished.writeUInt32LE(0, dataAt + 4);
    expect(format(unfinished).dataBytes).to.equal(6400);
    unfinished.writeUInt32LE(0xffffffff, dataAt + 4);
    expect(format(unfinished.subarray(0, unfinished.length - 3)).dataBytes).to.equal(6396); // whole frames only
    const mono = new SampleDecoder(format(makeWav({ encoding: 'pcm8', sampleRate: 8000, channels: 1, seconds: 0.01 })));
    expect(Array.from(mono.decode(Buffer.from([128, 255, 0])))).to.deep.equal([0, 127 / 128, -1]);
    const stereo = new SampleDecoder(f);
    const frame = Buffer.alloc(4);
    frame.writeInt16LE(16384, 0);
    frame.writeInt16LE(-16384, 2);
    expect(Array.from(stereo.decode(frame))).to.deep.equal([0]); // averaged
  });

  it('refuses what it does not convert with CONVERSION_UNSUPPORTED and what is damaged with CONVERSION_FAILED', () => {
    const wav = makeWav({ encoding: 'pcm16', sampleRate: 8000, channels: 1, seconds: 0.05 });
    const fmtAt = wav.indexOf('fmt ') + 8;
    const variant = (fn: (b: Buffer) => void) => {
      const b = Buffer.from(wav);
      fn(b);
      return b;
    };
    expect(codeOf(() => format(variant((b) => b.writeUInt16LE(0x0031, fmtAt))))).to.equal('CONVERSION_UNSUPPORTED'); // GSM 6.10
    expect(codeOf(() => format(variant((b) => b.writeUInt16LE(24, fmtAt + 14))))).to.equal('CONVERSION_UNSUPPORTED'); // 24-bit PCM
    expect(codeOf(() => format(variant((b) => b.writeUInt16LE(3, fmtAt + 2))))).to.equal('CONVERSION_UNSUPPORTED'); // 3 channels
    expect(codeOf(() => format(variant((b) => b.writeUInt32LE(96000, fmtAt + 4))))).to.equal('CONVERSION_UNSUPPORTED');
    expect(codeOf(() => format(variant((b) => b.writeUInt16LE(3, fmtAt + 12))))).to.equal('CONVERSION_FAILED'); // block align
    expect(codeOf(() => format(variant((b) => b.write('RIFX', 0))))).to.equal('CONVERSION_FAILED');
    expect(codeOf(() => format(wav.subarray(0, wav.indexOf('data'))))).to.equal('CONVERSION_FAILED'); // no data chunk
    expect(codeOf(() => format(Buffer.from('RIFF\0\0\0\0WAVE', 'latin1')))).to.equal('CONVERSION_FAILED');
  });

  it('TIFF: a looping directory chain, a truncated directory and a tag past the end are CONVERSION_FAILED; BigTIFF is CONVERSION_UNSUPPORTED', () => {
    const tif = makeTiff([{ bitmap: makeBitmap(64, 16, 1), xDpi: 204, yDpi: 196 }]);
    expect(readTiffDirectories(tif)).to.have.length(1);
    const ifd = tif.readUInt32LE(4);
    const looped = Buffer.from(tif);
    looped.writeUInt32LE(ifd, ifd + 2 + looped.readUInt16LE(ifd) * 12);
    expect(codeOf(() => readTiffDirectories(looped))).to.equal('CONVERSION_FAILED');
    expect(codeOf(() => readTiffDirectories(tif.subarray(0, ifd + 20)))).to.equal('CONVERSION_FAILED');
    const far = Buffer.from(tif);
    far.writeUInt32LE(0x7fffffff, ifd + 2 + 9 * 12 + 8); // XResolution's offset
    expect(codeOf(() => readTiffDirectories(far))).to.equal('CONVERSION_FAILED');
    const big = Buffer.from(tif);
    big.writeUInt16LE(43, 2);
    expect(codeOf(() => readTiffDirectories(big))).to.equal('CONVERSION_UNSUPPORTED');
    const strip = Buffer.from(tif);
    strip.writeUInt32LE(0x7ffffff0, ifd + 2 + 5 * 12 + 8); // StripOffsets past the end
    expect(codeOf(() => tiffToPdf(strip))).to.equal('CONVERSION_FAILED');
  });
});
