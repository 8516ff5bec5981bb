import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { SCHEMA_VERSION } from '../../src/spool';
import { FakeHost } from '../helpers/fake-host';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const FIXTURE = path.join(__dirname, '../fixtures/spool-v1');
const A = 'a.example.com';
const B = 'b.example.com';

// SQLite only: upgrades spool.db fixtures of SQLite layout 1; the PostgreSQL schema has its own versions (test/spool/pg-spool.test.ts).
describe('spool: a spool written by layout 1 (test/fixtures/spool-v1) upgrades to the delivery log', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('keeps every message; a mail delivered to one of two becomes partial, with its code; totals are counted; the queued one is delivered; the partial one can be retried', async function () {
    this.timeout(30_000);
    const dataDir = path.join(h.tmpdir('pbx-upgrade-v1-'), 'data');
    fs.cpSync(FIXTURE, dataDir, { recursive: true });
    const before = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    const v1 = { version: before.pragma('user_version', { simple: true }), states: before.prepare('SELECT event_id, state FROM messages ORDER BY seq').all() };
    before.close();
    expect(v1).to.deep.equal({
      version: 1,
      states: [
        { event_id: 'fixture-ok-1', state: 'delivered' },
        { event_id: 'fixture-mixed-1', state: 'delivered' },
        { event_id: 'fixture-bad-1', state: 'failed' },
        { event_id: 'fixture-q-1', state: 'queued' },
      ],
    });

    const ca = testCa();
    const a = await h.smtp({ ca });
    const b = await h.smtp({ ca });
    const tenant = (id: string, port: number) => ({ from: `PBX <pbx@${id}>`, smtp: { host: '127.0.0.1', port, security: 'starttls', tls: { ca: ca.cert, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000 } });
    const config = { delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 100 * 365 * 86_400_000 } }, tenants: { [A]: tenant(A, a.port), [B]: tenant(B, b.port) } };
    const host = new FakeHost(config, dataDir);
    const { activate } = await import('../../src');
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    expect(host.logs.find((l) => l.msg === 'spool upgraded to the current layout')?.fields).to.deep.equal({ from: 1, to: SCHEMA_VERSION });

    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === 'fixture-q-1'));
    const state = async (id: string, t = A) => (await plugin.message(id, t))!;
    expect((await state('fixture-ok-1')).state).to.equal('delivered');
    const mixed = await state('fixture-mixed-1');
    expect(mixed).to.deep.include({ state: 'partial', attempts: 1, recipients: ['alice@a.example.com', 'nobody@a.example.com'] });
    expect(mixed.lastError?.code).to.equal('SMTP_PERMANENT');
    // Layout 1 kept no log: the accept alone is known.
    expect(mixed.attemptsLog).to.deep.equal([]);
    expect(mixed.log.map((l) => l.kind)).to.deep.equal(['accepted']);
    expect((await state('fixture-bad-1')).state).to.equal('failed');
    expect((await state('fixture-q-1', B)).state).to.equal('delivered');
    const totals = Object.fromEntries((await plugin.status()).tenants.map((t) => [t.tenant, t.totals]));
    expect(totals).to.deep.equal({ [A]: { accepted: 3, delivered: 1, failed: 1, partial: 1 }, [B]: { accepted: 1, delivered: 1, failed: 0, partial: 0 } });

    // nobody@ exists now (a's server takes everyone): the retry sends to it alone.
    await plugin.retry('fixture-mixed-1', A);
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === 'fixture-mixed-1'));
    expect(a.mails.map((m) => m.to)).to.deep.equal([['nobody@a.example.com']]);
    expect((await state('fixture-mixed-1')).state).to.equal('delivered');
    expect(b.mails.map((m) => m.to)).to.deep.equal([['carol@b.example.com']]);

    await plugin.deactivate();
    const after = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      expect(after.prepare("SELECT COUNT(*) FROM messages WHERE age_from IS NULL OR (state = 'delivered' AND failed != '[]' AND event_id != 'fixture-mixed-1')").pluck().get()).to.equal(0);
    } finally {
      after.close();
    }
  });
});
