import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { startHostProcess, type HostProcess } from '../helpers/host-process';
import { request } from '../helpers/http';
import { jsonLines } from '../helpers/json-lines';
import { parsePrometheusText, sampleSum, sampleValue } from '../helpers/prom-text';
import { queueCli } from '../helpers/queue-cli';
import { TestSmtp, testCa } from '../helpers/smtp';
import { settles, waitFor } from '../helpers/wait';

const TOKEN = 'operations-black-box-token-01234';
const A = 'a.example.com';
const H = 'h.example.com';

/**
 * Issue 11's "done means", black-box: the reference host as a process (dist build), driven only
 * through its HTTP API and the queue CLI, as an operator would.
 */
describe('host: operations, black-box (process, HTTP API, queue CLI)', function () {
  this.timeout(90_000);

  it("a 550 for one of two recipients is seen, fixed, retried and arrives once; an SMTP_AUTH hold is flushed after the fix; a refusal is logged with its code; /metrics matches what the servers received", async () => {
    const rcptErrors: Record<string, number> = { [`gone@${A}`]: 550 };
    const auth = { user: 'pbx', pass: 'rotated-on-the-server' };
    const smtpA = await TestSmtp.start({ ca: testCa(), rcptErrors });
    const smtpH = await TestSmtp.start({ ca: testCa(), auth });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-ops-bb-'));
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { [A]: { port: smtpA.port }, [H]: { port: smtpH.port, auth: { user: 'pbx', pass: 'what-the-config-says' } } })));
    let host: HostProcess | undefined;
    try {
      host = await startHostProcess(['--config', file, '--port', '0', '--data', path.join(dir, 'data'), '--no-stdin'], { env: { PBX_NOTIFY_TOKEN: TOKEN } });
      const { port } = host;
      const url = `http://127.0.0.1:${port}`;
      const api = (method: string, p: string, body?: unknown) =>
        request(port, { method, path: p, headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
      const cli = (...args: string[]) => queueCli([...args, '--url', url], { PBX_NOTIFY_TOKEN: TOKEN });

      const two = voicemail(A, {}, { recipient: { extension: '201', email: [`ok@${A}`, `gone@${A}`] } });
      const held = missed(H);
      const bad = missed(A, { occurredAt: 'not a time' });
      expect((await api('POST', '/events', two)).status).to.equal(202);
      expect((await api('POST', '/events', held)).status).to.equal(202);
      const refused = await api('POST', '/events', bad);
      expect([refused.status, refused.json.code, refused.json.field]).to.deep.equal([400, 'EVENT_INVALID', '/occurredAt']);

      // 1. The operator sees why: the state, the server's reply and the recipient it was for.
      await waitFor(async () => (await api('GET', `/messages/${A}/${two.id}`)).json?.state === 'partial', { what: 'the partial outcome' });
      const show = await cli('show', A, two.id);
      expect(show.code, show.stderr).to.equal(0);
      expect(show.stdout).to.match(/^state\s+partial$/m);
      expect(show.stdout).to.match(new RegExp(`gone@a\\.example\\.com\\s+rejected\\s+550 No such user`));
      expect(smtpA.mails.map((m) => m.to)).to.deep.equal([[`ok@${A}`]]);

      // ... fixes the mailbox, retries: it arrives once, to the failed recipient alone.
      delete rcptErrors[`gone@${A}`];
      expect((await cli('retry', A, two.id)).code).to.equal(0);
      await waitFor(async () => (await api('GET', `/messages/${A}/${two.id}`)).json?.state === 'delivered', { what: 'the retried message delivered' });
      expect(smtpA.mails.map((m) => m.to)).to.deep.equal([[`ok@${A}`], [`gone@${A}`]]);

      // 2. H's password was rotated on the server: its mail is held on SMTP_AUTH (15 minutes by default).
      await waitFor(async () => (await api('GET', '/status')).json?.tenants?.find((t: any) => t.tenant === H)?.holdReason?.code === 'SMTP_AUTH', { what: 'H held on SMTP_AUTH' });
      expect(smtpH.mails).to.have.length(0);
      auth.pass = 'what-the-config-says'; // the server is fixed; the configuration did not change
      const flush = await cli('flush', H, '--json');
      expect([flush.code, flush.json]).to.deep.equal([0, { tenant: H, retried: 1 }]);
      // Without the flush it would wait delivery.retry.authFailureDelayMs (15 min); this deadline is a liveness bound.
      await smtpH.waitFor(1, 5_000);
      expect(smtpH.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([held.id]);

      // 3. The refused event is in the delivery log and in the host's log, with its code.
      const refusals = await cli('refusals', '--json');
      expect(refusals.json.refusals.map((r: any) => [r.tenant, r.eventId, r.code, r.field])).to.deep.equal([[A, bad.id, 'EVENT_INVALID', '/occurredAt']]);
      const lines = () => jsonLines(host!.io.err);
      expect(lines().filter((l) => l.msg === 'event refused').map((l) => [l.code, l.field, l.eventId])).to.deep.equal([['EVENT_INVALID', '/occurredAt', bad.id]]);

      // 4. /metrics parses as Prometheus text, and its counters match what the servers received.
      await waitFor(async () => (await api('GET', `/messages/${H}/${held.id}`)).json?.state === 'delivered', { what: "H's mail recorded delivered" });
      const f = parsePrometheusText((await api('GET', '/metrics')).text);
      expect(sampleSum(f, 'pbx_email_delivered_total')).to.equal(smtpA.mails.length + smtpH.mails.length);
      expect(sampleValue(f, 'pbx_email_delivered_total', { tenant: A })).to.equal(smtpA.mails.length);
      expect(sampleValue(f, 'pbx_email_delivered_total', { tenant: H })).to.equal(smtpH.mails.length);
      expect(sampleValue(f, 'pbx_email_failed_total', { tenant: A, code: 'SMTP_PERMANENT' })).to.equal(1);
      expect(sampleValue(f, 'pbx_email_deferred_total', { tenant: H, code: 'SMTP_AUTH' })).to.equal(1);
      expect(sampleValue(f, 'pbx_email_refused_total', { tenant: A, code: 'EVENT_INVALID' })).to.equal(1);
      expect(sampleValue(f, 'pbx_email_tenants_held')).to.equal(0);

      host.child.kill('SIGTERM');
      expect(await settles(host.exited, { what: 'the host to stop', timeoutMs: 15_000 })).to.equal(0);
      // One line per outcome: H's mail was deferred once and delivered once.
      expect(lines().filter((l) => l.eventId === held.id && /^email\./.test(l.msg)).map((l) => l.msg)).to.deep.equal(['email.deferred', 'email.delivered']);
    } finally {
      if (host && host.child.exitCode === null && host.child.signalCode === null) {
        host.child.kill('SIGKILL');
        await host.exited;
      }
      await smtpA.close();
      await smtpH.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
