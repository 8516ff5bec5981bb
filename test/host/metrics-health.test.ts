import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceHost } from '../../src/host/reference-host';
import { eid, missed, tenantConfig, voicemail } from '../helpers/events';
import { request } from '../helpers/http';
import { parsePrometheusText, sampleSum, sampleValue } from '../helpers/prom-text';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const root = path.join(__dirname, '../..');
const TOKEN = 'metrics-test-token-0123456789';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const A = 'a.example.com';
const B = 'b.example.com';
const C = 'c.example.com';

describe('host: GET /metrics and GET /health', function () {
  this.timeout(30_000);
  let smtp: TestSmtp;
  let host: ReferenceHost;
  let dataDir: string;
  const emitted: { type: string; payload: Record<string, any> }[] = [];
  const get = (p: string, token = TOKEN) => request(host.httpPort!, { path: p, headers: { host: `127.0.0.1:${host.httpPort}`, ...(token && { authorization: `Bearer ${token}` }) } });

  before(async () => {
    smtp = await TestSmtp.start({ ca: testCa(), rcptErrors: { [`gone@${B}`]: 550 } });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-metrics-'));
    // Retries a minute away: every count below is final once the first outcomes are in.
    const config = tenantConfig(testCa().cert, { [A]: { port: smtp.port }, [B]: { port: smtp.port }, [C]: { port: 1 } }, {
      delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 },
    });
    host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, httpToken: TOKEN, log: quiet, onEmit: (type, payload) => emitted.push({ type, payload }) });
  });
  after(async () => {
    await host?.stop();
    await smtp?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('GET /health: 200 {status: ok} without a token, nothing else in it', async () => {
    for (const token of ['', 'wrong-token-0123456789abcdef']) {
      const r = await get('/health', token);
      expect([r.status, r.text]).to.deep.equal([200, '{"status":"ok"}\n']);
    }
  });

  it('counts what happened, parses as Prometheus text, and its delivered count is what the SMTP server received', async () => {
    const events = [missed(A), missed(A), voicemail(A), missed(B, {}, { recipient: { extension: '1', email: [`ok@${B}`, `gone@${B}`] } }), missed(C)];
    for (const e of events) await host.dispatch(e as never);
    await host.dispatch(missed(A, { id: eid('bad'), occurredAt: 'yesterday' }) as never).catch((e: { code: string }) => expect(e.code).to.equal('EVENT_INVALID'));
    await host.dispatch(missed('zz.example.com', {}) as never).then(
      () => expect.fail('a tenant without settings is refused'),
      (e: { code: string }) => expect(e.code).to.equal('TENANT_NOT_CONFIGURED'),
    );
    // Every event has its outcome: A's three and B's one delivered, B's other recipient failed, C deferred.
    await waitFor(() => emitted.filter((e) => e.type === 'email.delivered').length === 4 && emitted.some((e) => e.type === 'email.failed') && emitted.some((e) => e.type === 'email.deferred'), {
      what: 'every outcome',
      detail: () => emitted.map((e) => [e.type, e.payload.tenant]),
    });
    await waitFor(async () => sampleValue(parsePrometheusText((await get('/metrics')).text), 'pbx_email_tenants_held') === 1, { what: 'tenant C held' });

    const r = await get('/metrics');
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('text/plain; version=0.0.4; charset=utf-8');
    const f = parsePrometheusText(r.text);
    expect(smtp.mails).to.have.length(4);
    expect(sampleSum(f, 'pbx_email_delivered_total')).to.equal(smtp.mails.length);
    expect(sampleValue(f, 'pbx_email_delivered_total', { tenant: A })).to.equal(smtp.mails.filter((m) => m.to[0]!.endsWith(`@${A}`)).length);
    expect(sampleValue(f, 'pbx_email_delivered_total', { tenant: B })).to.equal(1);
    expect([A, B, C].map((tenant) => sampleValue(f, 'pbx_email_accepted_total', { tenant }))).to.deep.equal([3, 1, 1]);
    expect(sampleValue(f, 'pbx_email_refused_total', { code: 'EVENT_INVALID', tenant: A })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_refused_total', { code: 'TENANT_NOT_CONFIGURED', tenant: '_other' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_failed_total', { tenant: B, code: 'SMTP_PERMANENT' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_deferred_total', { tenant: C, code: 'SMTP_CONNECT' })).to.equal(1);
    expect(sampleSum(f, 'pbx_email_attempts_total')).to.equal(5);
    expect(sampleSum(f, 'pbx_email_attempts_total', { tenant: C, state: 'deferred' })).to.equal(1);
    expect(sampleSum(f, 'pbx_email_attempts_total', { tenant: B, state: 'partial' })).to.equal(1);
    expect(sampleSum(f, 'pbx_email_queue_messages')).to.equal(5);
    expect(sampleValue(f, 'pbx_email_queue_messages', { state: 'deferred' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_queue_messages', { state: 'partial' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_queue_messages', { state: 'delivered' })).to.equal(3);
    expect(sampleValue(f, 'pbx_email_queue_messages', { state: 'queued' })).to.equal(undefined);
    expect(sampleValue(f, 'pbx_email_queue_oldest_age_seconds', { state: 'deferred' })).to.be.at.least(0);
    expect(sampleValue(f, 'pbx_email_tenants_held')).to.equal(1);
    // Four sessions took mail (one with a refused recipient); C's never connected.
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_count', { result: 'sent' })).to.equal(3);
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_count', { result: 'refused' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_count', { result: 'error' })).to.equal(1);
    expect(sampleSum(f, 'pbx_email_render_seconds_count')).to.equal(5);
    expect(sampleValue(f, 'pbx_email_spool_write_seconds_count', { op: 'attempt' })).to.be.within(1, 5);
    expect(sampleValue(f, 'pbx_email_spool_write_seconds_count', { op: 'accept' })).to.be.within(1, 5);
    expect(f.get('pbx_email_delivered_total')!.type).to.equal('counter');
    expect(f.get('pbx_email_smtp_session_seconds')!.type).to.equal('histogram');
  });

  it('GET /metrics needs the token', async () => {
    const r = await get('/metrics', '');
    expect([r.status, r.json.code]).to.deep.equal([401, 'HTTP_UNAUTHORIZED']);
  });

  it('GET /health: 503 {status: unavailable} once the plugin is no longer active, while HTTP still answers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-health-'));
    const stopped = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { [A]: { port: 1 } }), dataDir: dir, httpPort: 0, httpToken: TOKEN, log: quiet });
    try {
      const health = () => request(stopped.httpPort!, { path: '/health', headers: { host: `127.0.0.1:${stopped.httpPort}` } });
      expect((await health()).status).to.equal(200);
      await stopped.plugin.deactivate();
      const r = await health();
      expect([r.status, r.text]).to.deep.equal([503, '{"status":"unavailable"}\n']);
    } finally {
      await stopped.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
