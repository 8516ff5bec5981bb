import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const PUBLIC_B64 = (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
const SELECTOR = 'pbx2026';
const DOMAIN = 'a.example.com';

/** A DNS stand-in that knows one record: the tenant's DKIM public key. */
const resolver = async (name: string, type: string) => {
  if (type === 'TXT' && name === `${SELECTOR}._domainkey.${DOMAIN}`) return [[`v=DKIM1; k=rsa; p=${PUBLIC_B64}`]];
  throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
};

describe('DKIM: per-tenant signing, verified by mailauth against the public key', () => {
  let smtp: TestSmtp;
  const h = new Harness();
  let root: string;

  before(async () => {
    const ca = testCa();
    smtp = await h.smtp();
    root = h.tmpdir('dkim-att-');
    const cfg = tenantConfig(ca.cert, { [DOMAIN]: { port: smtp.port }, 'b.example.com': { port: smtp.port } }, { attachmentRoots: [root] });
    cfg.tenants[DOMAIN].dkim = { domainName: DOMAIN, keySelector: SELECTOR, privateKey: PRIVATE };
    await h.start(cfg);
  });

  after(() => h.dispose());

  it('signs the tenant’s mail (non-ASCII subject and names, a 2 MB attachment spilled to disk while signing) and the signature verifies', async () => {
    const wav = path.join(root, 'vm.wav');
    const body = crypto.randomBytes(2 * 1024 * 1024);
    body.write('RIFF', 0, 'latin1');
    body.write('WAVE', 8, 'latin1');
    fs.writeFileSync(wav, body);
    const e = voicemail(DOMAIN, {}, { recipient: { extension: '201', name: 'Zoë Ångström', email: [`alice@${DOMAIN}`] }, caller: { number: '+4930123', name: 'Jürgen Groß' }, recording: { path: wav, contentType: 'audio/wav' } });
    await h.host.send(e);
    const [mail] = await smtp.waitFor(1);
    const res = await dkimVerify(mail!.raw, { resolver });
    expect(res.results).to.have.length(1);
    expect(res.results[0].status.result).to.equal('pass');
    expect(res.results[0].signingDomain).to.equal(DOMAIN);
    expect(res.results[0].selector).to.equal(SELECTOR);
    expect(mail!.parsed.attachments[0]!.content.equals(body)).to.equal(true);
    expect(fs.readdirSync(path.join(h.host.dataDir, 'tmp'))).to.deep.equal([]);
  });

  it('a tampered header or body fails verification (the check can fail)', async () => {
    const raw = smtp.mails[0]!.raw.toString('latin1');
    const header = raw.replace(/^Subject: /m, 'Subject: Re: ');
    const body = raw.replace(/^[A-Za-z0-9+/]{76}(?=\r$)/m, (line) => line.split('').reverse().join(''));
    expect(header).to.not.equal(raw);
    expect(body).to.not.equal(raw);
    for (const forged of [header, body]) {
      const res = await dkimVerify(Buffer.from(forged, 'latin1'), { resolver });
      expect(res.results[0].status.result).to.not.equal('pass');
    }
  });

  it('a tenant without dkim sends unsigned mail', async () => {
    await h.host.send(voicemail('b.example.com'));
    const mails = await smtp.waitFor(2);
    expect(mails[1]!.parsed.headers.has('dkim-signature')).to.equal(false);
  });
});
