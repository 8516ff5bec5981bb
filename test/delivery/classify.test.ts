import { expect } from 'chai';
import { classify } from '../../src/delivery/classify';
import { sendOnce, type OutgoingMail } from '../../src/delivery/smtp-transport';
import type { EffectiveTenant } from '../../src/config';
import { PluginError } from '../../src/errors';
import { TestCa } from '../../src/host/demo/test-ca';
import { FaultServer, refusedPort, type FaultOptions } from '../helpers/fault-servers';
import { TestSmtp, testCa } from '../helpers/smtp';

const mail = (to: string[]): OutgoingMail => ({
  from: 'PBX <pbx@x.test>',
  envelopeFrom: 'pbx@x.test',
  to: to.map((address) => ({ name: '', address })),
  envelopeTo: to,
  subject: 's',
  text: 't',
  html: '<p>t</p>',
  messageId: '<classify@x.test>',
  date: new Date(),
  headers: {},
  attachments: [],
});

/** The error nodemailer really throws when sending to `port`, or the result when it does not throw. */
async function capture(port: number, over: Partial<EffectiveTenant['smtp']> = {}, to = ['b@x.test'], deadlineMs = 4000): Promise<any> {
  const ca = testCa();
  const smtp = { host: '127.0.0.1', port, security: 'starttls', tls: { ca: ca.cert, servername: 'localhost' }, connectionTimeoutMs: 500, greetingTimeoutMs: 500, socketTimeoutMs: 1500, ...over } as EffectiveTenant['smtp'];
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new Error('deadline')), deadlineMs);
  try {
    return { result: await sendOnce(smtp, mail(to), ac.signal) };
  } catch (e) {
    return e;
  } finally {
    clearTimeout(t);
  }
}

async function against(opts: FaultOptions, over: Partial<EffectiveTenant['smtp']> = {}, to?: string[]): Promise<{ err: any; server: FaultServer }> {
  const server = await FaultServer.start({ cert: testCa().issue(), ...opts });
  try {
    return { err: await capture(server.port, over, to), server };
  } finally {
    await server.close();
  }
}

