import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { PgSpool } from '../../src/spool/pg';
import type { NewRecord } from '../../src/spool';
import { startPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';

const SCHEMA = 'pbx_test';
const T = 'a.example.com';

function rec(eventId: string): NewRecord {
  return {
    eventId,
    tenant: T,
    type: 'missed-call',
    event: { id: eventId, type: 'missed-call', tenant: T, data: {} } as unknown as NewRecord['event'],
    attachments: [],
    pending: ['user@example.com'],
    messageId: `<${eventId}@test>`,
  };
}

describe('spool: PgSpool leases across a database restart', function () {
  this.timeout(60_000);

  it('a lease that ran out while the database was down stays its owner’s for one lease period after the restart: a live owner renews it and writes its outcome, a dead owner’s is taken over then', async () => {
    const db = await startPostgres();
    const spools: PgSpool[] = [];
    const dirs: string[] = [];
    try {
      const url = await db.createDatabase();
      // Long enough that a loaded machine's restart-to-first-claim stays inside the grace (one lease period).
      const leaseMs = 3000;
      const open = async (owner: string) => {
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-grace-'));
        dirs.push(dataDir);
        const s = await PgSpool.open({ connectionString: url, schema: SCHEMA, poolSize: 2, leaseMs, dataDir, owner });
        spools.push(s);
        return s;
      };
      const [live, dead, other] = [await open('live'), await open('dead'), await open('other')];
      const req = (limit = 5) => ({ tenant: T, now: Date.now(), limit, perTenant: 5, exclude: new Set<number>() });
      expect(await live.enqueue(rec('kept'))).to.equal('queued');
      expect(await live.enqueue(rec('stranded'))).to.equal('queued');
      await live.reportHealth(T, { ok: true }); // the breaker closed: no single-probe cap
      const [kept] = (await live.claim(req(1))).seqs;
      const [stranded] = (await dead.claim(req(1))).seqs;
      expect([kept, stranded].every((s) => typeof s === 'number')).to.equal(true);

      db.kill();
      const killedAt = Date.now();
      await dead.close(); // dies during the outage: its leases can be neither renewed nor given back
      await waitFor(() => Date.now() - killedAt > 1.3 * leaseMs, { what: 'an outage longer than a lease period', timeoutMs: 3 * leaseMs });
      await db.restart();

      // Both leases ran out on the database clock; neither is taken over at once.
      const first = await other.claim(req());
      expect(first.seqs).to.deep.equal([]);
      expect(first.waitMs).to.be.above(0).and.at.most(leaseMs);

      // The live owner's heartbeat renews its lease once it reaches the database again.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await waitFor(
          async () => (await c.query<{ ok: boolean }>(`SELECT lease_until > (extract(epoch from clock_timestamp()) * 1000)::bigint AS ok FROM ${SCHEMA}.messages WHERE seq = $1`, [kept])).rows[0]!.ok,
          { what: 'the live owner’s lease renewed', timeoutMs: 10_000 },
        );
      } finally {
        await c.end();
      }
      // After the grace the dead owner's message is taken over; the live owner's never is.
      const got: number[] = [];
      await waitFor(
        async () => {
          got.push(...(await other.claim(req())).seqs);
          return got.includes(stranded!);
        },
        { what: 'the dead owner’s message taken over', timeoutMs: 10_000, intervalMs: 100 },
      );
      expect(got).to.deep.equal([stranded]);
      await live.recordAttempts([{ seq: kept!, outcome: { state: 'delivered', pending: [], deliveredNow: ['user@example.com'], failedNow: [], attempts: 1, nextAttemptAt: Date.now() } }]);
      expect((await other.get(kept!))!.state).to.equal('delivered');
      expect((await other.get(kept!))!.attempts).to.equal(1);
    } finally {
      for (const s of spools) await s.close();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
      await db.stop();
    }
  });
});
