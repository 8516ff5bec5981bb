import * as tls from 'node:tls';
import { expect } from 'chai';
import { activate, type EmailNotifyPlugin } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { missed } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

const DAY = 86_400_000;

/** One tenant against a server presenting `cert`, trusting `ca` when given (none: the system store only). */
async function outcomeFor(cert: { key: string; cert: string }, ca: string | undefined, extra: object = {}) {
  const smtp = await TestSmtp.start({ ca: testCa(), cert, ...extra });
  const host = new FakeHost({
    delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 }, messageTimeoutMs: 5000 },
    tenants: { 'a.example.com': { from: 'pbx@a.example.com', smtp: { host: '127.0.0.1', port: smtp.port, tls: { servername: 'localhost', ...(ca !== undefined && { ca }) }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000 } } },
  });
  const plugin: EmailNotifyPlugin = await activate(host.context());
  try {
    const e = missed('a.example.com');
    await host.send(e);
    await host.until((em) => em.some((x) => x.payload.eventId === e.id));
    const o = host.emitted.find((x) => x.payload.eventId === e.id)!;
    return { type: o.type, reason: String(o.payload.reason ?? ''), received: smtp.mails.length };
  } finally {
    await plugin.deactivate();
    await smtp.close();
    host.cleanup();
  }
}

describe('TLS certificates and versions: refused unless the tenant’s ca vouches', () => {
  const ca = testCa();

  it('a certificate from the tenant’s CA, for the right host, in date: delivered (the baseline)', async () => {
    expect(await outcomeFor(ca.issue(), ca.cert)).to.include({ type: 'email.delivered', received: 1 });
  });

  it('the same certificate without the tenant’s ca (unknown issuer): SMTP_TLS', async () => {
    const o = await outcomeFor(ca.issue(), undefined);
    expect(o).to.include({ type: 'email.deferred', received: 0 });
    expect(o.reason).to.match(/^SMTP_TLS/);
  });

  const refused: [string, () => { key: string; cert: string }][] = [
    ['expired', () => ca.issue({ notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) })],
    ['not yet valid', () => ca.issue({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) })],
    ['for another host', () => ca.issue({ hosts: ['mail.other.example'] })],
    ['self-signed', () => ca.issue({ selfSigned: true })],
  ];
  for (const [what, make] of refused) {
    it(`${what}, even with the tenant's ca set to the test CA: SMTP_TLS, nothing sent`, async () => {
      const o = await outcomeFor(make(), ca.cert);
      expect(o).to.include({ type: 'email.deferred', received: 0 });
      expect(o.reason).to.match(/^SMTP_TLS/);
    });
  }

  it('a self-signed certificate the tenant’s ca vouches for (pinned): delivered', async () => {
    const self = ca.issue({ selfSigned: true });
    expect(await outcomeFor(self, self.cert)).to.include({ type: 'email.delivered', received: 1 });
  });

  it('TLS 1.2 is the minimum: a server that speaks at most TLS 1.1 is refused', async () => {
    const cert = ca.issue();
    const tls11 = { mode: 'tls' as const, extra: { secure: true, minVersion: 'TLSv1' as const, maxVersion: 'TLSv1.1' as const, ciphers: 'DEFAULT@SECLEVEL=0' } };
    // Control: the server really does complete a TLS 1.1 handshake with a client that allows it.
    const smtp = await TestSmtp.start({ ca, cert, ...tls11 });
    const version = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: smtp.port, ca: ca.cert, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
        resolve(s.getProtocol() ?? '');
        s.destroy();
      });
      s.on('error', reject);
    });
    await smtp.close();
    expect(version).to.equal('TLSv1.1');

    const smtp2 = await TestSmtp.start({ ca, cert, ...tls11 });
    const host = new FakeHost({
      delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 }, messageTimeoutMs: 5000 },
      tenants: { 'a.example.com': { from: 'pbx@a.example.com', smtp: { host: '127.0.0.1', port: smtp2.port, security: 'tls', tls: { ca: ca.cert, servername: 'localhost' } } } },
    });
    const plugin = await activate(host.context());
    try {
      const e = missed('a.example.com');
      await host.send(e);
      await host.until((em) => em.some((x) => x.payload.eventId === e.id));
      const o = host.emitted.find((x) => x.payload.eventId === e.id)!;
      expect(o.type).to.equal('email.deferred');
      expect(String(o.payload.reason)).to.match(/^SMTP_TLS/);
      expect(smtp2.mails).to.have.length(0);
    } finally {
      await plugin.deactivate();
      await smtp2.close();
      host.cleanup();
    }
  });
});
