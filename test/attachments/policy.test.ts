import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { eid, fax, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const wav = (n: number) => Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.alloc(n - 16, 1)]);

describe('attachment policy: size limit, link instead of file, content type from the bytes', () => {
  let smtp: TestSmtp;
  const h = new Harness();
  let root: string;

  before(async () => {
    const ca = testCa();
    smtp = await h.smtp();
    root = h.tmpdir('att-policy-');
    const cfg = tenantConfig(ca.cert, { 'small.example.com': { port: smtp.port }, 'plain.example.com': { port: smtp.port } }, { attachmentRoots: [root] });
    cfg.tenants['small.example.com'].attachments = { maxBytes: 1000, recordingUrl: 'https://pbx.example.net/vm/{tenant}/{eventId}?ext={extension}', faxUrl: 'https://pbx.example.net/fax/{eventId}' };
    await h.start(cfg);
  });

  after(() => h.dispose());

  const mailFor = async (eventId: string) => {
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === eventId));
    const messageId = h.host.of('email.delivered', eventId)[0]!.payload.messageId;
    return smtp.mails.find((m) => m.parsed.messageId === messageId)!;
  };

  it('above maxBytes the mail goes without the file, says so, and links to it with URL-encoded placeholders', async () => {
    const file = path.join(root, 'big.wav');
    fs.writeFileSync(file, wav(5000));
    const e = voicemail('small.example.com', { id: eid('vm/../?#&') }, { recipient: { extension: '2 01', email: ['a@small.example.com'] }, recording: { path: file, contentType: 'audio/wav' } });
    await h.host.send(e);
    const m = await mailFor(e.id);
    expect(m.parsed.attachments).to.have.length(0);
    const url = `https://pbx.example.net/vm/small.example.com/${encodeURIComponent(e.id)}?ext=2%2001`;
    expect(m.parsed.text).to.include('too large to attach');
    expect(m.parsed.text).to.include(url);
    const hrefs = (String(m.parsed.html).match(/href="[^"]*"/g) ?? []).map((h) => h.slice(6, -1).replace(/&#x3D;/g, '=').replace(/&amp;/g, '&'));
    expect(hrefs).to.include(url);
  });

  it('at or below maxBytes the file is attached; a fax over the limit links with faxUrl', async () => {
    const small = path.join(root, 'small.wav');
    fs.writeFileSync(small, wav(1000));
    const e = voicemail('small.example.com', {}, { recording: { path: small, contentType: 'audio/wav' } });
    await h.host.send(e);
    const m = await mailFor(e.id);
    expect(m.parsed.attachments).to.have.length(1);
    expect(m.parsed.attachments[0]!.size).to.equal(1000);
    expect(m.parsed.text).to.not.include('too large');

    const pdf = path.join(root, 'fax.pdf');
    fs.writeFileSync(pdf, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(3000, 0x20)]));
    const f = fax('small.example.com', {}, { document: { path: pdf, contentType: 'application/pdf' } });
    await h.host.send(f);
    const fm = await mailFor(f.id);
    expect(fm.parsed.attachments).to.have.length(0);
    expect(fm.parsed.text).to.include(`https://pbx.example.net/fax/${encodeURIComponent(f.id)}`);
  });

  it('the default limit is 10 MB', async () => {
    const over = path.join(root, 'over.wav');
    fs.writeFileSync(over, wav(10 * 1024 * 1024 + 1));
    const e = voicemail('plain.example.com', {}, { recording: { path: over, contentType: 'audio/wav' } });
    await h.host.send(e);
    const m = await mailFor(e.id);
    expect(m.parsed.attachments).to.have.length(0);
    expect(m.parsed.text).to.include('too large to attach');
    expect(m.parsed.text).to.not.include('http');
  });

  it('declared types are checked against the bytes: a mislabelled MP3 goes as audio/mpeg, anything unrecognised as application/octet-stream', async () => {
    const cases = [
      { name: 'really.mp3', bytes: Buffer.concat([Buffer.from('ID3\x04\0\0\0\0\0\0', 'latin1'), Buffer.alloc(200, 0)]), declared: 'audio/wav', type: 'audio/mpeg', ext: '.mp3' },
      { name: 'page.html', bytes: Buffer.from('<html><script>alert(1)</script></html>'), declared: 'application/pdf', type: 'application/octet-stream', ext: '.bin' },
      { name: 'evil.html', bytes: Buffer.from('<html><script>alert(1)</script></html>'), declared: 'text/html', type: 'application/octet-stream', ext: '.bin' },
      { name: 'ok.wav', bytes: wav(300), declared: 'audio/x-wav', type: 'audio/x-wav', ext: '.wav' },
    ];
    for (const c of cases) {
      const file = path.join(root, c.name);
      fs.writeFileSync(file, c.bytes);
      const e = voicemail('plain.example.com', {}, { recording: { path: file, contentType: c.declared } });
      await h.host.send(e);
      const m = await mailFor(e.id);
      expect(m.parsed.attachments[0]!.contentType, c.name).to.equal(c.type);
      expect(m.parsed.attachments[0]!.filename, c.name).to.match(new RegExp(`^voicemail-\\d{8}-\\d{6}-\\d+\\${c.ext}$`));
      expect(m.parsed.attachments[0]!.content.equals(c.bytes), c.name).to.equal(true);
    }
    const warn = h.host.logs.filter((l) => l.msg.startsWith('attachment content does not match'));
    expect(warn.map((l) => l.fields?.field)).to.deep.equal(['/data/recording/contentType', '/data/recording/contentType', '/data/recording/contentType']);
  });
});
