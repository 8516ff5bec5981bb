import { expect } from 'chai';
import * as pg from 'pg';
import { voicemail } from '../helpers/events';
import { FaultServer, type Tally } from '../helpers/fault-servers';
import { sharedPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName, eventIdOf } from './nodes';

const DEAD = 'dead.example.com';
const OK = 'ok.example.com';

describe('cluster: limits are cluster-wide', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a blackholed tenant sees one connection at a time from three nodes, while a healthy tenant on the same nodes gets all its mail', async function () {
    this.timeout(90_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    const hole = await FaultServer.blackhole();
    const ok = await FaultServer.start({ starttls: 'none' });
    for (const s of [hole, ok]) cleanup.push(() => s.close());
    const config = clusterConfig(url, { [DEAD]: hole.port, [OK]: ok.port }, { retry: { initialDelayMs: 100, maxDelayMs: 300 } });
    const nodes = await Promise.all([0, 1, 2].map((i) => ClusterNode.start(`n${i}`, config)));
    for (const n of nodes) cleanup.push(() => n.kill());

    const dead = Array.from({ length: 15 }, () => voicemail(DEAD));
    const healthy = Array.from({ length: 30 }, () => voicemail(OK));
    const answers = await Promise.all([...dead, ...healthy].map((e, i) => nodes[i % 3]!.send(e)));
    expect(answers.map((a) => a.result ?? a.error)).to.deep.equal(answers.map(() => 'queued'));

    await waitFor(() => ok.mails.length === healthy.length && hole.connections >= 3, {
      what: 'the healthy tenant’s mail delivered and three probes of the dead server',
      timeoutMs: 40_000,
      detail: () => ({ ok: ok.mails.length, probes: hole.connections, maxOpen: hole.maxOpen }),
    });
    expect(hole.maxOpen, 'connections open at once to the dead server, cluster-wide').to.equal(1);
    expect(ok.mails.map((m) => eventIdOf(m.raw)).sort()).to.deep.equal(healthy.map((e) => e.id).sort());
    const status = await nodes[0]!.op('status');
    expect(status.counts).to.deep.equal({ queued: dead.length, delivered: healthy.length, failed: 0 });
    console.log(`      dead server: ${hole.connections} probes, at most ${hole.maxOpen} open at once`);
  });

  it('perTenant 2 on three nodes: exactly two sessions open at once for the tenant across the cluster, then all delivered once', async function () {
    this.timeout(90_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    // A server per node, one tally for all: sessions at once across the cluster, each server's first message taken, then DATA held.
    const tally: Tally = { now: 0, max: 0 };
    const servers = await Promise.all([0, 1, 2].map(() => FaultServer.start({ starttls: 'none', tally, holdDataAfter: 1 })));
    for (const s of servers) cleanup.push(() => s.close());
    const nodes = await Promise.all(servers.map((s, i) => ClusterNode.start(`n${i}`, clusterConfig(url, { [OK]: s.port }, { perTenant: 2 }))));
    for (const n of nodes) cleanup.push(() => n.kill());

    const total = 30;
    const events = Array.from({ length: total }, () => voicemail(OK));
    const answers = await Promise.all(events.map((e, i) => nodes[i % 3]!.send(e)));
    expect(answers.map((a) => a.result ?? a.error)).to.deep.equal(events.map(() => 'queued'));

    const held = () => servers.reduce((n, s) => n + s.held, 0);
    await waitFor(() => held() === 2, { what: 'two sessions held open', timeoutMs: 20_000, detail: () => servers.map((s) => [s.mails.length, s.held]) });
    // The database agrees: two leases, the rest due and waiting for a free session.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    cleanup.push(() => c.end());
    const leases = await c.query<{ leased: number; waiting: number }>(
      `SELECT COUNT(*) FILTER (WHERE lease_until > (extract(epoch from clock_timestamp()) * 1000)::bigint)::int AS leased,
              COUNT(*) FILTER (WHERE lease_until IS NULL OR lease_until <= (extract(epoch from clock_timestamp()) * 1000)::bigint)::int AS waiting
       FROM pbx_email_notify.messages WHERE state = 'queued'`,
    );
    const delivered = servers.reduce((n, s) => n + s.mails.length, 0) - 2;
    expect(leases.rows[0]).to.deep.equal({ leased: 2, waiting: total - delivered - 2 });
    expect(tally.max).to.equal(2);

    for (const s of servers) s.releaseData();
    const reported = () => new Set(nodes.flatMap((n) => n.of('email.delivered').map((e) => e.eventId)));
    await waitFor(() => reported().size === total, { what: 'every message delivered', timeoutMs: 30_000, detail: () => reported().size });
    expect(tally.max, 'sessions at once across the cluster, the whole run').to.equal(2);
    const ids = servers.flatMap((s) => s.mails.map((m) => eventIdOf(m.raw)));
    expect(ids).to.have.length(total);
    expect([...new Set(ids)].sort()).to.deep.equal(events.map((e) => e.id).sort());
    console.log(`      mail per node: ${servers.map((s) => s.mails.length).join(', ')}`);
  });
});
