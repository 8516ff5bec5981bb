/**
 * Writes a minimal PDF 1.4 file: numbered objects, streams, a cross-reference table and a
 * trailer. Enough for pages of images; no fonts, no compression of its own (streams come encoded).
 */
export class PdfWriter {
  readonly #chunks: Buffer[] = [];
  readonly #offsets: number[] = [];
  #length = 0;
  #next = 1;

  constructor() {
    // The binary comment tells transfer tools the file is binary.
    this.#push(Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'));
  }

  /** Reserves an object number, written later with `object` or `stream`. */
  reserve(): number {
    return this.#next++;
  }

  /** Writes object `n` (from reserve(), or a new one) as the dictionary or value `body`. */
  object(body: string, n = this.reserve()): number {
    this.#offsets[n] = this.#length;
    this.#push(Buffer.from(`${n} 0 obj\n${body}\nendobj\n`, 'latin1'));
    return n;
  }

  /** Writes a stream object: `dict` is the dictionary's inside, without /Length. */
  stream(dict: string, data: Uint8Array, n = this.reserve()): number {
    this.#offsets[n] = this.#length;
    this.#push(Buffer.from(`${n} 0 obj\n<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'));
    this.#push(Buffer.from(data.buffer, data.byteOffset, data.length));
    this.#push(Buffer.from('\nendstream\nendobj\n', 'latin1'));
    return n;
  }

  /** The file's bytes, with `root` as the document catalog. */
  finish(root: number): Buffer[] {
    const size = this.#next;
    const xrefAt = this.#length;
    const lines = [`xref\n0 ${size}\n`, '0000000000 65535 f \n'];
    for (let n = 1; n < size; n++) {
      const o = this.#offsets[n];
      if (o === undefined) throw new Error(`PDF object ${n} was reserved and never written`);
      lines.push(`${String(o).padStart(10, '0')} 00000 n \n`);
    }
    lines.push(`trailer\n<< /Size ${size} /Root ${root} 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`);
    this.#push(Buffer.from(lines.join(''), 'latin1'));
    return this.#chunks;
  }

  #push(b: Buffer): void {
    this.#chunks.push(b);
    this.#length += b.length;
  }
}

/** A number as PDF writes it: at most 4 decimals, no exponent. */
export function num(x: number): string {
  return (Math.round(x * 10_000) / 10_000).toString();
}
