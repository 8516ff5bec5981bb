import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { fax, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { makeWav } from '../helpers/media-fixtures';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const T = 'fallback.example.com';

/** The size in kB a mail's text gives, read with `re` (its group 1 is the number). */
function shownKb(text: string | undefined, re: RegExp): number {
  const m = re.exec(text ?? '');
  if (!m) throw new Error(`no size matching ${re} in ${JSON.stringify(text)}`);
  return Number(m[1]!.replace(',', '.'));
}

describe('media: what is not converted goes as it came, a converted file is made once, and the size policy sees the converted file', () => {
  const h = new Harness();
  let smtp: TestSmtp;
  let root: string;
  const rcptErrors: Record<string, number> = {};

  before(async () => {
    smtp = await h.smtp({ rcptErrors });
    root = h.tmpdir('media-fallback-');
    const cfg = tenantConfig(testCa().cert, { [T]: { port: smtp.port }, 'tiny.example.com': { port: smtp.port }, 'limit.example.com': { port: smtp.port } }, { attachmentRoots: [root] });
    cfg.tenants['tiny.example.com'].attachments = { conversionTimeoutMs: 1 };
    cfg.tenants['limit.example.com'].attachments = { maxBytes: 60_000 };
    await h.start(cfg);
  });

  after(() => h.dispose());

  const conversionLogs = (eventId: string) => h.host.logs.filter((l) => l.fields?.eventId === eventId && String(l.fields?.code ?? '').startsWith('CONVERSION_'));

  async function sendFile(tenant: string, name: string, bytes: Buffer, kind: 'recording' | 'document', contentType: string) {
    const file = path.join(root, name);
    fs.writeFileSync(file, bytes);
    const e = kind === 'recording' ? voicemail(tenant, {}, { recording: { path: file, contentType } }) : fax(tenant, {}, { document: { path: file, contentType } });
    return { e, mail: await h.deliver(smtp, e) };
  }

  it('a damaged WAV and a damaged TIFF are attached as they came, each with one CONVERSION_FAILED log line naming the event', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF\x24\x10\0\0WAVEfmt \x08\0\0\0', 'latin1'), Buffer.alloc(4096, 7)]);
    const a = await sendFile(T, 'broken.wav', wav, 'recording', 'audio/wav');
    expect(a.mail.parsed.attachments[0]!.contentType).to.equal('audio/wav');
    expect(a.mail.parsed.attachments[0]!.content.equals(wav)).to.equal(true);
    expect(conversionLogs(a.e.id).map((l) => [l.level, l.fields!.code, l.fields!.role])).to.deep.equal([['warn', 'CONVERSION_FAILED', 'recording']]);
    expect(String(conversionLogs(a.e.id)[0]!.fields!.reason)).to.include('fmt chunk');

    const tiff = Buffer.concat([Buffer.from('II*\0\x08\0\0\0\xff\xff', 'latin1'), Buffer.alloc(500, 3)]);
    const b = await sendFile(T, 'broken.tif', tiff, 'document', 'image/tiff');
    expect(b.mail.parsed.attachments[0]!.contentType).to.equal('image/tiff');
    expect(b.mail.parsed.attachments[0]!.content.equals(tiff)).to.equal(true);
    expect(conversionLogs(b.e.id).map((l) => [l.fields!.code, l.fields!.role])).to.deep.equal([['CONVERSION_FAILED', 'document']]);
  });

  it('a WAV in an encoding that is not converted (GSM 6.10) is attached as it came, logged CONVERSION_UNSUPPORTED', async () => {
    const gsm = makeWav({ encoding: 'pcm8', sampleRate: 8000, channels: 1, seconds: 0.5 });
    gsm.writeUInt16LE(0x0031, 20); // format tag of the fmt chunk
    const a = await sendFile(T, 'gsm.wav', gsm, 'recording', 'audio/wav');
    expect(a.mail.parsed.attachments[0]!.content.equals(gsm)).to.equal(true);
    const logs = conversionLogs(a.e.id);
    expect(logs.map((l) => l.fields!.code)).to.deep.equal(['CONVERSION_UNSUPPORTED']);
    expect(String(logs[0]!.fields!.reason)).to.include('GSM 6.10');
  });

  it('a conversion over the tenant\'s conversionTimeoutMs is stopped (its worker terminated) and the original attached, logged CONVERSION_TIMEOUT', async () => {
    const before = h.plugin.mediaStats().stopped;
    const wav = makeWav({ encoding: 'pcm16', sampleRate: 48000, channels: 2, seconds: 20 });
    const a = await sendFile('tiny.example.com', 'long.wav', wav, 'recording', 'audio/wav');
    expect(a.mail.parsed.attachments[0]!.contentType).to.equal('audio/wav');
    expect(a.mail.parsed.attachments[0]!.size).to.equal(wav.length);
    expect(conversionLogs(a.e.id).map((l) => l.fields!.code)).to.deep.equal(['CONVERSION_TIMEOUT']);
    expect(h.plugin.mediaStats().stopped).to.equal(before + 1);
  });

  it('a retry sends the file converted at the first attempt: converted once (same inode and mtime), reused once', async () => {
    const before = h.plugin.mediaStats();
    const file = path.join(root, 'retry.wav');
    fs.writeFileSync(file, makeWav({ encoding: 'alaw', sampleRate: 8000, channels: 1, seconds: 2 }));
    const e = voicemail(T, {}, { recipient: { extension: '201', email: ['retry@fallback.example.com'] }, recording: { path: file, contentType: 'audio/wav' } });
    rcptErrors['retry@fallback.example.com'] = 451;
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.type === 'email.deferred' && x.payload.eventId === e.id));
    const spooled = `${(await h.plugin.lookup(e.id, T))!.attachments[0]!.path}.mp3`;
    const first = fs.statSync(spooled);
    const firstBytes = fs.readFileSync(spooled);
    let second: fs.Stats | undefined;
    const hook = h.plugin.addHook('beforeSend', (s) => {
      if (s.event.id === e.id) second = fs.statSync(spooled);
    });
    h.defer(() => hook.dispose());
    delete rcptErrors['retry@fallback.example.com'];
    await h.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === e.id));
    const mail = smtp.mails.filter((m) => m.parsed.headers.get('x-pbx-event-id') === e.id);
    expect(mail).to.have.length(1);
    expect(mail[0]!.parsed.attachments[0]!.content.equals(firstBytes)).to.equal(true);
    const after = h.plugin.mediaStats();
    expect([after.converted - before.converted, after.reused - before.reused]).to.deep.equal([1, 1]);
    expect(h.host.logs.filter((l) => l.msg === 'attachment converted' && l.fields?.eventId === e.id)).to.have.length(1);
    // The second attempt found the very file the first one wrote.
    expect([second?.ino, second?.mtimeMs, second?.size]).to.deep.equal([first.ino, first.mtimeMs, first.size]);
    await waitFor(() => !fs.existsSync(spooled), { what: 'the delivered message\'s spool directory removed' });
  });

  it('attachments.maxBytes applies to the converted file: a WAV over the limit goes as an MP3 under it, and the text gives the MP3\'s size', async () => {
    const wav = makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 10 }); // 80 kB; the MP3 is 40 kB
    expect(wav.length).to.be.above(60_000);
    const a = await sendFile('limit.example.com', 'ten.wav', wav, 'recording', 'audio/wav');
    const att = a.mail.parsed.attachments[0]!;
    expect(att.contentType).to.equal('audio/mpeg');
    expect(att.size).to.be.below(60_000);
    expect(shownKb(a.mail.parsed.text, /\.mp3, ([\d.,]+)\s*k/)).to.be.closeTo(att.size / 1024, 0.6);

    const longer = makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 20 }); // MP3 80 kB: over
    const b = await sendFile('limit.example.com', 'twenty.wav', longer, 'recording', 'audio/wav');
    expect(b.mail.parsed.attachments).to.have.length(0);
    expect(b.mail.parsed.text).to.include('too large to attach');
    // The size given is the MP3's (about 80 kB), not the WAV's (156 kB).
    expect(shownKb(b.mail.parsed.text, /too large to attach \(([\d.,]+)\s*k/)).to.be.within(75, 82);
  });
});
