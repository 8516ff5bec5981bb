import * as zlib from 'node:zlib';
import * as UTIF from 'utif2';
import { PluginError } from '../errors';
import { num, PdfWriter } from './pdf-writer';
import { readTiffDirectories, TAG, tag1, type TiffTags } from './tiff-directory';
import type { Converted } from './wav-to-mp3';

const COMPRESSION = { none: 1, g3: 3, g4: 4, lzw: 5, packbits: 32773 } as const;
const COMPRESSION_NAMES: Record<number, string> = { 1: 'uncompressed', 2: 'CCITT RLE', 3: 'G3', 4: 'G4', 5: 'LZW', 7: 'JPEG', 8: 'Deflate', 32773: 'PackBits' };
/** Fax page widths in pixels (A4/Letter, B4, A3 at 204 dpi): a page of this width without a resolution is read as fax fine. */
const FAX_WIDTHS = new Set([1728, 2048, 2432, 3456]);
/** Pixels of one page at most (a 600 dpi A3 page is 70 M): larger pages are not decoded. */
const MAX_PIXELS = 100_000_000;

/** Reverses the bit order of every byte (FillOrder 2: the least significant bit first). */
const REVERSED = Uint8Array.from({ length: 256 }, (_, i) => {
  let r = 0;
  for (let k = 0; k < 8; k++) if (i & (1 << k)) r |= 0x80 >> k;
  return r;
});

interface Page {
  width: number;
  height: number;
  xDpi: number;
  yDpi: number;
}

/** A page's resolution in dots per inch: from the tags, else fax fine (204 x 196) for a fax width, else 200 dpi. */
function resolution(t: TiffTags, width: number): { xDpi: number; yDpi: number } {
  const unit = tag1(t, TAG.ResolutionUnit, 2);
  const x = t.get(TAG.XResolution)?.[0];
  const y = t.get(TAG.YResolution)?.[0] ?? x;
  const guess = FAX_WIDTHS.has(width) ? 204 : 200;
  if (!x || !y || !Number.isFinite(x) || !Number.isFinite(y) || x <= 0 || y <= 0) return { xDpi: guess, yDpi: FAX_WIDTHS.has(width) ? 196 : 200 };
  if (unit === 1) return { xDpi: guess, yDpi: (guess * y) / x }; // no unit: only the aspect ratio is known
  const k = unit === 3 ? 2.54 : 1;
  return { xDpi: x * k, yDpi: y * k };
}

/**
 * Converts a TIFF (one page per image directory; reduced-resolution images skipped) to a PDF
 * with one page per TIFF page, sized from the page's X and Y resolution. CCITT G3 and G4 strips
 * of a page (one strip, as fax software writes them, or G3 strips that begin with an EOL) are
 * copied into the PDF as they are (CCITTFaxDecode, parameters from the TIFF tags), so nothing is
 * re-encoded and the PDF is about the size of the TIFF; anything else is decoded and embedded
 * losslessly (1-bit or 8-bit RGB, Flate).
 */
