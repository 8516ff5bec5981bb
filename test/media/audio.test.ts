import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { decodeMp3, dominantHz, makeWav, type WavEncoding } from '../helpers/media-fixtures';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const TENANT = 'audio.example.com';

describe('media: voicemail WAV to MP3, checked with an independent decoder (mpg123)', () => {
  const h = new Harness();
  let smtp: TestSmtp;
  let root: string;
  let tmp: string;

  before(async () => {
    smtp = await h.smtp();
    root = h.tmpdir('media-audio-');
    tmp = h.tmpdir('media-audio-out-');
    const cfg = tenantConfig(testCa().cert, { [TENANT]: { port: smtp.port }, 'original.example.com': { port: smtp.port }, 'hifi.example.com': { port: smtp.port } }, { attachmentRoots: [root] });
    cfg.tenants['original.example.com'].attachments = { audioFormat: 'original' };
    cfg.tenants['hifi.example.com'].attachments = { mp3BitrateKbps: 64 };
    await h.start(cfg);
  });

  after(() => h.dispose());

  const encodings: WavEncoding[] = ['pcm16', 'pcm8', 'mulaw', 'alaw'];
  const rates = [8000, 16000, 48000];
  const cases = encodings.flatMap((encoding) => rates.flatMap((sampleRate) => ([1, 2] as const).map((channels) => ({ encoding, sampleRate, channels }))));

  it(`converts each of ${cases.length} WAVs (16-bit and 8-bit PCM, mu-law, A-law; 8, 16, 48 kHz; mono and stereo) to a mono MP3 of the same length and tone`, async () => {
    const seconds = 1.5;
    const sent = cases.map((c, i) => {
      const file = path.join(root, `${c.encoding}-${c.sampleRate}-${c.channels}.wav`);
      fs.writeFileSync(file, makeWav({ ...c, seconds, hz: 440, extensible: i % 5 === 0 }));
      return { c, file, event: voicemail(TENANT, {}, { durationSeconds: seconds, recording: { path: file, contentType: 'audio/wav' } }) };
    });
    for (const s of sent) await h.host.send(s.event);
    await h.host.until((em) => em.filter((x) => x.type === 'email.delivered').length >= sent.length, 30_000);
    for (const [i, s] of sent.entries()) {
      const name = `${s.c.encoding} ${s.c.sampleRate} Hz ${s.c.channels} ch`;
      const mail = smtp.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === s.event.id)!;
      expect(mail.parsed.attachments, name).to.have.length(1);
      const att = mail.parsed.attachments[0]!;
      expect(att.contentType, name).to.equal('audio/mpeg');
      expect(att.filename, name).to.match(/^voicemail-\d{8}-\d{6}-\d+\.mp3$/);
      expect(mail.parsed.text, name).to.include(`(${att.filename}, `);
      const mp3 = path.join(tmp, `${i}.mp3`);
      fs.writeFileSync(mp3, att.content);
      const pcm = decodeMp3(mp3, path.join(tmp, `${i}.wav`));
      expect(pcm.channels, name).to.equal(1);
      const duration = pcm.samples.length / pcm.sampleRate;
      expect(Math.abs(duration - seconds) / seconds, `${name}: ${duration} s`).to.be.below(0.02);
      const tone = dominantHz(pcm.samples, pcm.sampleRate);
      expect(tone.hz, name).to.be.within(430, 450);
      expect(tone.rms, name).to.be.above(1000); // the tone is 1/4 of full scale (RMS about 5800): not silence
      expect(att.size, name).to.be.below(fs.statSync(s.file).size);
    }
    expect(h.plugin.mediaStats()).to.include({ converted: cases.length, failed: 0 });
    expect(h.host.logs.filter((l) => l.fields?.code?.toString().startsWith('CONVERSION_'))).to.deep.equal([]);
  });

  it('the bit rate is the tenant\'s mp3BitrateKbps; audioFormat "original" attaches the WAV as it came', async () => {
    const file = path.join(root, 'orig.wav');
    const wav = makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 1 });
    fs.writeFileSync(file, wav);
    const e = voicemail('original.example.com', {}, { recording: { path: file, contentType: 'audio/wav' } });
    const m = await h.deliver(smtp, e);
    expect(m.parsed.attachments[0]!.contentType).to.equal('audio/wav');
    expect(m.parsed.attachments[0]!.filename).to.match(/\.wav$/);
    expect(m.parsed.attachments[0]!.content.equals(wav)).to.equal(true);

    const hifi = voicemail('hifi.example.com', {}, { recording: { path: path.join(root, 'minute.wav'), contentType: 'audio/wav' } });
    fs.writeFileSync(path.join(root, 'minute.wav'), makeWav({ encoding: 'pcm16', sampleRate: 16000, channels: 1, seconds: 10 }));
    const hm = await h.deliver(smtp, hifi);
    // 64 kbit/s is 8000 bytes a second.
    expect(hm.parsed.attachments[0]!.size).to.be.within(79_000, 82_000);
  });

  it('an MP3 of 60 s of 8 kHz mu-law at the default 32 kbit/s is about 240 kB, 8 times smaller than the WAV', async () => {
    const file = path.join(root, 'minute.wav');
    fs.writeFileSync(file, makeWav({ encoding: 'mulaw', sampleRate: 8000, channels: 1, seconds: 60, hz: 300 }));
    const e = voicemail(TENANT, {}, { durationSeconds: 60, recording: { path: file, contentType: 'audio/wav' } });
    const m = await h.deliver(smtp, e);
    const att = m.parsed.attachments[0]!;
    expect(att.contentType).to.equal('audio/mpeg');
    // 32 kbit/s is 4000 bytes a second, plus the Info tag frame.
    expect(att.size).to.be.within(239_000, 242_000);
    await waitFor(() => h.host.logs.find((l) => l.msg === 'attachment converted' && l.fields?.eventId === e.id), { what: 'the conversion log line' });
  });
});
