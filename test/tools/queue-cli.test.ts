import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceHost } from '../../src/host/reference-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { queueCli } from '../helpers/queue-cli';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';
import { snapshot } from '../helpers/dir-snapshot';

const root = path.join(__dirname, '../..');
const TOKEN = 'queue-cli-token-0123456789ab';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('tools: the queue CLI refuses bad usage with codes', function () {
  this.timeout(60_000);

  it('usage errors exit 2 with CLI_USAGE naming what is wrong (as JSON with --json)', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^CLI_USAGE: no command given/],
      [['frobnicate'], /^CLI_USAGE: unknown command "frobnicate"/],
      [['retry', 'a.example.com'], /^CLI_USAGE: retry takes tenant and event id, got "a.example.com"/],
      [['list', '--colour', 'red'], /^CLI_USAGE: list takes no --colour/],
      [['list', '--limit', 'ten'], /^CLI_USAGE: --limit: expected a whole number/],
      [['retry', 'a.example.com', 'x', '--data', '/nowhere'], /^CLI_USAGE: retry changes the queue: it needs the running host/],
      [['list', '--url', 'http://127.0.0.1:1', '--data', '/nowhere'], /^CLI_USAGE: --url and --data exclude each other/],
      [['retry-failed', 'a.example.com'], /^CLI_USAGE: retry-failed needs --since/],
      [['test', 'a.example.com'], /^CLI_USAGE: test needs --to/],
      [['list', '--url', 'ftp://x'], /^CLI_USAGE: --url: expected an http:\/\/ or https:\/\/ URL/],
    ];
    for (const [args, message] of cases) {
      const r = await queueCli(args);
      expect([r.code, r.stdout], args.join(' ')).to.deep.equal([2, '']);
      expect(r.stderr, args.join(' ')).to.match(message);
    }
    const j = await queueCli(['list', '--colour', 'red', '--json']);
    expect(j.code).to.equal(2);
    expect(JSON.parse(j.stderr)).to.deep.equal({ code: 'CLI_USAGE', message: 'list takes no --colour (it takes --tenant, --state, --limit, --before)', field: '--colour' });
    const help = await queueCli(['--help'], {}, { launcher: 'script' });
    expect([help.code, help.stdout.startsWith('usage: npm run queue -- COMMAND')]).to.deep.equal([0, true]);
  });

  it('nothing listening at --url: exit 1, HOST_UNREACHABLE', async () => {
    const r = await queueCli(['list', '--url', 'http://127.0.0.1:1', '--json']);
    expect(r.code).to.equal(1);
    expect(JSON.parse(r.stderr).code).to.equal('HOST_UNREACHABLE');
  });

  it('a running host: the token from $PBX_NOTIFY_TOKEN or --token-file; none or a wrong one is HTTP_UNAUTHORIZED, exit 1', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-cli-auth-'));
    const host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }), dataDir, httpPort: 0, httpToken: TOKEN, log: quiet });
    try {
      const url = `http://127.0.0.1:${host.httpPort}`;
      const none = await queueCli(['status', '--url', url]);
      expect([none.code, none.stderr.split(':')[0]]).to.deep.equal([1, 'HTTP_UNAUTHORIZED']);
      expect(none.stderr).to.contain('--token-file');
      const wrong = await queueCli(['status', '--url', url, '--json'], { PBX_NOTIFY_TOKEN: 'not-the-token-0123456789' });
      expect([wrong.code, JSON.parse(wrong.stderr).code]).to.deep.equal([1, 'HTTP_UNAUTHORIZED']);
      const env = await queueCli(['status', '--url', url, '--json'], { PBX_NOTIFY_TOKEN: TOKEN });
      expect([env.code, env.stderr]).to.deep.equal([0, '']);
      expect(env.json.tenants.map((t: { tenant: string }) => t.tenant)).to.include('a.example.com');
      const file = path.join(dataDir, 'operator-token');
      fs.writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      const viaFile = await queueCli(['status', '--url', url, '--token-file', file], { PBX_NOTIFY_TOKEN: 'env-loses-to-the-file-0123' });
      expect([viaFile.code, viaFile.stdout.split('\n')[0]!.split(/\s+/).slice(0, 2)]).to.deep.equal([0, ['TENANT', 'HELD']]);
    } finally {
      await host.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('tools: the queue CLI against a running host, then its stopped spool', function () {
  this.timeout(60_000);
  const A = 'a.example.com';
  const B = 'b.example.com';
  // Mutable: deleting the entry is "the operator fixed the mailbox".
  const rcptErrors: Record<string, number> = { [`gone@${A}`]: 550 };
  let smtp: TestSmtp;
  let host: ReferenceHost | undefined;
  let dataDir: string;
  let url: string;
  const env = { PBX_NOTIFY_TOKEN: TOKEN };
  const partialEvent = voicemail(A, {}, { recipient: { extension: '201', email: [`ok@${A}`, `gone@${A}`] } });
  const stuck = missed(B);
  const emitted: { type: string; payload: Record<string, any> }[] = [];
  const q = (...args: string[]) => queueCli([...args, '--url', url], env);

  before(async () => {
    smtp = await TestSmtp.start({ ca: testCa(), rcptErrors });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-cli-'));
    const config = tenantConfig(testCa().cert, { [A]: { port: smtp.port }, [B]: { port: 1 } }, {
      delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 },
    });
    host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, httpToken: TOKEN, log: quiet, onEmit: (type, payload) => emitted.push({ type, payload }) });
    url = `http://127.0.0.1:${host.httpPort}`;
    await host.dispatch(partialEvent as never);
    await host.dispatch(stuck as never);
    await host.dispatch(missed(A, { occurredAt: 'yesterday' }) as never).catch(() => undefined);
    await waitFor(() => emitted.some((e) => e.type === 'email.failed') && emitted.some((e) => e.type === 'email.deferred'), { what: 'the partial and the deferred outcome', detail: () => emitted });
  });
  after(async () => {
    await host?.stop();
    await smtp?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('list and show: the state, the 550 and the recipient it was for, as a table and as JSON', async () => {
    const list = await q('list', '--json');
    expect([list.code, list.stderr]).to.deep.equal([0, '']);
    expect(list.json.messages.map((m: any) => [m.tenant, m.eventId, m.state]).sort()).to.deep.equal(
      [
        [A, partialEvent.id, 'partial'],
        [B, stuck.id, 'deferred'],
      ].sort(),
    );
    const table = await q('list', '--tenant', A);
    expect(table.code).to.equal(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header!.split(/\s{2,}/)).to.deep.equal(['TENANT', 'EVENT ID', 'TYPE', 'STATE', 'ATTEMPTS', 'ACCEPTED', 'NEXT ATTEMPT', 'LAST ERROR']);
    expect(rows.map((r) => r.split(/\s{2,}/).slice(0, 5))).to.deep.equal([[A, partialEvent.id, 'voicemail.received', 'partial', '1']]);

    const show = await q('show', A, partialEvent.id, '--json');
    expect(show.code).to.equal(0);
    const rejected = show.json.attemptsLog[0].recipients.find((r: any) => r.status === 'rejected');
    expect([rejected.address, rejected.replyCode]).to.deep.equal([`gone@${A}`, 550]);
    const text = await q('show', A, partialEvent.id);
    expect(text.stdout).to.match(/^state\s+partial$/m);
    expect(text.stdout).to.match(new RegExp(`gone@${A.replace(/\./g, '\\.')}\\s+rejected\\s+550 `));

    const missing = await q('show', A, 'no-such-event');
    expect([missing.code, missing.stdout, missing.stderr.split(':')[0]]).to.deep.equal([1, '', 'MESSAGE_NOT_FOUND']);
    const refusals = await q('refusals', '--json');
    expect(refusals.json.refusals.map((r: any) => [r.tenant, r.code, r.field])).to.deep.equal([[A, 'EVENT_INVALID', '/occurredAt']]);
  });

  it('retry after the fix sends to the failed recipient only, once; discard, flush, retry-failed and test act and say so', async () => {
    delete rcptErrors[`gone@${A}`];
    const retry = await q('retry', A, partialEvent.id);
    expect([retry.code, retry.stderr]).to.deep.equal([0, '']);
    expect(retry.stdout).to.match(new RegExp(`^retried ${A.replace(/\./g, '\\.')} ${partialEvent.id}: now queued`));
    await smtp.waitFor(2);
    // The server records the recipients it accepted: ok@ the first time, gone@ alone after the retry.
    expect(smtp.mails.map((m) => m.to)).to.deep.equal([[`ok@${A}`], [`gone@${A}`]]);
    await waitFor(async () => (await q('show', A, partialEvent.id, '--json')).json?.state === 'delivered', { what: 'the retried message delivered' });
    const again = await q('retry', A, partialEvent.id, '--json');
    expect([again.code, JSON.parse(again.stderr).code]).to.deep.equal([1, 'MESSAGE_NOT_RETRYABLE']);

    const discard = await q('discard', B, stuck.id, '--json');
    expect([discard.code, discard.json.state]).to.deep.equal([0, 'discarded']);
    expect(emitted.filter((e) => e.type === 'email.failed' && e.payload.eventId === stuck.id).map((e) => e.payload.reason.split(':')[0])).to.deep.equal(['DISCARDED']);
    const twice = await q('discard', B, stuck.id);
    expect([twice.code, twice.stderr.split(':')[0]]).to.deep.equal([1, 'MESSAGE_NOT_DISCARDABLE']);

    const flush = await q('flush', B);
    expect([flush.code, flush.stdout.trim()]).to.deep.equal([0, `flushed ${B}: hold ended, 0 messages due now`]);
    const unknown = await q('flush', 'nobody.example.com', '--json');
    expect([unknown.code, JSON.parse(unknown.stderr).code]).to.deep.equal([1, 'TENANT_UNKNOWN']);
    const rf = await q('retry-failed', A, '--since', '2026-01-01T00:00:00Z', '--json');
    expect([rf.code, rf.json]).to.deep.equal([0, { tenant: A, retried: 0 }]);
    const badSince = await q('retry-failed', A, '--since', 'last tuesday', '--json');
    expect(badSince.code).to.equal(1);
    expect(JSON.parse(badSince.stderr)).to.include({ code: 'QUERY_INVALID', field: 'since' });

    const test = await q('test', A, '--to', `ops@${A}`, '--event', 'call.missed');
    expect(test.code, test.stderr).to.equal(0);
    expect(test.stdout.split('\n')[0]).to.equal(`test-send call.missed for ${A} to ops@${A}: delivered`);
    expect(test.stdout).to.match(/^tls\s+TLSv1\.[23]$/m);
    expect(smtp.mails.map((m) => m.to)).to.have.length(3);
    expect(smtp.mails[2]!.to).to.deep.equal([`ops@${A}`]);
    const dead = await q('test', B, '--to', `ops@${B}`, '--json');
    expect([dead.code, dead.json.outcome, dead.json.code]).to.deep.equal([1, 'failed', 'SMTP_CONNECT']);
  });

  it('with the host stopped, --data reads the spool as the host showed it and changes nothing in it', async () => {
    const online = (await q('list', '--json')).json.messages;
    const onlineShow = (await q('show', A, partialEvent.id, '--json')).json;
    const running = await queueCli(['list', '--data', dataDir], env);
    expect([running.code, running.stderr.split(':')[0]]).to.deep.equal([1, 'SPOOL_LOCKED']);
    await host!.stop();
    host = undefined;
    const before = snapshot(dataDir);
    const list = await queueCli(['list', '--data', dataDir, '--json']);
    expect([list.code, list.stderr]).to.deep.equal([0, '']);
    expect(list.json.messages).to.deep.equal(online);
    const show = await queueCli(['show', A, partialEvent.id, '--data', dataDir, '--json']);
    expect(show.json).to.deep.equal(onlineShow);
    const table = await queueCli(['list', '--data', dataDir, '--state', 'discarded']);
    expect(table.code, table.stdout + table.stderr).to.equal(0);
    expect(table.stdout.trimEnd().split('\n').slice(1).map((r) => r.split(/\s{2,}/)[1])).to.deep.equal([stuck.id]);
    const bad = await queueCli(['list', '--data', dataDir, '--state', 'lost', '--json']);
    expect([bad.code, JSON.parse(bad.stderr).code, JSON.parse(bad.stderr).field]).to.deep.equal([1, 'QUERY_INVALID', 'state']);
    expect(snapshot(dataDir)).to.deep.equal(before);
  });
});
