import { expect } from 'chai';
import { voicemail } from '../helpers/events';
import { FaultServer } from '../helpers/fault-servers';
import { startPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, eventIdOf } from './nodes';

const T = 'a.example.com';

describe('cluster: losing the database connection (a killed server)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a killed database, down longer than the lease: new events are refused with SPOOL_FAILURE, the session in flight completes, its outcome is written after the restart, and nothing is sent twice', async function () {
    this.timeout(90_000);
    const db = await startPostgres();
    cleanup.push(() => db.stop());
    const url = await db.createDatabase();
    // Both nodes' servers hold DATA, so whichever node claims the message keeps its session open.
    const servers = await Promise.all([0, 1].map(() => FaultServer.start({ starttls: 'none', holdDataAfter: 0 })));
    for (const s of servers) cleanup.push(() => s.close());
    // The outage outlasts the lease: the holder cannot renew it while the database is away.
    const leaseMs = 2000;
    const nodes = await Promise.all(servers.map((s, i) => ClusterNode.start(`n${i}`, clusterConfig(url, { [T]: s.port }, { leaseMs }))));
    for (const n of nodes) cleanup.push(() => n.kill());

    const m1 = voicemail(T);
    expect(await nodes[0]!.send(m1)).to.deep.equal({ id: 1, result: 'queued' });
    await waitFor(() => servers.some((s) => s.held === 1), { what: 'the message’s session open at a server, DATA held', timeoutMs: 20_000 });
    const at = servers.findIndex((s) => s.held === 1);
    const holder = servers[at]!;
    expect(servers.map((s) => s.held).sort()).to.deep.equal([0, 1]);

    db.kill();
    const killedAt = Date.now();
    const m2 = voicemail(T);
    for (const n of nodes) {
      const a = await n.send(m2);
      expect(a.error, JSON.stringify(a)).to.equal('SPOOL_FAILURE');
    }

    // The server accepts the message in flight while the database is down.
    holder.releaseData();
    await waitFor(() => holder.busy.now === 0 && holder.mails.length === 1, { what: 'the held message accepted by the server' });
    expect(eventIdOf(holder.mails[0]!.raw)).to.equal(m1.id);

    // Down for two lease periods: the holder's lease has run out on the database clock when it comes back.
    await waitFor(() => Date.now() - killedAt > 2 * leaseMs, { what: 'two lease periods of outage', timeoutMs: 3 * leaseMs });
    await db.restart();
    const outage = Date.now() - killedAt;
    // The outcome kept through the outage is written; the other node reads it from the shared database.
    await waitFor(
      async () => {
        try {
          return (await nodes[1 - at]!.op('lookup', m1.id, T))?.state === 'delivered';
        } catch {
          return false; // the pool is reconnecting
        }
      },
      { what: 'the outcome of the message written after the restart', timeoutMs: 30_000 },
    );

    // The host retries the refused event: the marker after recovery.
    for (const s of servers) s.releaseData();
    expect((await nodes[at]!.send(m2)).result).to.equal('queued');
    await waitFor(() => servers.reduce((n, s) => n + s.mails.length, 0) >= 2 && nodes.some((n) => n.of('email.delivered').some((e) => e.eventId === m2.id)), {
      what: 'the marker delivered',
      timeoutMs: 20_000,
    });
    const ids = servers.flatMap((s) => s.mails.map((m) => eventIdOf(m.raw)));
    expect(ids.sort()).to.deep.equal([m1.id, m2.id].sort());
    const status = await nodes[0]!.op('status');
    expect(status.counts).to.deep.equal({ queued: 0, delivered: 2, failed: 0 });
    console.log(`      database down ${outage} ms (leaseMs ${leaseMs}); the message in flight sent once`);
  });
});
