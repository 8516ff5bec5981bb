/** MPEG audio Layer III frame headers: enough to walk a stream LAME wrote and to build its Info tag frame. */

const BITRATES_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

export interface FrameHeader {
  /** 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5 (the header's version bits). */
  version: 0 | 2 | 3;
  bitrateKbps: number;
  sampleRate: number;
  mono: boolean;
  /** Bytes of the whole frame, header included. */
  length: number;
  /** PCM samples one frame carries per channel. */
  samples: number;
  /** Bytes of the side information after the header. */
  sideInfo: number;
}

/** The Layer III frame header at `at`, or undefined when there is none. */
export function frameHeader(b: Uint8Array, at: number): FrameHeader | undefined {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return undefined;
  const version = (b[at + 1]! >> 3) & 3;
  const layer = (b[at + 1]! >> 1) & 3;
  const bri = b[at + 2]! >> 4;
  const sri = (b[at + 2]! >> 2) & 3;
  if (version === 1 || layer !== 1 || bri === 0 || bri === 15 || sri === 3) return undefined;
  const v = version as 0 | 2 | 3;
  const bitrateKbps = (v === 3 ? BITRATES_V1 : BITRATES_V2)[bri]!;
  const sampleRate = RATES[v]![sri]!;
  const padding = (b[at + 2]! >> 1) & 1;
  const mono = b[at + 3]! >> 6 === 3;
  const length = Math.floor(((v === 3 ? 144 : 72) * bitrateKbps * 1000) / sampleRate) + padding;
  return { version: v, bitrateKbps, sampleRate, mono, length, samples: v === 3 ? 1152 : 576, sideInfo: v === 3 ? (mono ? 17 : 32) : mono ? 9 : 17 };
}

/** Counts the frames of a stream of whole Layer III frames; undefined when it is not one. */
export function countFrames(b: Uint8Array): { frames: number; first: FrameHeader } | undefined {
  const first = frameHeader(b, 0);
  if (!first) return undefined;
  let frames = 0;
  for (let at = 0; at < b.length; frames++) {
    const h = frameHeader(b, at);
    if (!h) return undefined;
    at += h.length;
  }
  return { frames, first };
}
