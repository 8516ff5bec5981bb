import type * as fs from 'node:fs';

/** The types whose first bytes we recognise, by canonical MIME type. */
const SIGNATURES: { type: string; aliases: string[]; test: (b: Buffer) => boolean }[] = [
  { type: 'audio/wav', aliases: ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'], test: (b) => ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE') },
  {
    type: 'audio/mpeg',
    aliases: ['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg-3'],
    // An ID3v2 tag, or an MPEG audio frame sync (11 set bits, layer bits not 00).
    test: (b) => ascii(b, 0, 'ID3') || (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0),
  },
  { type: 'audio/ogg', aliases: ['audio/ogg', 'audio/opus', 'application/ogg'], test: (b) => ascii(b, 0, 'OggS') },
  { type: 'application/pdf', aliases: ['application/pdf', 'application/x-pdf'], test: (b) => ascii(b, 0, '%PDF-') },
  { type: 'image/tiff', aliases: ['image/tiff', 'image/tif', 'image/x-tiff'], test: (b) => b.subarray(0, 4).equals(Buffer.from('II*\0', 'latin1')) || b.subarray(0, 4).equals(Buffer.from('MM\0*', 'latin1')) },
];

function ascii(b: Buffer, at: number, s: string): boolean {
  return b.length >= at + s.length && b.toString('latin1', at, at + s.length) === s;
}

export interface SniffResult {
  /** The type the mail declares: the recognised one, else application/octet-stream. */
  contentType: string;
  /** True when the event's declared type was replaced. */
  corrected: boolean;
}

/**
 * Checks a declared content type against the file's first bytes (WAV, MP3, Ogg, PDF, TIFF). A file
 * is never refused for its type: a recognised file is declared as what it is (an MP3 labelled
 * audio/wav becomes audio/mpeg), and a file we cannot recognise is declared
 * application/octet-stream, so a mislabelled file never reaches a mail client as audio, a PDF
 * or an image, and an event can never declare text/html or the like for its attachment.
 */
export function classifyContent(declared: string, head: Buffer): SniffResult {
  const lower = declared.toLowerCase();
  const found = SIGNATURES.find((s) => s.test(head));
  if (found) return { contentType: found.aliases.includes(lower) ? lower : found.type, corrected: !found.aliases.includes(lower) };
  return { contentType: 'application/octet-stream', corrected: lower !== 'application/octet-stream' };
}

/** Reads the first bytes of an open file (at position 0, without moving any stream) and classifies them. */
export async function sniffContentType(handle: fs.promises.FileHandle, declared: string): Promise<SniffResult> {
  const head = Buffer.alloc(16);
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  return classifyContent(declared, head.subarray(0, bytesRead));
}
