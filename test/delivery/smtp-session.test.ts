import * as os from 'node:os';
import { expect } from 'chai';
import type { EffectiveTenant } from '../../src/config';
import { heloName, sendOnce, type OutgoingMail } from '../../src/delivery/smtp-transport';
import { tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { RecordingSmtp, type RecordingOptions } from '../helpers/recording-smtp';

const T = 'acme.example.com';
const mail = (to: string[]): OutgoingMail => ({
  from: `PBX <pbx@${T}>`,
  envelopeFrom: `pbx@${T}`,
  to: to.map((address) => ({ name: '', address })),
  envelopeTo: to,
  subject: 's',
  text: 't',
  html: '<p>t</p>',
  messageId: `<session@${T}>`,
  date: new Date(),
  headers: {},
  attachments: [],
});
const smtpTo = (port: number, over: Partial<EffectiveTenant['smtp']> = {}) =>
  ({ host: '127.0.0.1', port, security: 'none', connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000, ...over }) as EffectiveTenant['smtp'];

async function outcome(p: Promise<unknown>): Promise<{ ok: unknown } | { err: any }> {
  try {
    return { ok: await p };
  } catch (err) {
    return { err };
  }
}

describe('SMTP sessions as servers expect them (RFC 5321): QUIT and the EHLO name', function () {
  this.timeout(20_000);
  const servers: RecordingSmtp[] = [];
  const start = async (opts: RecordingOptions = {}) => {
    const s = await RecordingSmtp.start(opts);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  describe('QUIT before closing, and its reply awaited', () => {
    it('after a delivery: QUIT, the server’s 221 (sent 300 ms later), and only then the client closes', async () => {
      const server = await start({ quitReply: 300 });
      const r = await outcome(sendOnce(smtpTo(server.port), mail([`a@${T}`]), new AbortController().signal));
      expect(r).to.have.property('ok');
      const [t] = await server.closedSessions(1);
      expect(t!.events.slice(-5)).to.deep.equal(['C: <message>', 'S: 250', 'C: QUIT', 'S: 221', 'client closed']);
      expect(t!.events.filter((e) => e === 'C: QUIT')).to.have.length(1);
    });

    it('after every recipient was refused (550 on RCPT): QUIT and its reply, then the close', async () => {
      const server = await start({ quitReply: 300, rcpt: { [`gone@${T}`]: 550 } });
      const r = await outcome(sendOnce(smtpTo(server.port), mail([`gone@${T}`]), new AbortController().signal));
      expect(r).to.have.property('err');
      expect((r as { err: any }).err.code).to.equal('EENVELOPE');
      expect((r as { err: any }).err.responseCode).to.equal(550);
      const [t] = await server.closedSessions(1);
      expect(t!.events).to.include(`C: RCPT TO:<gone@${T}>`);
      expect(t!.events).to.not.include('C: DATA');
      expect(t!.events.slice(-3)).to.deep.equal(['C: QUIT', 'S: 221', 'client closed']);
    });

    it('after a partial refusal (one 550, one accepted): the message goes to the other, then QUIT', async () => {
      const server = await start({ quitReply: 100, rcpt: { [`gone@${T}`]: 550 } });
      const r = await outcome(sendOnce(smtpTo(server.port), mail([`gone@${T}`, `a@${T}`]), new AbortController().signal));
      expect((r as { ok: any }).ok.accepted).to.deep.equal([`a@${T}`]);
      expect((r as { ok: any }).ok.rejected.map((x: { address: string }) => x.address)).to.deep.equal([`gone@${T}`]);
      const [t] = await server.closedSessions(1);
      expect(t!.events).to.include('C: <message>');
      expect(t!.events.slice(-3)).to.deep.equal(['C: QUIT', 'S: 221', 'client closed']);
    });

    it('a server that never answers QUIT: the delivery still counts and the client closes after its bound', async () => {
      const server = await start({ quitReply: 'never' });
      const r = await outcome(sendOnce(smtpTo(server.port), mail([`a@${T}`]), new AbortController().signal));
      expect((r as { ok: any }).ok.accepted).to.deep.equal([`a@${T}`]);
      const [t] = await server.closedSessions(1);
      expect(t!.events.slice(-2)).to.deep.equal(['C: QUIT', 'client closed']);
    });
  });

  describe('no QUIT when the session broke', () => {
    it('a message stream that fails during DATA (its file vanished): the connection is closed, no QUIT inside the message', async () => {
      const server = await start();
      const m = { ...mail([`a@${T}`]), attachments: [{ filename: 'v.wav', contentType: 'audio/wav', path: `/nonexistent/${process.pid}/v.wav` }] };
      const r = await outcome(sendOnce(smtpTo(server.port), m, new AbortController().signal));
      expect((r as { err: any }).err.code).to.equal('ESTREAM');
      const [t] = await server.closedSessions(1);
      expect(t!.events).to.include('C: DATA');
      expect(t!.events).to.not.include('C: <message>');
      expect(t!.events.at(-1)).to.equal('client closed');
    });

    it('an abort (shutdown) while the message is composed: nothing is sent, not even a connection', async () => {
      const server = await start();
      const ac = new AbortController();
      const p = outcome(sendOnce(smtpTo(server.port), mail([`a@${T}`]), ac.signal));
      ac.abort(new Error('shutdown'));
      const r = await p;
      expect((r as { err: any }).err.code).to.equal('EABORT');
      expect(server.sessions).to.have.length(0);
    });

    it('an abort while waiting for the reply to QUIT closes the connection; the delivery still counts', async () => {
      const server = await start({ quitReply: 'never' });
      const ac = new AbortController();
      const p = outcome(sendOnce(smtpTo(server.port), mail([`a@${T}`]), ac.signal));
      const until = Date.now() + 10_000;
      while (!server.sessions[0]?.events.includes('C: QUIT')) {
        if (Date.now() > until) throw new Error('QUIT never arrived');
        await new Promise((r) => setTimeout(r, 10));
      }
      ac.abort(new Error('shutdown'));
      const r = await p;
      expect((r as { ok: any }).ok.accepted).to.deep.equal([`a@${T}`]);
      const [t] = await server.closedSessions(1);
      expect(t!.events.slice(-2)).to.deep.equal(['C: QUIT', 'client closed']);
    });
  });

  describe('failures before the first byte to the server', () => {
    it('a mail that cannot be composed is COMPOSE_FAILED (a PluginError, for the courier to keep message-scoped); no connection is made', async () => {
      const server = await start();
      const m = { ...mail([`a@${T}`]), attachments: [null as unknown as OutgoingMail['attachments'][0]] };
      const r = await outcome(sendOnce(smtpTo(server.port), m, new AbortController().signal));
      expect((r as { err: any }).err.code).to.equal('COMPOSE_FAILED');
      expect((r as { err: any }).err.name).to.equal('PluginError');
      expect((r as { err: any }).err.message).to.match(/^COMPOSE_FAILED: the mail could not be built \(TypeError: /);
      expect(server.sessions).to.have.length(0);
    });
  });

  describe('the EHLO name', () => {
    it('smtp.heloName, when set, is what EHLO announces', async () => {
      const server = await start();
      await sendOnce(smtpTo(server.port, { heloName: 'pbx1.acme.example.com' }), mail([`a@${T}`]), new AbortController().signal);
      const [t] = await server.closedSessions(1);
      expect(t!.ehlo).to.equal('pbx1.acme.example.com');
    });

    it('by default: this machine’s name when fully qualified, else the domain of from; never an address literal', async () => {
      const server = await start();
      await sendOnce(smtpTo(server.port), mail([`a@${T}`]), new AbortController().signal);
      const [t] = await server.closedSessions(1);
      const machine = os.hostname();
      const fqdn = machine.includes('.') && !/^localhost(\.|$)/i.test(machine) && !/^[\d.]+$/.test(machine);
      expect(t!.ehlo).to.equal(fqdn ? machine : T);
      expect(t!.ehlo).to.not.match(/^\[|^\d+\.\d+\.\d+\.\d+$|localhost/i);
    });

    it('the default rule, for the names machines really have', () => {
      const smtp = smtpTo(25);
      expect(heloName(smtp, `pbx@${T}`, 'pbx1.example.net')).to.equal('pbx1.example.net');
      expect(heloName(smtp, `pbx@${T}`, 'pbx1.example.net.')).to.equal('pbx1.example.net');
      for (const machine of ['vm', 'localhost', 'localhost.localdomain', '127.0.0.1', '10.1.2.3', '::1', 'box.local', '']) {
        expect(heloName(smtp, `pbx@${T}`, machine), machine).to.equal(T);
      }
      expect(heloName(smtpTo(25, { heloName: 'mx.acme.example.com' }), `pbx@${T}`, 'pbx1.example.net')).to.equal('mx.acme.example.com');
    });
  });

  describe('smtp.heloName in the configuration', () => {
    const h = new Harness();
    afterEach(() => h.dispose());

    it('a tenant’s heloName reaches EHLO; another tenant without one announces its own from domain (or the FQDN machine name)', async () => {
      const server = await start();
      const cfg = tenantConfig('', { [T]: { port: server.port, security: 'none' }, 'b.example.org': { port: server.port, security: 'none' } });
      cfg.tenants[T].smtp.heloName = 'pbx7.acme.example.com';
      await h.start(cfg);
      await h.host.send(voicemail(T));
      await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 1);
      await h.host.send(voicemail('b.example.org'));
      await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === 2);
      const [a, b] = await server.closedSessions(2);
      expect(a!.ehlo).to.equal('pbx7.acme.example.com');
      const machine = os.hostname();
      expect(b!.ehlo).to.equal(machine.includes('.') && !/^localhost/i.test(machine) ? machine : 'b.example.org');
    });

    for (const bad of ['pbx', '127.0.0.1', '[127.0.0.1]', 'pbx_1.example.com', 'a..example.com']) {
      it(`heloName ${JSON.stringify(bad)} is CONFIG_INVALID naming /tenants/${T}/smtp/heloName`, async () => {
        const cfg = tenantConfig('', { [T]: { port: 25, security: 'none' } });
        cfg.tenants[T].smtp.heloName = bad;
        const err = await h.start(cfg).then(
          () => undefined,
          (e: any) => e,
        );
        expect(err?.code).to.equal('CONFIG_INVALID');
        expect(err.problems.map((p: { path: string }) => p.path)).to.include(`/tenants/${T}/smtp/heloName`);
      });
    }
  });
});
