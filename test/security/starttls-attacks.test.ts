import { expect } from 'chai';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';
import { StartTlsAttackServer, type StartTlsMode } from '../helpers/starttls-attack-server';

const AUTH = { user: 'pbx', pass: 'pw-starttls-canary' };

describe('STARTTLS attacks: TLS required means fail closed, and AUTH never goes in plaintext', () => {
  let server: StartTlsAttackServer;
  const h = new Harness();

  async function run(mode: StartTlsMode, security = 'starttls') {
    server = await StartTlsAttackServer.start(mode, testCa().issue());
    h.defer(() => server.close());
    await h.start(tenantConfig(testCa().cert, { 'a.example.com': { port: server.port, security, auth: AUTH } }));
    const e = missed('a.example.com');
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.payload.eventId === e.id));
    return h.host.emitted.find((x) => x.payload.eventId === e.id)!;
  }

  afterEach(() => h.dispose());

  const failClosed: [StartTlsMode, string][] = [
    ['absent', 'a server that does not offer STARTTLS'],
    ['454', 'a server that answers STARTTLS with 454'],
    ['garbage', 'a server whose TLS handshake is garbage'],
    ['close', 'a server that hangs up during the handshake'],
  ];
  for (const [mode, what] of failClosed) {
    it(`${what}: deferred as SMTP_TLS, nothing sent in plaintext after EHLO`, async () => {
      const outcome = await run(mode);
      expect(outcome.type).to.equal('email.deferred');
      expect(outcome.payload.reason).to.match(/^SMTP_TLS/);
      expect(server.plaintext('AUTH')).to.deep.equal([]);
      expect(server.plaintext('MAIL')).to.deep.equal([]);
      expect(server.plaintext('RCPT')).to.deep.equal([]);
      expect(server.mails).to.have.length(0);
      expect(server.seen.filter((l) => !l.tls).map((l) => l.line.split(' ')[0])).to.satisfy((v: string[]) => v.every((c) => ['EHLO', 'STARTTLS', 'QUIT', 'HELO'].includes(c)));
    });
  }

  it('control: with security "none" the same server does get AUTH in plaintext (the check above can fail)', async () => {
    const outcome = await run('absent', 'none');
    expect(outcome.type).to.equal('email.delivered');
    expect(server.plaintext('AUTH')).to.have.length(1);
  });

  it('plaintext pipelined after the 220 to STARTTLS is discarded: the session inside TLS goes on and delivers', async () => {
    const outcome = await run('pipeline');
    expect(outcome.type, JSON.stringify(outcome.payload)).to.equal('email.delivered');
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.tls).to.equal(true);
    const afterStartTls = server.seen.slice(server.seen.findIndex((l) => l.line === 'STARTTLS') + 1);
    expect(afterStartTls[0]!.line).to.match(/^EHLO /);
    expect(afterStartTls.every((l) => l.tls)).to.equal(true);
    expect(server.seen.filter((l) => l.line.startsWith('AUTH')).every((l) => l.tls)).to.equal(true);
    expect(server.seen.some((l) => l.line.startsWith('AUTH'))).to.equal(true);
  });
});
