import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { OfflineQueue } from '../../src/ops';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';
/** Every file of a dataDir but the lock (whose holder record a reader rewrites), with its content hash. */
const digest = (dir: string) => fs.readdirSync(dir).filter((f) => f !== 'lock').sort().map((f) => [f, fs.statSync(path.join(dir, f)).isFile() ? crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex') : 'dir']);

// SQLite only: OfflineQueue (`queue --data`) opens a stopped host's spool.db read-only; a PostgreSQL spool is read through a running node.
describe('ops: OfflineQueue reads a stopped host’s spool, read-only', function () {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  it('lists messages, shows a delivery log, the refusals and the totals, and leaves dataDir as it was; a running host’s is SPOOL_LOCKED', async () => {
    const server = await h.smtp({ rcptErrors: { [`gone@${T}`]: 550 } });
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
    const ok = missed(T);
    const bad = missed(T, {}, { recipient: { extension: '1', email: [`gone@${T}`] } });
    await h.deliver(server, ok);
    await h.host.send(bad);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === bad.id));
    await h.host.send(missed(T, {}, { recipient: { extension: '1', email: [] } })).catch(() => undefined);
    // A running host holds the dataDir: ask it over HTTP instead.
    expect(() => OfflineQueue.open(h.host.dataDir)).to.throw().with.property('code', 'SPOOL_LOCKED');
    await h.deactivate();
    const before = digest(h.host.dataDir);

    const q = OfflineQueue.open(h.host.dataDir);
    try {
      expect((await q.messages()).map((m) => [m.eventId, m.state])).to.deep.equal([[bad.id, 'failed'], [ok.id, 'delivered']]);
      const d = (await q.message(bad.id, T))!;
      expect(d.attemptsLog.map((a) => [a.outcome, a.code, a.recipients])).to.deep.equal([['failed', 'SMTP_PERMANENT', [{ address: `gone@${T}`, status: 'rejected', replyCode: 550, replyText: '550 No such user' }]]]);
      expect((await q.refusals()).map((r) => r.code)).to.deep.equal(['EVENT_INVALID']);
      const s = (await q.status());
      expect(s.counts).to.deep.equal({ queued: 0, delivered: 1, failed: 1 });
      expect(s.tenants.map((t) => [t.tenant, t.totals, t.held])).to.deep.equal([[T, { accepted: 2, delivered: 1, failed: 1, partial: 0 }, false]]);
    } finally {
      q.close();
    }
    expect(digest(h.host.dataDir)).to.deep.equal(before);
  });

  it('a missing spool, and one of an older layout, are SPOOL_FAILURE; neither is created nor upgraded', () => {
    const empty = h.tmpdir('pbx-offline-');
    expect(() => OfflineQueue.open(empty)).to.throw().with.property('code', 'SPOOL_FAILURE');
    expect(fs.readdirSync(empty)).to.deep.equal([]);
    const v1 = path.join(h.tmpdir('pbx-offline-v1-'), 'data');
    fs.cpSync(path.join(__dirname, '../fixtures/spool-v1'), v1, { recursive: true });
    const before = digest(v1);
    let err: { code?: string; message: string } | undefined;
    try {
      OfflineQueue.open(v1).close();
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).to.equal('SPOOL_FAILURE');
    expect(err?.message).to.contain('layout 1');
    expect(digest(v1)).to.deep.equal(before);
  });
});
