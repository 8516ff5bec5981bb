import { expect } from 'chai';
import type { TenantOpsStatus } from '../../src/ops';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { FaultServer, type Tally } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const DEAD = 'dead.example.com';
const FLOOD = 'flood.example.com';
const SINGLE = 'single.example.com';

describe('scheduler: circuit breaker and round robin', function () {
  this.timeout(30_000);
  const h = new Harness();
  afterEach(() => h.dispose());

  it('holds a blackholed tenant: one probe connection at a time, never one per queued message; all 20 go out once the server is back', async () => {
    const blackhole = await FaultServer.blackhole();
    h.defer(() => blackhole.close());
    const port = blackhole.port;
    const config = tenantConfig(testCa().cert, { [DEAD]: { port } }, {
      delivery: { retry: { initialDelayMs: 600, maxDelayMs: 1200, maxAgeMs: 600_000 }, concurrency: { perTenant: 4, global: 32 }, messageTimeoutMs: 3000, shutdownTimeoutMs: 200 },
    });
    // socketTimeoutMs: held transactions at the recovered server must outlast a loaded machine's pauses.
    Object.assign(config.tenants[DEAD].smtp, { connectionTimeoutMs: 400, greetingTimeoutMs: 400, socketTimeoutMs: 20_000 });
    await h.start(config);
    const events = Array.from({ length: 20 }, () => voicemail(DEAD));
    await Promise.all(events.map((e) => h.host.send(e)));

    const deferred = () => h.host.of('email.deferred').length;
    let seenLane: TenantOpsStatus | undefined;
    const lane = async () => (seenLane = (await h.plugin.status()).tenants.find((t) => t.tenant === DEAD));
    // Between two probes (the hold after the third failure): no session in flight, none open at the server.
    await waitFor(async () => deferred() >= 3 && (await lane())?.active === 0 && blackhole.open === 0, {
      timeoutMs: 20_000,
      what: 'three probes over and the tenant held',
      detail: () => ({ deferred: deferred(), lane: seenLane, open: blackhole.open, connections: blackhole.connections }),
    });
    // Every connection was a probe that ended in exactly one deferral, one at a time.
    expect(blackhole.maxOpen, 'concurrent connections to the dead server').to.equal(1);
    expect(blackhole.connections, 'one connection per deferral').to.equal(deferred());
    expect(blackhole.connections).to.be.lessThan(events.length);
    for (const d of h.host.of('email.deferred')) expect(d.payload.reason).to.match(/^SMTP_TIMEOUT\b/);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === DEAD)!.failures).to.be.greaterThan(0);
    const probes = blackhole.connections;

    // The server comes back on the same port: the next probe succeeds and the window reopens.
    await blackhole.close();
    // It answers the probe, then withholds its replies: the reopened window is counted while its sessions stand still.
    const back = await FaultServer.start({ cert: testCa().issue(), holdDataAfter: 1 }, port);
    h.defer(() => back.close());
    await waitFor(() => back.held === 4, { what: 'four transactions held at the recovered server', detail: () => ({ held: back.held, busy: back.busy, lane: seenLane }) });
    expect(h.host.of('email.delivered')).to.have.length(1);
    expect((await lane())!.active, 'sessions the scheduler started: the per-tenant cap, no more').to.equal(4);
    expect(back.busy.now).to.equal(4);
    back.releaseData();
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length);
    expect(new Set(back.mails.map((m) => m.messageId)).size).to.equal(events.length);
    expect(back.mails).to.have.length(events.length);
    expect(back.busy.max, 'the per-tenant cap once healthy').to.equal(4);
    expect(h.host.of('email.failed')).to.have.length(0);
    // Figures for the report.
    console.log(`      blackhole: ${probes} connections for ${events.length} queued messages, max ${blackhole.maxOpen} at once; after recovery max ${back.busy.max} transactions at once`);
  });

  it('caps: never more than perTenant sessions for a tenant, nor more than global in all', async () => {
    const tally: Tally = { now: 0, max: 0 };
    const tenants = ['t1.example.com', 't2.example.com', 't3.example.com'];
    // Each server answers its tenant's probe, then withholds every reply: sessions pile up until a cap stops them.
    const servers = await Promise.all(tenants.map(() => FaultServer.start({ cert: testCa().issue(), tally, holdDataAfter: 1 })));
    for (const s of servers) h.defer(() => s.close());
    const [s1, s2, s3] = servers as [FaultServer, FaultServer, FaultServer];
    const perTenant = 3;
    const global = 5;
    const config = tenantConfig(testCa().cert, Object.fromEntries(tenants.map((t, i) => [t, { port: servers[i]!.port }])), {
      delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000 }, concurrency: { perTenant, global }, messageTimeoutMs: 30_000, shutdownTimeoutMs: 200 },
    });
    // Held transactions wait for the test, not for a timeout.
    for (const t of tenants) config.tenants[t].smtp.socketTimeoutMs = 30_000;
    await h.start(config);
    const lane = async (t: string) => (await h.plugin.status()).tenants.find((l) => l.tenant === t)?.active;
    const seen = () => ({ held: servers.map((s) => s.held), tally });
    const byTenant = (t: string) => Array.from({ length: 10 }, () => missed(t));

    // One tenant alone: its cap binds (the global one would allow 5).
    const first = byTenant(tenants[0]!);
    await Promise.all(first.map((e) => h.host.send(e)));
    await waitFor(() => s1.held === perTenant, { what: `${perTenant} transactions held for t1`, detail: seen });
    expect((await h.plugin.status()).active, 'sessions started for t1 alone').to.equal(perTenant);
    expect(await lane(tenants[0]!)).to.equal(perTenant);

    // Two more tenants: the global cap binds; t1 keeps its three, the others share the two slots left.
    const rest = [...byTenant(tenants[1]!), ...byTenant(tenants[2]!)];
    await Promise.all(rest.map((e) => h.host.send(e)));
    await waitFor(() => s1.held + s2.held + s3.held === global, { what: `${global} transactions held in all`, detail: seen });
    expect(tally.now).to.equal(global);
    expect((await h.plugin.status()).active, 'sessions started in all').to.equal(global);
    expect(s1.held).to.equal(perTenant);
    expect(s2.held + s3.held).to.equal(global - perTenant);

    for (const s of servers) s.releaseData();
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === first.length + rest.length);
    for (const s of servers) {
      expect(s.mails).to.have.length(10);
      expect(s.busy.max, 'per-tenant cap').to.be.at.most(perTenant);
    }
    expect(s1.busy.max, 't1 reached its cap').to.equal(perTenant);
    expect(tally.max, 'global cap, reached').to.equal(global);
    console.log(`      caps: at most ${Math.max(...servers.map((s) => s.busy.max))} transactions per tenant (cap ${perTenant}), ${tally.max} in all (cap ${global})`);
  });

  it('round robin: a tenant with 2000 queued does not starve a tenant that sends one', async () => {
    const ca = testCa();
    const [flood, single] = await Promise.all([TestSmtp.start({ ca }), TestSmtp.start({ ca })]);
    h.defer(() => flood.close(), () => single.close());
    const perTenant = 2;
    // The global cap equals the flood's own cap: the single message has to win a freed slot by round robin.
    await h.start(tenantConfig(ca.cert, { [FLOOD]: { port: flood.port }, [SINGLE]: { port: single.port } }, {
      delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000 }, concurrency: { perTenant, global: perTenant }, messageTimeoutMs: 8000, shutdownTimeoutMs: 200 },
    }));
    const floodEvents = Array.from({ length: 2000 }, () => missed(FLOOD));
    for (let i = 0; i < floodEvents.length; i += 200) await Promise.all(floodEvents.slice(i, i + 200).map((e) => h.host.send(e)));
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length >= perTenant * 2);
    const one = voicemail(SINGLE);
    const before = h.host.of('email.delivered').length;
    await h.host.send(one);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === one.id));
    const order = h.host.emitted.filter((e) => e.type === 'email.delivered');
    const floodAhead = order.findIndex((e) => e.payload.eventId === one.id) - before;
    // The sessions already running when it arrived, one turn of the ring, and some slack for a loaded machine;
    // a ring that does not rotate lets dozens through first.
    expect(floodAhead, 'flood messages delivered after the single one was queued and before it').to.be.at.most(perTenant * 3);
    expect(single.mails).to.have.length(1);
    expect((await h.plugin.status()).counts.queued).to.be.greaterThan(1900);
    console.log(`      round robin: ${floodAhead} flood messages went out between the single message's accept and its delivery`);
  });
});
