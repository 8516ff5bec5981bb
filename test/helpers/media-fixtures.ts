import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** The encodings a test WAV is written in. */
export type WavEncoding = 'pcm16' | 'pcm8' | 'mulaw' | 'alaw';

/** G.711 mu-law encoding of one 16-bit sample (the ITU-T reference algorithm), written here, independent of the plugin's decoder. */
export function muLawEncode(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mantissa = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mantissa) & 0xff;
}

/** G.711 A-law encoding of one 16-bit sample. */
export function aLawEncode(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, sample)) >> 3; // 13-bit
  let sign = 0x80;
  if (s < 0) {
    sign = 0;
    s = -s - 1;
  }
  const ends = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let seg = ends.findIndex((e) => s <= e);
  if (seg < 0) seg = 8;
  const code = seg >= 8 ? 0x7f : (seg << 4) | ((seg < 2 ? s >> 1 : s >> seg) & 0x0f);
  return (code | sign) ^ 0x55;
}

export interface WavSpec {
  encoding: WavEncoding;
  sampleRate: number;
  channels: 1 | 2;
  seconds: number;
  /** Tone frequency in Hz. @default 440 */
  hz?: number;
  /** Write the fmt chunk as WAVE_FORMAT_EXTENSIBLE. */
  extensible?: boolean;
}

/** A WAV file of a sine tone (amplitude 1/4 of full scale), both channels the same tone. */
export function makeWav(s: WavSpec): Buffer {
  const bytesPer = s.encoding === 'pcm16' ? 2 : 1;
  const n = Math.round(s.sampleRate * s.seconds);
  const blockAlign = s.channels * bytesPer;
  const tag = { pcm16: 1, pcm8: 1, mulaw: 7, alaw: 6 }[s.encoding];
  const fmtLen = s.extensible ? 40 : 16;
  const fmt = Buffer.alloc(fmtLen);
  fmt.writeUInt16LE(s.extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(s.channels, 2);
  fmt.writeUInt32LE(s.sampleRate, 4);
  fmt.writeUInt32LE(s.sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bytesPer * 8, 14);
  if (s.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bytesPer * 8, 18);
    fmt.writeUInt32LE(s.channels === 1 ? 0x4 : 0x3, 20);
    Buffer.from(`${tag.toString(16).padStart(4, '0').replace(/(..)(..)/, '$2$1')}00000000001000800000aa00389b71`, 'hex').copy(fmt, 24);
  }
  const data = Buffer.alloc(n * blockAlign);
  const hz = s.hz ?? 440;
  for (let i = 0; i < n; i++) {
    const v = Math.round(8192 * Math.sin((2 * Math.PI * hz * i) / s.sampleRate));
    for (let c = 0; c < s.channels; c++) {
      const at = i * blockAlign + c * bytesPer;
      if (s.encoding === 'pcm16') data.writeInt16LE(v, at);
      else if (s.encoding === 'pcm8') data[at] = 128 + (v >> 8);
      else data[at] = s.encoding === 'mulaw' ? muLawEncode(v) : aLawEncode(v);
    }
  }
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt), chunk('LIST', Buffer.from('INFOISFT\x06\0\0\0test\0\0', 'latin1')), chunk('data', data)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** What mpg123 (an independent decoder) makes of an MP3: 16-bit PCM, its rate and channel count. */
export function decodeMp3(file: string, tmpWav: string): { sampleRate: number; channels: number; samples: Int16Array } {
  execFileSync('mpg123', ['-q', '-w', tmpWav, file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const b = fs.readFileSync(tmpWav);
  let pos = 12;
  let rate = 0;
  let channels = 0;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(pos + 10);
      rate = b.readUInt32LE(pos + 12);
    }
    if (id === 'data') {
      const data = b.subarray(pos + 8, pos + 8 + Math.min(size, b.length - pos - 8));
      return { sampleRate: rate, channels, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length - (data.length % 2))) };
    }
    pos += 8 + size + (size & 1);
  }
  throw new Error(`mpg123 wrote no data chunk for ${file}`);
}

