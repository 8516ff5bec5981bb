import { expect } from 'chai';
import * as pg from 'pg';
import { voicemail } from '../helpers/events';
import { FaultServer, type Tally } from '../helpers/fault-servers';
import { sharedPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName, eventIdOf } from './nodes';

const T = 'a.example.com';

describe('cluster: a dead node strands nothing', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('SIGKILL of a node with sessions open: the others deliver every accepted message, duplicates only among the sessions open at the kill, with the same Message-ID', async function () {
    this.timeout(90_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    const perTenant = 4;
    const leaseMs = 2000;
    // Each node sends the tenant's mail to a server of its own (the same tenant, the config differs only in
    // the port), so every session at a server is provably that node's. Each server takes its first message
    // and then holds DATA: sessions stay open until the test lets them go.
    const tally: Tally = { now: 0, max: 0 };
    const servers = await Promise.all([0, 1, 2].map(() => FaultServer.start({ starttls: 'none', tally, holdDataAfter: 1 })));
    for (const s of servers) cleanup.push(() => s.close());
    const nodes = await Promise.all(servers.map((s, i) => ClusterNode.start(`n${i}`, clusterConfig(url, { [T]: s.port }, { perTenant, leaseMs }))));
    for (const n of nodes) cleanup.push(() => n.kill());

    const total = 60;
    const events = Array.from({ length: total }, () => voicemail(T));
    const answers = await Promise.all(events.map((e, i) => nodes[i % 3]!.send(e)));
    expect(answers.map((a) => a.result ?? a.error)).to.deep.equal(events.map(() => 'queued'));

    // Every cluster-wide session slot ends up held open at some node's server.
    const held = () => servers.reduce((n, s) => n + s.held, 0);
    await waitFor(() => held() === perTenant, { what: `${perTenant} sessions held open across the cluster`, timeoutMs: 20_000, detail: () => servers.map((s) => [s.mails.length, s.held, s.open]) });
    expect(tally.max, 'sessions at once across the cluster').to.equal(perTenant);
    const victimAt = servers.map((s) => s.held).reduce((best, h, i, all) => (h > all[best]! ? i : best), 0);
    const victim = nodes[victimAt]!;
    const vServer = servers[victimAt]!;
    const openAtKill = vServer.held;
    expect(openAtKill, 'sessions open at the victim’s server').to.be.at.least(1);
    expect(vServer.open).to.equal(openAtKill);
    const heldIds = vServer.mails.slice(1).map((m) => eventIdOf(m.raw));
    expect(heldIds).to.have.length(openAtKill);

    // The victim's leases, as the database holds them (owner host:pid:random).
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    cleanup.push(() => c.end());
    const leased = (
      await c.query<{ event_id: string }>(`SELECT event_id FROM pbx_email_notify.messages WHERE state = 'queued' AND lease_until IS NOT NULL AND split_part(lease_owner, ':', 2) = $1`, [String(victim.pid)])
    ).rows.map((r) => r.event_id);
    expect(leased).to.include.members(heldIds);

    const killedAt = Date.now();
    await victim.kill();
    await waitFor(() => vServer.open === 0, { what: 'the victim’s sessions closed at its server' });
    for (const [i, s] of servers.entries()) if (i !== victimAt) s.releaseData();

    const survivors = nodes.filter((n) => n !== victim);
    const deliveredIds = () => new Set(survivors.flatMap((n) => n.of('email.delivered').map((e) => e.eventId)));
    const victimDelivered = new Set(victim.of('email.delivered').map((e) => e.eventId));
    await waitFor(() => events.every((e) => deliveredIds().has(e.id) || victimDelivered.has(e.id)), {
      what: 'every accepted message delivered',
      timeoutMs: 30_000,
      detail: () => [deliveredIds().size, victimDelivered.size, servers.map((s) => s.mails.length)],
    });
    const status = await survivors[0]!.op('status');
    expect(status.counts).to.deep.equal({ queued: 0, delivered: total, failed: 0 });

    const mails = servers.flatMap((s) => s.mails);
    const ids = mails.map((m) => eventIdOf(m.raw));
    expect(new Set(ids).size, 'distinct messages at the servers').to.equal(total);
    expect([...new Set(ids)].sort()).to.deep.equal(events.map((e) => e.id).sort());
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(dupes.length, 'duplicates').to.be.at.most(openAtKill);
    expect(heldIds, 'duplicates are of sessions open at the kill').to.include.members(dupes);
    for (const id of new Set(dupes)) {
      expect(new Set(mails.filter((m) => eventIdOf(m.raw) === id).map((m) => m.messageId)).size, `Message-IDs of ${id}`).to.equal(1);
    }
    const takeover = Math.min(...survivors.flatMap((n) => n.of('email.delivered').filter((e) => leased.includes(e.eventId)).map((e) => e.at))) - killedAt;
    console.log(`      takeover: ${takeover} ms from SIGKILL to the first delivery of the victim's claimed mail by another node (leaseMs ${leaseMs}; ${openAtKill} sessions open at the kill, ${dupes.length} duplicates)`);
  });
});
