import { PluginError } from '../errors';

/** The tags of one TIFF image file directory, by number, each as a list of numbers (rationals divided out). */
export type TiffTags = Map<number, number[]>;

/** Tag numbers the fax conversion reads. */
export const TAG = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  FillOrder: 266,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfiguration: 284,
  T4Options: 292,
  T6Options: 293,
  ResolutionUnit: 296,
  Predictor: 317,
  ColorMap: 320,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
} as const;

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4 };
/** More pages than any fax has: a directory chain longer than this is refused rather than walked. */
const MAX_PAGES = 1000;
/** Values read per tag at most (a fax page has a few hundred strips at most). */
const MAX_VALUES = 1 << 20;

/**
 * Reads the chain of image file directories of a TIFF file (classic TIFF, either byte order),
 * bounds-checked and cycle-safe. Throws CONVERSION_FAILED for a file that is not a readable TIFF.
 */
export function readTiffDirectories(b: Buffer): TiffTags[] {
  const fail = (why: string) => new PluginError('CONVERSION_FAILED', `TIFF: ${why}`);
  if (b.length < 8) throw fail('shorter than its header');
  const order = b.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw fail('no byte-order mark');
  const le = order === 'II';
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u16(2) === 43) throw new PluginError('CONVERSION_UNSUPPORTED', 'BigTIFF is not converted');
  if (u16(2) !== 42) throw fail('wrong magic number');
  const seen = new Set<number>();
  const out: TiffTags[] = [];
  for (let at = u32(4); at !== 0; ) {
    if (seen.has(at)) throw fail('the directory chain loops');
    if (out.length >= MAX_PAGES) throw fail(`more than ${MAX_PAGES} directories`);
    seen.add(at);
    if (at + 2 > b.length) throw fail(`directory at ${at} is past the end of the file`);
    const n = u16(at);
    if (at + 2 + n * 12 + 4 > b.length) throw fail(`directory at ${at} is truncated`);
    const tags: TiffTags = new Map();
    for (let i = 0; i < n; i++) {
      const e = at + 2 + i * 12;
      const tag = u16(e);
      const type = u16(e + 2);
      const count = u32(e + 4);
      const size = TYPE_SIZE[type];
      if (!size || count === 0 || count > MAX_VALUES) continue; // unknown types are skipped, as the TIFF spec asks
      const bytes = size * count;
      const vo = bytes <= 4 ? e + 8 : u32(e + 8);
      if (vo + bytes > b.length) throw fail(`tag ${tag} points past the end of the file`);
      const values: number[] = [];
      for (let j = 0; j < count; j++) {
        const o = vo + j * size;
        if (type === 3) values.push(u16(o));
        else if (type === 4 || type === 13) values.push(u32(o));
        else if (type === 5) values.push(u32(o) / (u32(o + 4) || 1));
        else if (type === 1 || type === 7) values.push(b[o]!);
        else if (type === 8) values.push(le ? b.readInt16LE(o) : b.readInt16BE(o));
        else if (type === 9) values.push(le ? b.readInt32LE(o) : b.readInt32BE(o));
        else if (type === 10) values.push((le ? b.readInt32LE(o) : b.readInt32BE(o)) / ((le ? b.readInt32LE(o + 4) : b.readInt32BE(o + 4)) || 1));
        else if (type === 11) values.push(le ? b.readFloatLE(o) : b.readFloatBE(o));
        else if (type === 12) values.push(le ? b.readDoubleLE(o) : b.readDoubleBE(o));
        else values.push(b[o]!);
      }
      tags.set(tag, values);
    }
    out.push(tags);
    at = u32(at + 2 + n * 12);
  }
  if (out.length === 0) throw fail('no image directory');
  return out;
}

/** The first value of a tag, or `fallback`. */
export function tag1(t: TiffTags, tag: number, fallback: number): number {
  return t.get(tag)?.[0] ?? fallback;
}