export function tiffToPdf(file: Buffer): Converted {
  const dirs = readTiffDirectories(file).filter((t) => (tag1(t, TAG.NewSubfileType, 0) & 1) === 0);
  if (dirs.length === 0) throw new PluginError('CONVERSION_FAILED', 'TIFF: no full-resolution page');
  const pdf = new PdfWriter();
  const catalog = pdf.reserve();
  const pages = pdf.reserve();
  const kids: number[] = [];
  const kinds = new Set<string>();
  for (const [i, t] of dirs.entries()) {
    const width = tag1(t, TAG.ImageWidth, 0);
    const height = tag1(t, TAG.ImageLength, 0);
    if (width <= 0 || height <= 0) throw new PluginError('CONVERSION_FAILED', `TIFF page ${i + 1}: no width or height`);
    if (width * height > MAX_PIXELS) throw new PluginError('CONVERSION_UNSUPPORTED', `TIFF page ${i + 1}: ${width} x ${height} pixels is larger than converted`);
    const offsets = t.get(TAG.StripOffsets) ?? t.get(TAG.TileOffsets) ?? [];
    const counts = t.get(TAG.StripByteCounts) ?? t.get(TAG.TileByteCounts) ?? [];
    if (offsets.length === 0 || offsets.some((o, s) => o + (counts[s] ?? 0) > file.length)) throw new PluginError('CONVERSION_FAILED', `TIFF page ${i + 1}: its image data lies outside the file`);
    const page: Page = { width, height, ...resolution(t, width) };
    const images = passThrough(file, t, page, i) ?? decoded(file, t, page, i);
    kinds.add(images.kind);
    const names: string[] = [];
    const draw: string[] = [];
    // Sizes are rounded down to the 1/10000 pt: a renderer at the page's own resolution then
    // covers exactly width x height pixels, where a hair more would make it repeat a column.
    const wPt = floorPt((width * 72) / page.xDpi);
    const rowPt = (r: number) => floorPt((r * 72) / page.yDpi);
    const hPt = rowPt(height);
    let row = 0;
    for (const [k, im] of images.parts.entries()) {
      const ref = pdf.stream(im.dict, im.data);
      names.push(`/Im${k} ${ref} 0 R`);
      // Each strip is a band of the page, drawn where its rows are (PDF counts y from the bottom).
      draw.push(`q ${num(wPt)} 0 0 ${num(rowPt(row + im.rows) - rowPt(row))} 0 ${num(hPt - rowPt(row + im.rows))} cm /Im${k} Do Q`);
      row += im.rows;
    }
    const content = pdf.stream('', Buffer.from(draw.join('\n'), 'latin1'));
    kids.push(pdf.object(`<< /Type /Page /Parent ${pages} 0 R /MediaBox [0 0 ${num(wPt)} ${num(hPt)}] /Resources << /XObject << ${names.join(' ')} >> >> /Contents ${content} 0 R >>`));
  }
  pdf.object(`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`, pages);
  pdf.object(`<< /Type /Catalog /Pages ${pages} 0 R >>`, catalog);
  return { chunks: pdf.finish(catalog), detail: `TIFF ${kids.length} page${kids.length === 1 ? '' : 's'} (${[...kinds].join(', ')}) -> PDF` };
}

/** True when CCITT data (most significant bit first) begins with an EOL: at least 11 zero bits, then a 1. */
function startsWithEol(b: Uint8Array): boolean {
  let zeros = 0;
  for (const byte of b) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    return zeros + Math.clz32(byte) - 24 >= 11;
  }
  return false;
}

const floorPt = (x: number) => Math.floor(x * 10_000) / 10_000;

interface Images {
  kind: string;
  parts: { dict: string; data: Uint8Array; rows: number }[];
}

/** The page's G3/G4 strips as CCITTFaxDecode images, when they can be copied as they are; undefined otherwise. */
function passThrough(file: Buffer, t: TiffTags, p: Page, index: number): Images | undefined {
  const compression = tag1(t, TAG.Compression, COMPRESSION.none);
  if (compression !== COMPRESSION.g3 && compression !== COMPRESSION.g4) return undefined;
  const photometric = tag1(t, TAG.Photometric, 0);
  const t4 = tag1(t, TAG.T4Options, 0);
  const t6 = tag1(t, TAG.T6Options, 0);
  if (tag1(t, TAG.BitsPerSample, 1) !== 1 || tag1(t, TAG.SamplesPerPixel, 1) !== 1 || t.has(TAG.TileWidth) || photometric > 1) return undefined;
  // Uncompressed mode inside CCITT data is something PDF readers handle unevenly: decode those.
  if ((compression === COMPRESSION.g3 && t4 & 2) || (compression === COMPRESSION.g4 && t6 & 2)) return undefined;
  // One image a page (drawn as one band per strip, band edges come out a pixel off in renderers).
  const offsets = t.get(TAG.StripOffsets);
  const counts = t.get(TAG.StripByteCounts);
  if (!offsets || !counts || offsets.length !== counts.length || offsets.length === 0) return undefined;
  for (let s = 0; s < offsets.length; s++) if (offsets[s]! + counts[s]! > file.length || counts[s] === 0) throw new PluginError('CONVERSION_FAILED', `TIFF page ${index + 1}: its data lies outside the file`);
  const lsbFirst = tag1(t, TAG.FillOrder, 1) === 2;
  const strips = offsets.map((o, s) => (lsbFirst ? file.subarray(o, o + counts[s]!).map((b) => REVERSED[b]!) : file.subarray(o, o + counts[s]!)));
  // A page in several strips is one image only where strips can simply follow each other: G3 whose
  // every strip starts with an EOL (each line then stands alone, and the zero bits padding a strip
  // are fill before the next EOL). G4 codes each line against the one before, strip by strip, so
  // such pages, like G3 strips without EOLs, are decoded instead (as tiff2pdf does).
  if (strips.length > 1 && (compression === COMPRESSION.g4 || !strips.every(startsWithEol))) return undefined;
  const k = compression === COMPRESSION.g4 ? -1 : t4 & 1 ? 1 : 0;
  const data: Uint8Array = strips.length === 1 ? strips[0]! : Buffer.concat(strips);
  // CCITT codes white and black runs; in MinIsBlack data the black runs are the light pixels.
  const params = [`/K ${k}`, `/Columns ${p.width}`, `/Rows ${p.height}`, '/EndOfBlock false', ...(photometric === 1 ? ['/BlackIs1 true'] : []), ...(k >= 0 && t4 & 4 ? ['/EncodedByteAlign true'] : [])];
  const parts = [{ rows: p.height, data, dict: `/Type /XObject /Subtype /Image /Width ${p.width} /Height ${p.height} /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /CCITTFaxDecode /DecodeParms << ${params.join(' ')} >>` }];
  return { kind: `${compression === COMPRESSION.g4 ? 'G4' : 'G3'} passed through`, parts };
}