/** The strongest frequency of a signal between 100 and 2000 Hz (Goertzel power at every 10 Hz), and its RMS level. */
export function dominantHz(samples: Int16Array, rate: number): { hz: number; rms: number } {
  let best = 0;
  let bestPower = -1;
  const n = Math.min(samples.length, rate); // one second is plenty
  const start = Math.floor((samples.length - n) / 2);
  for (let hz = 100; hz <= 2000; hz += 10) {
    const w = (2 * Math.PI * hz) / rate;
    const k = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = samples[start + i]! + k * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if (power > bestPower) {
      bestPower = power;
      best = hz;
    }
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += samples[start + i]! ** 2;
  return { hz: best, rms: Math.sqrt(sum / n) };
}

/** A bilevel page: `rows` of `width` pixels, 1 = black. */
export interface Bitmap {
  width: number;
  height: number;
  /** Rows of packed bits, MSB first, each row ceil(width/8) bytes. */
  bits: Buffer;
}

/** A deterministic page with black bars, boxes and a checker block: enough structure that a wrong row, column or colour shows. */
export function makeBitmap(width: number, height: number, seed: number): Bitmap {
  const stride = Math.ceil(width / 8);
  const bits = Buffer.alloc(stride * height);
  const set = (x: number, y: number) => (bits[y * stride + (x >> 3)]! |= 0x80 >> (x & 7));
  let r = seed * 7919 + 13;
  const rnd = (n: number) => ((r = (r * 1103515245 + 12345) & 0x7fffffff), r % n);
  for (let i = 0; i < 40; i++) {
    const x0 = rnd(width - 20);
    const y0 = rnd(height - 10);
    const w = 5 + rnd(Math.min(300, width - x0 - 1));
    const h = 2 + rnd(Math.min(40, height - y0 - 1));
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (i % 3 !== 0 || ((x >> 2) + (y >> 2)) % 2 === 0) set(x, y);
  }
  for (let x = 0; x < width; x++) set(x, seed % height); // a full-width rule that differs per page
  return { width, height, bits };
}

export interface TiffPage {
  bitmap: Bitmap;
  xDpi: number;
  yDpi: number;
  /** Store the page as BlackIsZero (photometric 1, every bit inverted): the same picture. */
  minIsBlack?: boolean;
}

/** An uncompressed, WhiteIsZero (or BlackIsZero), bilevel, multi-page TIFF (little-endian), one strip per page. */
export function makeTiff(pages: TiffPage[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x49, 0x49, 42, 0, 0, 0, 0, 0])];
  let offset = 8;
  const ifdAt: number[] = [];
  for (const p of pages) {
    const dataAt = offset;
    parts.push(p.minIsBlack ? Buffer.from(p.bitmap.bits.map((b) => ~b & 0xff)) : p.bitmap.bits);
    offset += p.bitmap.bits.length + (p.bitmap.bits.length & 1);
    if (p.bitmap.bits.length & 1) parts.push(Buffer.alloc(1));
    const ratAt = offset;
    const rats = Buffer.alloc(16);
    rats.writeUInt32LE(p.xDpi, 0);
    rats.writeUInt32LE(1, 4);
    rats.writeUInt32LE(p.yDpi, 8);
    rats.writeUInt32LE(1, 12);
    parts.push(rats);
    offset += 16;
    const tags: [number, number, number, number][] = [
      [256, 4, 1, p.bitmap.width],
      [257, 4, 1, p.bitmap.height],
      [258, 3, 1, 1],
      [259, 3, 1, 1],
      [262, 3, 1, p.minIsBlack ? 1 : 0],
      [273, 4, 1, dataAt],
      [277, 3, 1, 1],
      [278, 4, 1, p.bitmap.height],
      [279, 4, 1, p.bitmap.bits.length],
      [282, 5, 1, ratAt],
      [283, 5, 1, ratAt + 8],
      [296, 3, 1, 2],
    ];
    const ifd = Buffer.alloc(2 + tags.length * 12 + 4);
    ifd.writeUInt16LE(tags.length, 0);
    tags.forEach(([tag, type, count, value], i) => {
      ifd.writeUInt16LE(tag, 2 + i * 12);
      ifd.writeUInt16LE(type, 4 + i * 12);
      ifd.writeUInt32LE(count, 6 + i * 12);
      if (type === 3) ifd.writeUInt16LE(value, 10 + i * 12);
      else ifd.writeUInt32LE(value, 10 + i * 12);
    });
    ifdAt.push(offset);
    parts.push(ifd);
    offset += ifd.length;
  }
  const out = Buffer.concat(parts);
  out.writeUInt32LE(ifdAt[0]!, 4);
  for (let i = 0; i < ifdAt.length - 1; i++) {
    const count = out.readUInt16LE(ifdAt[i]!);
    out.writeUInt32LE(ifdAt[i + 1]!, ifdAt[i]! + 2 + count * 12);
  }
  return out;
}

