import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { fax, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { makeBitmap, makeTiff, pdfPages, pixelDifference, renderPage, tiffcp, type TiffPage } from '../helpers/media-fixtures';
import { testCa, type TestSmtp } from '../helpers/smtp';

const TENANT = 'fax.example.com';
const FINE = { xDpi: 204, yDpi: 196 };
const STANDARD = { xDpi: 204, yDpi: 98 };

describe('media: fax TIFF to PDF, checked with an independent reader and renderer (poppler)', () => {
  const h = new Harness();
  let smtp: TestSmtp;
  let root: string;
  let tmp: string;

  before(async () => {
    smtp = await h.smtp();
    root = h.tmpdir('media-fax-');
    tmp = h.tmpdir('media-fax-out-');
    const cfg = tenantConfig(testCa().cert, { [TENANT]: { port: smtp.port }, 'tiff.example.com': { port: smtp.port } }, { attachmentRoots: [root] });
    cfg.tenants['tiff.example.com'].attachments = { faxFormat: 'original' };
    await h.start(cfg);
  });

  after(() => h.dispose());

  /** Pages at fax width (1728 px), short to keep the test quick; `res` per page. */
  const pages = (res: { xDpi: number; yDpi: number }[], seed: number, minIsBlack = false): TiffPage[] => res.map((r, i) => ({ bitmap: makeBitmap(1728, 160 + 40 * i, seed + i), ...r, minIsBlack }));

  const cases: { name: string; compression: string; res: { xDpi: number; yDpi: number }[]; rowsPerStrip?: number; fillOrder?: 'lsb2msb'; minIsBlack?: boolean; passThrough: boolean }[] = [
    { name: 'G4, 3 pages, fine', compression: 'g4', res: [FINE, FINE, FINE], passThrough: true },
    { name: 'G4, 1 page, standard', compression: 'g4', res: [STANDARD], passThrough: true },
    { name: 'G4, 2 pages fine and standard, LSB-first fill order', compression: 'g4', res: [FINE, STANDARD], fillOrder: 'lsb2msb', passThrough: true },
    { name: 'G3 1-D, 3 pages, standard', compression: 'g3', res: [STANDARD, STANDARD, STANDARD], passThrough: true },
    { name: 'G3 2-D with EOL fill, 2 pages, fine', compression: 'g3:2d:fill', res: [FINE, FINE], passThrough: true },
    { name: 'G3 1-D, 1 page, fine', compression: 'g3', res: [FINE], passThrough: true },
    { name: 'G4, 2 pages, BlackIsZero', compression: 'g4', res: [FINE, STANDARD], minIsBlack: true, passThrough: true },
    { name: 'G3 2-D, 1 page, BlackIsZero', compression: 'g3:2d', res: [STANDARD], minIsBlack: true, passThrough: true },
    { name: 'G4 in strips of 37 rows, 2 pages', compression: 'g4', res: [FINE, STANDARD], rowsPerStrip: 37, passThrough: false },
    { name: 'G3 1-D in strips of 37 rows, 2 pages', compression: 'g3', res: [FINE, STANDARD], rowsPerStrip: 37, passThrough: true },
    { name: 'G3 2-D with EOL fill in strips of 50 rows, LSB-first, 1 page', compression: 'g3:2d:fill', res: [FINE], rowsPerStrip: 50, fillOrder: 'lsb2msb', passThrough: true },
    { name: 'LZW, 2 pages', compression: 'lzw', res: [FINE, STANDARD], passThrough: false },
    { name: 'PackBits, 1 page', compression: 'packbits', res: [FINE], passThrough: false },
    { name: 'uncompressed, 2 pages', compression: 'none', res: [STANDARD, FINE], passThrough: false },
  ];

  it(`converts ${cases.length} TIFFs (G3 1-D and 2-D, G4, LZW, PackBits, uncompressed; fine and standard; WhiteIsZero and BlackIsZero) to PDFs with the same pages, page sizes and pixels`, async () => {
    const sent = cases.map((c, i) => {
      const src = pages(c.res, 10 * i + 1, c.minIsBlack);
      const raw = path.join(tmp, `src-${i}.tif`);
      fs.writeFileSync(raw, makeTiff(src));
      const file = path.join(root, `fax-${i}.tif`);
      tiffcp(raw, file, c.compression, { rowsPerStrip: c.rowsPerStrip ?? 100_000, ...(c.fillOrder && { fillOrder: c.fillOrder }) });
      return { c, src, file, event: fax(TENANT, {}, { pages: src.length, document: { path: file, contentType: 'image/tiff' } }) };
    });
    for (const s of sent) await h.host.send(s.event);
    await h.host.until((em) => em.filter((x) => x.type === 'email.delivered').length >= sent.length, 30_000);
    for (const [i, s] of sent.entries()) {
      const mail = smtp.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === s.event.id)!;
      expect(mail.parsed.attachments, s.c.name).to.have.length(1);
      const att = mail.parsed.attachments[0]!;
      expect(att.contentType, s.c.name).to.equal('application/pdf');
      expect(att.filename, s.c.name).to.match(/^fax-\d{8}-\d{6}-\d+\.pdf$/);
      expect(mail.parsed.text, s.c.name).to.include(`(${att.filename}, `);
      const pdf = path.join(tmp, `out-${i}.pdf`);
      fs.writeFileSync(pdf, att.content);
      const info = pdfPages(pdf);
      expect(info.pages, s.c.name).to.equal(s.src.length);
      for (const [p, page] of s.src.entries()) {
        const what = `${s.c.name}, page ${p + 1}`;
        expect(info.sizes[p]!.w, what).to.be.closeTo((page.bitmap.width * 72) / page.xDpi, 0.01);
        expect(info.sizes[p]!.h, what).to.be.closeTo((page.bitmap.height * 72) / page.yDpi, 0.01);
        const rendered = renderPage(pdf, p + 1, page.xDpi, page.yDpi, path.join(tmp, `r-${i}-${p}`));
        expect(pixelDifference(rendered, page.bitmap), what).to.equal(0);
      }
      const tiffSize = fs.statSync(s.file).size;
      if (s.c.passThrough) {
        // The CCITT data is copied, not re-encoded: the PDF is the TIFF's size plus about 600 bytes of PDF structure a page.
        expect(att.content.includes('/CCITTFaxDecode'), s.c.name).to.equal(true);
        expect(att.size, s.c.name).to.be.below(tiffSize + 700 * s.src.length);
      } else {
        expect(att.content.includes('/FlateDecode'), s.c.name).to.equal(true);
      }
    }
    expect(h.plugin.mediaStats()).to.include({ converted: cases.length, failed: 0 });
    expect(h.host.logs.filter((l) => String(l.fields?.code ?? '').startsWith('CONVERSION_'))).to.deep.equal([]);
  });

  it('a PDF handed over stays as it is; faxFormat "original" attaches the TIFF as it came', async () => {
    const pdf = path.join(root, 'given.pdf');
    const bytes = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
    fs.writeFileSync(pdf, bytes);
    const a = await h.deliver(smtp, fax(TENANT, {}, { document: { path: pdf, contentType: 'application/pdf' } }));
    expect(a.parsed.attachments[0]!.contentType).to.equal('application/pdf');
    expect(a.parsed.attachments[0]!.content.equals(bytes)).to.equal(true);

    const raw = path.join(tmp, 'orig.tif');
    fs.writeFileSync(raw, makeTiff(pages([FINE], 99)));
    const tif = path.join(root, 'orig-g4.tif');
    tiffcp(raw, tif, 'g4');
    const b = await h.deliver(smtp, fax('tiff.example.com', {}, { document: { path: tif, contentType: 'image/tiff' } }));
    expect(b.parsed.attachments[0]!.contentType).to.equal('image/tiff');
    expect(b.parsed.attachments[0]!.filename).to.match(/\.tif$/);
    expect(b.parsed.attachments[0]!.content.equals(fs.readFileSync(tif))).to.equal(true);
  });
});
