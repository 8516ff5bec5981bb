import type { FrameHeader } from './mp3-frames';

/** LAME's encoder delay in output samples (ENCDELAY); decoders add their own 529. */
export const LAME_ENCODER_DELAY = 576;

/** CRC-16 as LAME computes it for its tag (polynomial 0x8005, reflected: CRC-16/ARC). */
export function crc16(b: Uint8Array, crc = 0): number {
  for (const byte of b) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc & 0xffff;
}

export interface InfoTagInput {
  /** The header of the stream's first frame: the tag frame is a frame of the same kind. */
  first: FrameHeader;
  /** Header bytes of the first frame. */
  firstBytes: Uint8Array;
  frames: number;
  /** Bytes of the audio frames (the tag frame not counted). */
  audioBytes: number;
  /** CRC-16 of the audio frames. */
  audioCrc: number;
  /** Samples at the output rate, per channel, that the stream holds (the rest is delay and padding). */
  samples: number;
}

/**
 * A "Info" (CBR Xing) frame with a LAME extension, placed before the audio frames so players show
 * the true duration and gapless decoders (mpg123, ffmpeg, browsers) drop LAME's encoder delay and
 * the last frame's padding: a 3 s recording plays 3 s, not 3.2. Undefined when the frame is too
 * small to hold the tag (very low bit rates).
 */
export function infoTagFrame(t: InfoTagInput): Uint8Array | undefined {
  const { first } = t;
  // The same header without CRC protection and padding: a valid, silent frame of the stream's kind.
  const header = Uint8Array.from(t.firstBytes.subarray(0, 4));
  header[1]! |= 0x01;
  header[2]! &= ~0x02;
  const length = first.length - (((t.firstBytes[2]! >> 1) & 1) === 1 ? 1 : 0);
  const at = 4 + first.sideInfo;
  const withToc = at + 120 + 36 <= length;
  if (!withToc && at + 16 + 36 > length) return undefined;
  const f = new Uint8Array(length);
  const v = new DataView(f.buffer);
  f.set(header, 0);
  let p = at;
  f.set(Buffer.from('Info', 'latin1'), p);
  v.setUint32(p + 4, withToc ? 0x0f : 0x03);
  v.setUint32(p + 8, t.frames);
  v.setUint32(p + 12, length + t.audioBytes);
  p += 16;
  if (withToc) {
    // CBR: byte offsets grow evenly with time.
    for (let i = 0; i < 100; i++) f[p + i] = Math.floor((i * 256) / 100);
    p += 100;
    v.setUint32(p, 0); // quality: not given
    p += 4;
  }
  const lame = p;
  f.set(Buffer.from('LAME3.100', 'latin1'), p);
  f[p + 9] = 0x01; // tag revision 0, CBR
  f[p + 20] = Math.min(255, first.bitrateKbps);
  const padding = Math.max(0, t.frames * first.samples - LAME_ENCODER_DELAY - t.samples);
  const delayPadding = (Math.min(LAME_ENCODER_DELAY, 0xfff) << 12) | Math.min(padding, 0xfff);
  f[p + 21] = (delayPadding >> 16) & 0xff;
  f[p + 22] = (delayPadding >> 8) & 0xff;
  f[p + 23] = delayPadding & 0xff;
  v.setUint32(p + 28, length + t.audioBytes);
  v.setUint16(p + 32, t.audioCrc);
  v.setUint16(lame + 34, crc16(f.subarray(0, lame + 34)));
  return f;
}