/** Recompresses a TIFF with libtiff's tiffcp (Debian libtiff-tools): `g4`, `g3`, `g3:2d:fill`, `lzw`, `packbits`, `none`; `rowsPerStrip` splits pages into strips. */
export function tiffcp(input: string, output: string, compression: string, opts: { rowsPerStrip?: number; fillOrder?: 'msb2lsb' | 'lsb2msb' } = {}): void {
  execFileSync('tiffcp', ['-c', compression, ...(opts.rowsPerStrip ? ['-r', String(opts.rowsPerStrip)] : []), ...(opts.fillOrder ? ['-f', opts.fillOrder] : []), input, output], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** pdfinfo's page count and each page's size in points (poppler-utils, an independent reader). */
export function pdfPages(file: string): { pages: number; sizes: { w: number; h: number }[] } {
  const out = execFileSync('pdfinfo', ['-f', '1', '-l', '9999', file], { encoding: 'utf8' });
  const pages = Number(/^Pages:\s+(\d+)/m.exec(out)?.[1]);
  const sizes = [...out.matchAll(/^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts/gm)].map((m) => ({ w: Number(m[1]), h: Number(m[2]) }));
  return { pages, sizes };
}

/** Renders one PDF page with poppler's pdftoppm at the given X and Y resolution, as a bitmap (1 = dark). */
export function renderPage(file: string, page: number, xDpi: number, yDpi: number, outPrefix: string): Bitmap {
  execFileSync('pdftoppm', ['-f', String(page), '-l', String(page), '-rx', String(xDpi), '-ry', String(yDpi), '-gray', '-aa', 'no', '-aaVector', 'no', '-singlefile', file, outPrefix], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pgm = fs.readFileSync(`${outPrefix}.pgm`);
  // P5 header: magic, width, height, maxval, each separated by whitespace.
  const m = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.toString('latin1', 0, 64))!;
  const width = Number(m[1]);
  const height = Number(m[2]);
  const pixels = pgm.subarray(m[0].length);
  const stride = Math.ceil(width / 8);
  const bits = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (pixels[y * width + x]! < 128) bits[y * stride + (x >> 3)]! |= 0x80 >> (x & 7);
  return { width, height, bits };
}

/**
 * Pixels that differ between a rendered page and its source bitmap. A renderer rounds the page's
 * pixel size up, so a rendering one pixel wider or taller is compared on the source's area (the
 * extra column or row must be white).
 */
export function pixelDifference(rendered: Bitmap, b: Bitmap): number {
  if (rendered.width < b.width || rendered.height < b.height || rendered.width > b.width + 1 || rendered.height > b.height + 1) return Infinity;
  const a = crop(rendered, b.width, b.height);
  let extra = 0;
  const rs = Math.ceil(rendered.width / 8);
  for (let y = 0; y < rendered.height; y++) for (let x = 0; x < rendered.width; x++) if ((x >= b.width || y >= b.height) && rendered.bits[y * rs + (x >> 3)]! & (0x80 >> (x & 7))) extra++;
  let n = 0;
  const stride = Math.ceil(a.width / 8);
  const lastMask = (0xff << (stride * 8 - a.width)) & 0xff;
  for (let y = 0; y < a.height; y++) {
    for (let i = 0; i < stride; i++) {
      let d = a.bits[y * stride + i]! ^ b.bits[y * stride + i]!;
      if (i === stride - 1) d &= lastMask;
      for (; d; d &= d - 1) n++;
    }
  }
  return n + extra;
}

function crop(b: Bitmap, width: number, height: number): Bitmap {
  if (b.width === width && b.height === height) return b;
  const from = Math.ceil(b.width / 8);
  const stride = Math.ceil(width / 8);
  const bits = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) b.bits.copy(bits, y * stride, y * from, y * from + stride);
  return { width, height, bits };
}
