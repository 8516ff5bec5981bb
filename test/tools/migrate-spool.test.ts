import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { activate } from '../../src';
import { SqliteSpool } from '../../src/spool';
import { MIGRATION_PAGE, OfflineQueue, type MessageDetail, type RefusalRecord, type TenantOpsStatus } from '../../src/ops';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { FakeHost } from '../helpers/fake-host';
import { refusedPort } from '../helpers/fault-servers';
import { sharedPostgres, type TestPostgres } from '../helpers/postgres';
import { queueCli } from '../helpers/queue-cli';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';
import { snapshot } from '../helpers/dir-snapshot';

const A = 'a.example.com';
const B = 'b.example.com';
const delivery = { retry: { initialDelayMs: 1000, maxDelayMs: 2000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 };

type Plugin = Awaited<ReturnType<typeof activate>>;

describe('tools: queue migrate-spool moves a stopped node\'s SQLite spool into PostgreSQL', function () {
  this.timeout(60_000);
  const ca = testCa();
  const cleanup: (() => unknown)[] = [];
  let postgres: TestPostgres;
  let url: string;
  let password: string;
  let root: string;
  let smtpA: TestSmtp;
  let host1: FakeHost;
  let plugin1: Plugin | undefined;
  const doc = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(600_000)]);
  const delivered = [voicemail(A), voicemail(A)];
  const rejected = missed(A, {}, { recipient: { extension: '203', email: [`gone@${A}`] } });
  let faxEvent: ReturnType<typeof fax>;
  let queued: Record<string, any>[];

  before(async () => {
    postgres = await sharedPostgres();
    url = await postgres.createDatabase();
    password = new URL(url).password;
    expect(password.length).to.be.greaterThan(8);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-migrate-root-'));
    cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
    fs.writeFileSync(path.join(root, 'f.pdf'), doc);
    faxEvent = fax(B, {}, { document: { path: path.join(root, 'f.pdf'), contentType: 'application/pdf' } });
    queued = [voicemail(B), faxEvent, missed(B)];
    smtpA = await TestSmtp.start({ ca, rcptErrors: { [`gone@${A}`]: 550 } });
    cleanup.push(() => smtpA.close());
    const dead = await refusedPort();
    host1 = new FakeHost(tenantConfig(ca.cert, { [A]: { port: smtpA.port }, [B]: { port: dead } }, { attachmentRoots: [root], delivery }));
    cleanup.push(() => host1.cleanup());
    plugin1 = await activate(host1.context());
    for (const e of [...delivered, rejected, ...queued]) await host1.send(e);
    const refused = await host1.send(missed(A, { occurredAt: 'yesterday' })).then(
      () => undefined,
      (e: { code?: string }) => e.code,
    );
    expect(refused).to.equal('EVENT_INVALID');
    await host1.until((em) => em.filter((x) => x.type === 'email.delivered').length === 2 && em.some((x) => x.type === 'email.failed') && em.some((x) => x.type === 'email.deferred'));
  });

  after(async () => {
    await plugin1?.deactivate();
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a running host holds its dataDir: SPOOL_LOCKED, exit 1, and nothing is written to the database', async () => {
    const r = await queueCli(['migrate-spool', '--data', host1.dataDir, '--json'], { PBX_NOTIFY_PG_URL: url });
    expect([r.code, r.stdout]).to.deep.equal([1, '']);
    expect(JSON.parse(r.stderr)).to.include({ code: 'SPOOL_LOCKED', field: '--data' });
    expect(JSON.parse(r.stderr).message).to.contain('stop the host first');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      expect((await db.query("SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'pbx_email_notify'")).rows[0].n).to.equal(0);
    } finally {
      await db.end();
    }
  });

  it('copies every message in every state with its log, the attachment, totals and refusals; a second run copies nothing; a PostgreSQL node then delivers the queued mail exactly once', async () => {
    await plugin1!.deactivate();
    plugin1 = undefined;
    fs.rmSync(path.join(root, 'f.pdf'));
    // The source as the stopped host left it.
    const off = OfflineQueue.open(host1.dataDir);
    let source: { messages: MessageDetail[]; tenants: TenantOpsStatus[]; refusals: RefusalRecord[] };
    try {
      const list = await off.messages({ limit: 1000 });
      source = { messages: await Promise.all(list.map(async (m) => (await off.message(m.eventId, m.tenant))!)), tenants: (await off.status()).tenants, refusals: await off.refusals() };
    } finally {
      off.close();
    }
    const byId = new Map(source.messages.map((m) => [m.eventId, m]));
    expect(source.messages.map((m) => [m.eventId, m.state === 'deferred' ? 'queued' : m.state]).sort()).to.deep.equal(
      [...delivered.map((e) => [e.id, 'delivered']), [rejected.id, 'failed'], ...queued.map((e) => [e.id, 'queued'])].sort(),
    );
    expect(byId.get(rejected.id)!.attemptsLog[0]!.replyCode).to.equal(550);
    expect(source.refusals.map((r) => [r.tenant, r.code])).to.deep.equal([[A, 'EVENT_INVALID']]);
    const logLines = await storedLogLines(host1.dataDir);
    const before = snapshot(host1.dataDir);

    const first = await queueCli(['migrate-spool', '--data', host1.dataDir, '--json'], { PBX_NOTIFY_PG_URL: url });
    expect([first.code, first.stderr]).to.deep.equal([0, '']);
    expect(first.json).to.deep.include({
      from: host1.dataDir,
      schema: 'pbx_email_notify',
      copied: { queued: 3, delivered: 2, partial: 0, failed: 1, discarded: 0 },
      skipped: 0,
      attachments: { files: 1, bytes: doc.length, missing: 0 },
      logLines,
      totals: 'copied',
      refusals: 1,
      tenants: 2,
    });
    expect(logLines).to.be.greaterThan(6);
    expect(first.json.to).to.equal(url.replace(`:${password}@`, ':[redacted]@'));
    expect(first.stdout).not.to.contain(password);

    // As if the first run had been interrupted before the fax: a run copies it (and only it), then another finds everything there.
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const gone = await db.query('DELETE FROM pbx_email_notify.messages WHERE event_id = $1 RETURNING seq, files_dir', [faxEvent.id]);
      expect(gone.rowCount).to.equal(1);
      await db.query('DELETE FROM pbx_email_notify.delivery_log WHERE message_seq = $1', [gone.rows[0].seq]);
      const key = path.posix.basename(gone.rows[0].files_dir);
      await db.query('DELETE FROM pbx_email_notify.attachment_chunks WHERE files_dir = $1', [key]);
      expect((await db.query('DELETE FROM pbx_email_notify.attachment_files WHERE files_dir = $1', [key])).rowCount).to.equal(1);
    } finally {
      await db.end();
    }
    const resumed = await queueCli(['migrate-spool', '--data', host1.dataDir, '--json'], { PBX_NOTIFY_PG_URL: url });
    expect([resumed.code, resumed.stderr]).to.deep.equal([0, '']);
    expect(resumed.json).to.deep.include({
      copied: { queued: 1, delivered: 0, partial: 0, failed: 0, discarded: 0 },
      skipped: 5,
      attachments: { files: 1, bytes: doc.length, missing: 0 },
      logLines: byId.get(faxEvent.id)!.log.filter((l) => l.kind !== 'accepted').length,
      totals: 'skipped',
      refusals: 0,
      tenants: 0,
    });
    const second = await queueCli(['migrate-spool', '--data', host1.dataDir, '--to', url]);
    expect([second.code, second.stderr]).to.deep.equal([0, '']);
    expect(second.stdout).not.to.contain(password);
    expect(second.stdout.trimEnd()).to.match(
      new RegExp(
        `^migrated ${esc(host1.dataDir)} to ${esc(first.json.to)} schema pbx_email_notify: 0 messages copied \\(0 queued, 0 delivered, 0 partial, 0 failed, 0 discarded\\), 6 skipped as already there; 0 attachments \\(0 bytes\\); 0 log lines; refusals and totals already there; \\d+ ms$`,
      ),
    );
    expect(snapshot(host1.dataDir), 'the SQLite spool is left as it was').to.deep.equal(before);

    // A node on the PostgreSQL spool with a new, empty dataDir, B's server up.
    const smtpB = await TestSmtp.start({ ca });
    cleanup.push(() => smtpB.close());
    const sentByA = smtpA.mails.length;
    expect(sentByA).to.equal(2);
    const host2 = new FakeHost(
      tenantConfig(ca.cert, { [A]: { port: smtpA.port }, [B]: { port: smtpB.port } }, { attachmentRoots: [root], delivery, spool: { store: 'postgres', postgres: { connectionString: url, leaseMs: 2000 } } }),
    );
    cleanup.push(() => host2.cleanup());
    const plugin2 = await activate(host2.context());
    cleanup.push(() => plugin2.deactivate());
    await host2.until((em) => em.filter((x) => x.type === 'email.delivered').length === 3);
    expect((await plugin2.status()).counts).to.deep.equal({ queued: 0, delivered: 5, failed: 1 });
    expect(smtpB.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort()).to.deep.equal(queued.map((e) => e.id).sort());
    expect(smtpA.mails.length, 'nothing delivered or failed before is sent again').to.equal(sentByA);
    expect(host2.emitted.filter((x) => x.type === 'email.failed')).to.deep.equal([]);
    const faxMail = smtpB.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === faxEvent.id)!;
    expect(faxMail.parsed.attachments).to.have.length(1);
    expect(Buffer.compare(faxMail.parsed.attachments[0]!.content, doc)).to.equal(0);

    // Settled ones as they were, log and all; queued ones keep their earlier attempts before the new one.
    for (const e of [...delivered, rejected]) expect(await plugin2.message(e.id, e.tenant)).to.deep.equal(byId.get(e.id));
    for (const e of queued) {
      const now = (await plugin2.message(e.id, B))!;
      const was = byId.get(e.id)!;
      expect(now.state).to.equal('delivered');
      expect(now.attempts).to.equal(was.attempts + 1);
      expect(now.attemptsLog.slice(0, was.attemptsLog.length)).to.deep.equal(was.attemptsLog);
      expect(now.attemptsLog.slice(was.attemptsLog.length).map((a) => a.outcome)).to.deep.equal(['delivered']);
    }
    const status = await plugin2.status();
    const totals = (ts: TenantOpsStatus[], t: string) => ts.find((x) => x.tenant === t)!.totals;
    expect(totals(status.tenants, A)).to.deep.equal(totals(source.tenants, A));
    expect(totals(source.tenants, A)).to.deep.equal({ accepted: 3, delivered: 2, failed: 1, partial: 0 });
    expect(totals(status.tenants, B)).to.deep.equal({ ...totals(source.tenants, B), delivered: 3 });
    expect(totals(source.tenants, B)).to.deep.equal({ accepted: 3, delivered: 0, failed: 0, partial: 0 });
    expect(await plugin2.refusals()).to.deep.equal(source.refusals);
  });

  it('a database it cannot use is SPOOL_FAILURE and a URL that is not postgres is CLI_USAGE naming --to; the password never appears', async () => {
    const secret = 'Wr0ng-Passw0rd-4711';
    const wrong = new URL(url);
    wrong.password = secret;
    const down = new URL(wrong.href);
    down.port = String(await refusedPort());
    for (const bad of [wrong.href, down.href]) {
      const r = await queueCli(['migrate-spool', '--data', host1.dataDir, '--to', bad, '--json']);
      expect([r.code, r.stdout]).to.deep.equal([1, '']);
      expect(r.stderr).not.to.contain(secret);
      const err = JSON.parse(r.stderr);
      expect(err.code).to.equal('SPOOL_FAILURE');
      expect(err.message).to.contain(`cannot open the PostgreSQL spool at ${bad.replace(secret, '[redacted]')}`);
      const text = await queueCli(['migrate-spool', '--data', host1.dataDir], { PBX_NOTIFY_PG_URL: bad });
      expect([text.code, text.stderr.split(':')[0]]).to.deep.equal([1, 'SPOOL_FAILURE']);
      expect(text.stdout + text.stderr).not.to.contain(secret);
    }
    const mysql = await queueCli(['migrate-spool', '--data', host1.dataDir, '--to', `mysql://pbx:${secret}@127.0.0.1/pbx`, '--json']);
    expect([mysql.code, mysql.stdout]).to.deep.equal([2, '']);
    expect(JSON.parse(mysql.stderr)).to.include({ code: 'CLI_USAGE', field: '--to' });
    expect(mysql.stderr).not.to.contain(secret);
    const cases: [string[], string, RegExp][] = [
      [['migrate-spool', '--data', host1.dataDir], '--to', /needs the database: --to URL, or \$PBX_NOTIFY_PG_URL/],
      [['migrate-spool', '--to', url], '--data', /needs --data DIR/],
      [['migrate-spool', '--url', 'http://127.0.0.1:1', '--to', url], '--url', /give its --data DIR, not --url/],
      [['migrate-spool', '--data', host1.dataDir, '--to', url, '--schema', 'Bad-Name'], '--schema', /--schema: expected a lower-case SQL identifier/],
    ];
    for (const [args, field, message] of cases) {
      const r = await queueCli([...args, '--json']);
      expect([r.code, r.stdout], args.join(' ')).to.deep.equal([2, '']);
      const err = JSON.parse(r.stderr);
      expect([err.code, err.field], args.join(' ')).to.deep.equal(['CLI_USAGE', field]);
      expect(err.message, args.join(' ')).to.match(message);
      expect(r.stderr).not.to.contain(password);
    }
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-migrate-empty-'));
    try {
      const r = await queueCli(['migrate-spool', '--data', empty, '--json'], { PBX_NOTIFY_PG_URL: url });
      expect([r.code, JSON.parse(r.stderr).code]).to.deep.equal([1, 'SPOOL_FAILURE']);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('tools: queue migrate-spool SIGKILLed mid-copy', function () {
  this.timeout(60_000);

  it('a run killed between pages left whole pages behind: the next run copies exactly the rest and skips exactly those', async () => {
    const N = 6000;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-migrate-kill-'));
    const url = await (await sharedPostgres()).createDatabase();
    const db = new pg.Client({ connectionString: url });
    try {
      const spool = new SqliteSpool(dataDir);
      const event = voicemail(A);
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          spool.enqueue({ eventId: `e${i}`, tenant: i % 2 ? A : B, type: event.type, event: { ...event, id: `e${i}` } as never, attachments: [], pending: [`alice@${A}`], messageId: `<e${i}@migrate.test>` }),
        ),
      );
      await spool.close();
      await db.connect();
      const copied = async () => {
        const r = await db.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'pbx_email_notify' AND table_name = 'messages'");
        return r.rows[0].n === 0 ? 0 : (await db.query('SELECT count(*)::int AS n FROM pbx_email_notify.messages')).rows[0].n as number;
      };
      const child = spawn(process.execPath, [path.join(__dirname, '../../dist/src/tools/queue-cli.js'), 'migrate-spool', '--data', dataDir, '--json'], { env: { ...process.env, PBX_NOTIFY_PG_URL: url }, stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await waitFor(async () => (await copied()) > 0, { what: 'the first page committed', timeoutMs: 20_000 });
      child.kill('SIGKILL');
      expect(await exited).to.equal('SIGKILL');
      const left = await copied();
      expect(left, 'killed mid-copy').to.be.lessThan(N);
      expect(left % MIGRATION_PAGE, 'whole pages only').to.equal(0);
      const again = await queueCli(['migrate-spool', '--data', dataDir, '--json'], { PBX_NOTIFY_PG_URL: url });
      expect([again.code, again.stderr]).to.deep.equal([0, '']);
      expect(again.json).to.deep.include({ copied: { queued: N - left, delivered: 0, partial: 0, failed: 0, discarded: 0 }, skipped: left, totals: 'copied', tenants: 2 });
      expect(await copied()).to.equal(N);
      const totals = (await db.query('SELECT tenant, accepted::int FROM pbx_email_notify.tenant_totals ORDER BY tenant')).rows;
      expect(totals).to.deep.equal([
        { tenant: A, accepted: N / 2 },
        { tenant: B, accepted: N / 2 },
      ]);
    } finally {
      await db.end().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Lines in the SQLite spool's delivery log, counted directly in spool.db (read-only). */
async function storedLogLines(dataDir: string): Promise<number> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path.join(dataDir, 'spool.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM delivery_log').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
