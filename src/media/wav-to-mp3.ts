import * as fs from 'node:fs';
import type { WasmMediaEncoder } from 'wasm-media-encoders';
import { PluginError } from '../errors';
import { countFrames } from './mp3-frames';
import { crc16, infoTagFrame } from './mp3-info-tag';
import { readWavFormat, SampleDecoder } from './wav-decoder';

export type Mp3Encoder = WasmMediaEncoder<'audio/mpeg'>;
type Bitrate = NonNullable<Parameters<Mp3Encoder['configure']>[0]['bitrate']>;

/** Sample frames read and encoded at a time: bounded memory whatever the recording's length. */
const BLOCK_FRAMES = 16_384;

export interface Converted {
  /** The output file's bytes, in order. */
  chunks: Uint8Array[];
  /** What was converted, for the log: "WAV mu-law 8000 Hz mono, 60.0 s → MP3 32 kbit/s 8000 Hz". */
  detail: string;
}

/**
 * Converts a WAV recording (16-bit or 8-bit PCM, G.711 mu-law or A-law, mono or stereo, 8 to
 * 48 kHz) to a mono constant-bit-rate MP3 with LAME (WebAssembly), reading the samples a block at
 * a time. Stereo is averaged to mono; LAME resamples when the bit rate wants a lower rate. The MP3
 * starts with an Info/LAME tag frame (true duration, gapless playback).
 */
export function wavToMp3(input: string, bitrateKbps: number, encoder: Mp3Encoder): Converted {
  const fd = fs.openSync(input, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const f = readWavFormat(fd, size);
    const decoder = new SampleDecoder(f);
    encoder.configure({ channels: 1, sampleRate: f.sampleRate, bitrate: bitrateKbps as Bitrate });
    const audio: Uint8Array[] = [];
    const block = Buffer.alloc(BLOCK_FRAMES * f.blockAlign);
    let samples = 0;
    for (let pos = 0; pos < f.dataBytes; ) {
      const want = Math.min(block.length, f.dataBytes - pos);
      const got = fs.readSync(fd, block, 0, want, f.dataOffset + pos);
      if (got === 0) break;
      const whole = got - (got % f.blockAlign);
      const mono = decoder.decode(block.subarray(0, whole));
      samples += mono.length;
      audio.push(Uint8Array.from(encoder.encode([mono]))); // the encoder owns its buffer: copied
      pos += got;
    }
    audio.push(Uint8Array.from(encoder.finalize()));
    const stream = Buffer.concat(audio);
    const walk = countFrames(stream);
    if (!walk) throw new PluginError('CONVERSION_FAILED', 'the MP3 encoder produced no valid frames');
    const outSamples = Math.round((samples * walk.first.sampleRate) / f.sampleRate);
    const tag = infoTagFrame({ first: walk.first, firstBytes: stream.subarray(0, 4), frames: walk.frames, audioBytes: stream.length, audioCrc: crc16(stream), samples: outSamples });
    const seconds = samples / f.sampleRate;
    const name = { pcm16: '16-bit PCM', pcm8: '8-bit PCM', mulaw: 'mu-law', alaw: 'A-law' }[f.encoding];
    return {
      chunks: tag ? [tag, stream] : [stream],
      detail: `WAV ${name} ${f.sampleRate} Hz ${f.channels === 1 ? 'mono' : 'stereo'}, ${seconds.toFixed(1)} s -> MP3 ${walk.first.bitrateKbps} kbit/s ${walk.first.sampleRate} Hz mono`,
    };
  } finally {
    fs.closeSync(fd);
  }
}
