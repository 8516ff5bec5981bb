import * as fs from 'node:fs';
import { aLawTable, muLawTable } from './g711';
import { PluginError } from '../errors';

/** The encodings of a WAV file's samples that are decoded. */
export type WavEncoding = 'pcm8' | 'pcm16' | 'mulaw' | 'alaw';

export interface WavFormat {
  encoding: WavEncoding;
  sampleRate: number;
  channels: 1 | 2;
  /** Bytes of one sample frame (all channels). */
  blockAlign: number;
  /** Where the sample data starts in the file, and how many bytes of it there are (clipped to the file). */
  dataOffset: number;
  dataBytes: number;
}

const FORMAT_TAG = { PCM: 0x0001, ALAW: 0x0006, MULAW: 0x0007, EXTENSIBLE: 0xfffe } as const;
const FORMAT_NAMES: Record<number, string> = { 0x0002: 'MS ADPCM', 0x0003: 'IEEE float', 0x0011: 'IMA ADPCM', 0x0031: 'GSM 6.10', 0x0055: 'MPEG layer 3', 0x0064: 'G.726', 0x0065: 'G.722' };
/** Sample rates LAME takes in (it resamples to a rate of the MP3 bit rate). */
const MIN_RATE = 8000;
const MAX_RATE = 48000;

/**
 * Reads the RIFF chunks of a WAV file up to its `data` chunk: the fmt chunk (PCM 8/16-bit,
 * G.711 mu-law or A-law, plain or WAVE_FORMAT_EXTENSIBLE) and where the samples are. Throws a
 * PluginError: CONVERSION_UNSUPPORTED for a well-formed file of another encoding, CONVERSION_FAILED
 * for a file that is not a readable WAV.
 */
export function readWavFormat(fd: number, fileSize: number): WavFormat {
  const head = Buffer.alloc(12);
  if (fs.readSync(fd, head, 0, 12, 0) < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    throw new PluginError('CONVERSION_FAILED', 'not a RIFF/WAVE file');
  }
  let pos = 12;
  let fmt: Omit<WavFormat, 'dataOffset' | 'dataBytes'> | undefined;
  const chunk = Buffer.alloc(8);
  while (pos + 8 <= fileSize) {
    fs.readSync(fd, chunk, 0, 8, pos);
    const id = chunk.toString('latin1', 0, 4);
    const size = chunk.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > fileSize) throw new PluginError('CONVERSION_FAILED', `fmt chunk of ${size} bytes is truncated`);
      const b = Buffer.alloc(Math.min(size, 40));
      fs.readSync(fd, b, 0, b.length, body);
      fmt = parseFmt(b);
    } else if (id === 'data') {
      if (!fmt) throw new PluginError('CONVERSION_FAILED', 'data chunk before the fmt chunk');
      // A writer that never finished (0 or 0xffffffff, or a size past the end) leaves the rest of the file as its data.
      const left = fileSize - body;
      const bytes = size === 0 || size > left ? left : size;
      const dataBytes = bytes - (bytes % fmt.blockAlign);
      if (dataBytes <= 0) throw new PluginError('CONVERSION_FAILED', 'the data chunk holds no samples');
      return { ...fmt, dataOffset: body, dataBytes };
    }
    pos = body + size + (size & 1);
  }
  throw new PluginError('CONVERSION_FAILED', fmt ? 'no data chunk' : 'no fmt chunk');
}

function parseFmt(b: Buffer): Omit<WavFormat, 'dataOffset' | 'dataBytes'> {
  let tag = b.readUInt16LE(0);
  const channels = b.readUInt16LE(2);
  const sampleRate = b.readUInt32LE(4);
  const blockAlign = b.readUInt16LE(12);
  const bits = b.readUInt16LE(14);
  if (tag === FORMAT_TAG.EXTENSIBLE) {
    if (b.length < 40) throw new PluginError('CONVERSION_FAILED', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes');
    tag = b.readUInt16LE(24); // the sub-format GUID begins with the format tag
  }
  let encoding: WavEncoding;
  if (tag === FORMAT_TAG.PCM && bits === 16) encoding = 'pcm16';
  else if (tag === FORMAT_TAG.PCM && bits === 8) encoding = 'pcm8';
  else if (tag === FORMAT_TAG.MULAW && bits === 8) encoding = 'mulaw';
  else if (tag === FORMAT_TAG.ALAW && bits === 8) encoding = 'alaw';
  else {
    const name = tag === FORMAT_TAG.PCM ? `${bits}-bit PCM` : (FORMAT_NAMES[tag] ?? `format 0x${tag.toString(16).padStart(4, '0')}`);
    throw new PluginError('CONVERSION_UNSUPPORTED', `WAV encoding ${name} is not converted (16-bit or 8-bit PCM, mu-law and A-law are)`);
  }
  if (channels !== 1 && channels !== 2) throw new PluginError('CONVERSION_UNSUPPORTED', `WAV with ${channels} channels is not converted (mono and stereo are)`);
  if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) throw new PluginError('CONVERSION_UNSUPPORTED', `WAV at ${sampleRate} Hz is not converted (${MIN_RATE} to ${MAX_RATE} Hz are)`);
  if (blockAlign !== channels * (bits / 8)) throw new PluginError('CONVERSION_FAILED', `fmt block align ${blockAlign} does not fit ${channels} channels of ${bits} bits`);
  return { encoding, sampleRate, channels, blockAlign };
}

/**
 * Turns raw sample frames into mono samples in [-1, 1] (stereo is averaged). `bytes` holds whole
 * frames. The tables are made once per decoder.
 */
export class SampleDecoder {
  readonly #f: WavFormat;
  readonly #table: Int16Array | undefined;

  constructor(f: WavFormat) {
    this.#f = f;
    this.#table = f.encoding === 'mulaw' ? muLawTable() : f.encoding === 'alaw' ? aLawTable() : undefined;
  }

  decode(bytes: Buffer): Float32Array {
    const { channels, blockAlign, encoding } = this.#f;
    const frames = Math.floor(bytes.length / blockAlign);
    const out = new Float32Array(frames);
    const t = this.#table;
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) {
        if (encoding === 'pcm16') sum += bytes.readInt16LE(i * blockAlign + c * 2);
        else if (encoding === 'pcm8') sum += (bytes[i * blockAlign + c]! - 128) * 256;
        else sum += t![bytes[i * blockAlign + c]!]!;
      }
      out[i] = sum / channels / 32768;
    }
    return out;
  }
}
