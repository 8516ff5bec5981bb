import { expect } from 'chai';
import * as tls from 'node:tls';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

/** Opens an implicit-TLS connection to `port`, offering `session` for resumption; resolves once greeted, with the first ticket the server issued (if any). */
function tlsHello(port: number, session?: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const sock = tls.connect({ host: '127.0.0.1', port, ca: testCa().cert, servername: 'localhost', ...(session && { session }) });
    sock.on('session', (s: Buffer) => (ticket ??= s));
    sock.on('data', (d: Buffer) => {
      if (/^220 /m.test(d.toString())) {
        sock.end('QUIT\r\n');
        // TLS 1.3 sends its tickets right after the handshake, before the greeting.
        resolve(ticket);
      }
    });
    sock.on('error', reject);
  });
}

describe('end to end: a host written from CONTRACT.md', () => {
  let a: TestSmtp;
  let b: TestSmtp;
  const h = new Harness();

  beforeEach(async () => {
    const ca = testCa();
    [a, b] = await Promise.all([TestSmtp.start({ ca }), TestSmtp.start({ ca })]);
    h.defer(() => Promise.all([a.close(), b.close()]));
    await h.start(tenantConfig(ca.cert, { 'a.example.com': { port: a.port }, 'b.example.com': { port: b.port } }));
  });

  afterEach(() => h.dispose());

  it('delivers all three event types for two tenants, each to its own server, once', async () => {
    const events = [voicemail('a.example.com'), fax('a.example.com'), missed('a.example.com'), voicemail('b.example.com'), missed('b.example.com')];
    for (const e of events) await h.host.send(e);
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 5);
    expect(a.mails).to.have.length(3);
    expect(b.mails).to.have.length(2);
    for (const m of [...a.mails, ...b.mails]) expect(m.secure).to.equal(true);
    expect(a.mails.map((m) => m.to[0]).sort()).to.deep.equal(['alice@a.example.com', 'bob@a.example.com', 'fax@a.example.com']);
    const d = h.host.of('email.delivered', events[0]!.id)[0]!;
    expect(d.payload).to.deep.equal({ eventId: events[0]!.id, tenant: 'a.example.com', to: ['alice@a.example.com'], messageId: d.payload.messageId, attempts: 1 });
    expect(d.payload.messageId).to.match(/^<[0-9a-f]{32}@a\.example\.com>$/);
  });

  it('uses one connection and one fresh STARTTLS handshake per message, never a resumed session', async () => {
    await h.host.send(voicemail('a.example.com'));
    await a.waitFor(1);
    await h.host.send(voicemail('a.example.com'));
    await a.waitFor(2);
    await Promise.all(Array.from({ length: 10 }, () => h.host.send(missed('a.example.com'))));
    await a.waitFor(12);
    expect(a.connections).to.equal(12);
    expect(a.handshakes).to.equal(12);
    expect(a.reusedSessions).to.equal(0);
    expect(a.mails.map((m) => m.sessionReused)).to.deep.equal(Array(12).fill(false));
    expect(new Set(a.mails.map((m) => m.connection)).size).to.equal(12);
  });

  it('implicit TLS too: a fresh handshake per message, never a resumed session', async () => {
    const s = await h.smtp({ mode: 'tls' });
    const c = tenantConfig(testCa().cert, { 'c.example.com': { port: s.port, security: 'tls' } });
    await h.replaceHost(c);
    for (let i = 0; i < 2; i++) await h.deliver(s, missed('c.example.com'));
    await Promise.all(Array.from({ length: 4 }, () => h.host.send(missed('c.example.com'))));
    await s.waitFor(6);
    expect(s.connections).to.equal(6);
    expect(s.handshakes).to.equal(6);
    expect(s.mails.map((m) => [m.secure, m.sessionReused])).to.deep.equal(Array(6).fill([true, false]));
    expect(s.reusedSessions).to.equal(0);
  });

  it('control: the test server does see a resumed TLS session, so "never resumed" above can fail', async () => {
    const s = await h.smtp({ mode: 'tls' });
    const ticket = await tlsHello(s.port);
    expect(ticket, 'a session ticket from the first connection').to.be.instanceOf(Buffer);
    await tlsHello(s.port, ticket);
    await waitFor(() => s.handshakes === 2, { what: 'two TLS handshakes at the server', detail: () => s.handshakes });
    expect(s.reusedSessions).to.equal(1);
  });
});