describe('classify(): real nodemailer errors from misbehaving servers', function () {
  this.timeout(20_000);

  it('connection refused is a temporary server-level SMTP_CONNECT', async () => {
    const err = await capture(await refusedPort());
    expect(err.originalCode).to.equal('ECONNREFUSED');
    expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_CONNECT' });
  });

  it('a blackhole (no greeting) is a temporary server-level SMTP_TIMEOUT', async () => {
    const { err, server } = await against({ greet: 'never' });
    expect(err.code).to.equal('ETIMEDOUT');
    expect(server.connections).to.equal(1);
    expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TIMEOUT' });
  });

  it('a tarpit cut by the overall deadline (abort) is SMTP_TIMEOUT', async () => {
    const server = await FaultServer.tarpit();
    try {
      const err = await capture(server.port, {}, ['b@x.test'], 1500);
      expect(err.code).to.equal('EABORT');
      expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TIMEOUT' });
    } finally {
      await server.close();
    }
  });

  it('421 on connect is a temporary server-level SMTP_TEMPORARY', async () => {
    const { err } = await against({ greet: '421' });
    expect(err.responseCode).to.equal(421);
    expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TEMPORARY' });
    expect(classify(err).reason).to.match(/^SMTP_TEMPORARY \(CONN\): 421 /);
  });

  it('450 and 550 on RCPT are per recipient: temporary and permanent, message scope', async () => {
    const { err } = await against({ rcpt: { 'a@x.test': 450, 'b@x.test': 550 } }, {}, ['a@x.test', 'b@x.test']);
    expect(err.code).to.equal('EENVELOPE');
    const byRcpt = Object.fromEntries((err.rejectedErrors as any[]).map((e) => [e.recipient, classify(e)]));
    expect(byRcpt['a@x.test']).to.include({ kind: 'temporary', scope: 'message', code: 'SMTP_TEMPORARY' });
    expect(byRcpt['b@x.test']).to.include({ kind: 'permanent', scope: 'message', code: 'SMTP_PERMANENT' });
    expect(byRcpt['b@x.test'].reason).to.match(/^SMTP_PERMANENT \(RCPT TO\): 550 /);
  });

  it('one recipient refused with 451 while another is accepted: a result, not an error', async () => {
    const { err, server } = await against({ rcpt: { 'a@x.test': 451 } }, {}, ['a@x.test', 'b@x.test']);
    expect(err.result.accepted).to.deep.equal(['b@x.test']);
    expect(err.result.rejected.map((r: any) => r.address)).to.deep.equal(['a@x.test']);
    expect(classify(err.result.rejected[0].error)).to.include({ kind: 'temporary', code: 'SMTP_TEMPORARY' });
    expect(server.mails.map((m) => m.to)).to.deep.equal([['b@x.test']]);
  });

  it('a connection dropped mid-DATA is a temporary server-level SMTP_CONNECT', async () => {
    const { err, server } = await against({ dropMidData: true });
    expect(err.code).to.equal('ECONNECTION');
    expect(server.dataStarted).to.equal(1);
    expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_CONNECT' });
  });

  for (const mode of ['garbage', 'close'] as const) {
    it(`a TLS handshake that fails (${mode}) is SMTP_TLS`, async () => {
      const { err } = await against({ starttls: mode });
      expect(err.code).to.equal('ESOCKET');
      expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TLS' });
    });
  }

  it('STARTTLS not offered while required is SMTP_TLS (never downgraded)', async () => {
    const { err, server } = await against({ starttls: 'none' });
    expect(err.code).to.equal('ETLS');
    expect(server.mails).to.have.length(0);
    expect(classify(err)).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TLS' });
  });

  it('a certificate from an unknown CA and a wrong name are SMTP_TLS', async () => {
    const stranger = await FaultServer.start({ cert: new TestCa().issue() });
    try {
      const err = await capture(stranger.port);
      expect(err.code).to.equal('ESOCKET');
      expect(classify(err)).to.include({ code: 'SMTP_TLS' });
    } finally {
      await stranger.close();
    }
    const { err } = await against({}, { tls: { ca: testCa().cert, servername: 'elsewhere.test' } });
    expect(err.originalCode).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(classify(err)).to.include({ code: 'SMTP_TLS' });
  });

  it('535 on AUTH (hand-written and smtp-server) is SMTP_AUTH, server scope', async () => {
    const { err, server } = await against({ refuseAuth: true }, { auth: { user: 'pbx', pass: 'wrong' } });
    expect(err.code).to.equal('EAUTH');
    expect(server.authAttempts).to.equal(1);
    expect(classify(err)).to.include({ kind: 'auth', scope: 'server', code: 'SMTP_AUTH' });
    const real = await TestSmtp.start({ ca: testCa(), auth: { user: 'pbx', pass: 'right' } });
    try {
      const e2 = await capture(real.port, { auth: { user: 'pbx', pass: 'wrong' } });
      expect(e2.responseCode).to.equal(535);
      expect(classify(e2)).to.include({ kind: 'auth', code: 'SMTP_AUTH' });
      // No credentials configured where the server needs them: 530 at MAIL FROM is also the tenant's configuration.
      const e3 = await capture(real.port);
      expect(e3.responseCode).to.equal(530);
      expect(classify(e3)).to.include({ kind: 'auth', scope: 'server', code: 'SMTP_AUTH' });
    } finally {
      await real.close();
    }
  });

  it('a message that cannot be built (unreadable attachment, template error) is message scope: it never holds the tenant', async () => {
    const server = await FaultServer.start({ cert: testCa().issue() });
    try {
      const ca = testCa();
      const smtp = { host: '127.0.0.1', port: server.port, security: 'starttls', tls: { ca: ca.cert, servername: 'localhost' } } as EffectiveTenant['smtp'];
      const m = { ...mail(['b@x.test']), attachments: [{ filename: 'a.wav', contentType: 'audio/wav', path: '/nonexistent/pbx/a.wav' }] };
      const err = await sendOnce(smtp, m, new AbortController().signal).then(
        () => undefined,
        (e) => e,
      );
      expect(err.code).to.equal('ESTREAM');
      expect(classify(err)).to.include({ kind: 'temporary', scope: 'message', code: 'ATTACHMENT_NOT_FOUND' });
      expect(server.mails).to.have.length(0);
    } finally {
      await server.close();
    }
    expect(classify(new PluginError('TEMPLATE_INVALID', 'no default template for x.text'))).to.include({ kind: 'temporary', scope: 'message', code: 'TEMPLATE_INVALID' });
  });

  it('503 is temporary, other 5xx permanent; 454 during AUTH is temporary', async () => {
    const real = await TestSmtp.start({
      ca: testCa(),
      extra: { onMailFrom: (_a, _s, cb) => cb(Object.assign(new Error('Bad sequence of commands'), { responseCode: 503 })) },
    });
    try {
      const err = await capture(real.port);
      expect(err.responseCode).to.equal(503);
      expect(classify(err)).to.include({ kind: 'temporary', code: 'SMTP_TEMPORARY' });
    } finally {
      await real.close();
    }
    expect(classify({ code: 'EENVELOPE', responseCode: 552, command: 'MAIL FROM', response: '552 too big' })).to.include({ kind: 'permanent', code: 'SMTP_PERMANENT' });
    expect(classify({ code: 'EAUTH', responseCode: 454, command: 'AUTH PLAIN', response: '454 try later' })).to.include({ kind: 'temporary', scope: 'server', code: 'SMTP_TEMPORARY' });
    expect(classify(undefined)).to.include({ kind: 'temporary', code: 'SMTP_CONNECT' });
  });
});
