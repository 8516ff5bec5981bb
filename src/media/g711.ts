/** G.711 expansion tables (ITU-T G.711): each 8-bit code to its 16-bit linear sample. */

function muLaw(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function aLaw(code: number): number {
  const a = code ^ 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  t = seg === 0 ? t + 8 : seg === 1 ? t + 0x108 : (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

/** The 256 linear values of mu-law codes. */
export function muLawTable(): Int16Array {
  return Int16Array.from({ length: 256 }, (_, i) => muLaw(i));
}

/** The 256 linear values of A-law codes. */
export function aLawTable(): Int16Array {
  return Int16Array.from({ length: 256 }, (_, i) => aLaw(i));
}