/** The page decoded (UTIF) and embedded losslessly with Flate: 1-bit for bilevel pages, 8-bit RGB otherwise. */
function decoded(file: Buffer, t: TiffTags, p: Page, index: number): Images {
  const compression = tag1(t, TAG.Compression, COMPRESSION.none);
  const name = COMPRESSION_NAMES[compression] ?? `compression ${compression}`;
  const ifd: Record<string, unknown> = {};
  for (const [tag, values] of t) ifd[`t${tag}`] = values;
  ifd[`t${TAG.Photometric}`] ??= [0];
  let data: Uint8Array;
  let rgba: Uint8Array | undefined;
  const bilevel = tag1(t, TAG.BitsPerSample, 1) === 1 && tag1(t, TAG.SamplesPerPixel, 1) === 1 && tag1(t, TAG.Photometric, 0) <= 1;
  try {
    UTIF.decodeImage(file, ifd as unknown as UTIF.IFD);
    data = (ifd as unknown as UTIF.IFD).data;
    if (!bilevel) rgba = UTIF.toRGBA8(ifd as unknown as UTIF.IFD);
  } catch (e) {
    throw new PluginError('CONVERSION_FAILED', `TIFF page ${index + 1}: ${name} data could not be decoded (${(e as Error)?.message ?? String(e)})`);
  }
  if (bilevel) {
    const need = Math.ceil(p.width / 8) * p.height;
    if (!data || data.length < need) throw new PluginError('CONVERSION_FAILED', `TIFF page ${index + 1}: ${name} data decoded to ${data?.length ?? 0} of ${need} bytes`);
    // WhiteIsZero: a 1 bit is black, and DeviceGray's 1 is white, so the image is drawn with Decode [1 0].
    const invert = tag1(t, TAG.Photometric, 0) === 0 ? ' /Decode [1 0]' : '';
    return { kind: `${name} decoded`, parts: [{ rows: p.height, data: zlib.deflateSync(data.subarray(0, need)), dict: `/Type /XObject /Subtype /Image /Width ${p.width} /Height ${p.height} /ColorSpace /DeviceGray /BitsPerComponent 1${invert} /Filter /FlateDecode` }] };
  }
  if (!rgba || rgba.length < p.width * p.height * 4) throw new PluginError('CONVERSION_FAILED', `TIFF page ${index + 1}: ${name} data could not be decoded to colour`);
  const rgb = Buffer.alloc(p.width * p.height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return { kind: `${name} decoded`, parts: [{ rows: p.height, data: zlib.deflateSync(rgb), dict: `/Type /XObject /Subtype /Image /Width ${p.width} /Height ${p.height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode` }] };
}
