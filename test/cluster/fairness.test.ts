import { expect } from 'chai';
import { voicemail } from '../helpers/events';
import { FaultServer } from '../helpers/fault-servers';
import { sharedPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName, eventIdOf } from './nodes';

const FLOOD = 'flood.example.com';
const ONE = 'one.example.com';

describe('cluster: fair across tenants', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a tenant flooding 1500 messages through one node does not hold up a tenant with one message sent to another node', async function () {
    this.timeout(90_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    // The flood's server takes 20 ms a message: with perTenant 4 across the cluster, 1500 take 7.5 s at the very least.
    const flood = await FaultServer.start({ starttls: 'none', dataReplyDelayMs: 20 });
    const one = await FaultServer.start({ starttls: 'none' });
    for (const s of [flood, one]) cleanup.push(() => s.close());
    const config = clusterConfig(url, { [FLOOD]: flood.port, [ONE]: one.port }, { perTenant: 4 });
    const [a, b] = await Promise.all(['a', 'b'].map((n) => ClusterNode.start(n, config)));
    for (const n of [a!, b!]) cleanup.push(() => n.kill());

    const total = 1500;
    const events = Array.from({ length: total }, () => voicemail(FLOOD));
    const answers = await Promise.all(events.map((e) => a!.send(e)));
    expect(answers.filter((x) => x.result === 'queued')).to.have.length(total);
    await waitFor(() => flood.mails.length >= 50, { what: 'the flood being delivered', timeoutMs: 30_000, detail: () => flood.mails.length });

    const single = voicemail(ONE);
    const sentAt = Date.now();
    expect((await b!.send(single)).result).to.equal('queued');
    await waitFor(() => one.mails.length === 1, { what: 'the single message delivered', timeoutMs: 30_000 });
    const floodDelivered = flood.mails.length; // read at once: at most what had arrived when the single one did
    const latency = Date.now() - sentAt;
    expect(eventIdOf(one.mails[0]!.raw)).to.equal(single.id);
    expect(floodDelivered, 'flood messages delivered when the single one arrived').to.be.below(total / 2);
    console.log(`      the single message took ${latency} ms; the flood had ${floodDelivered} of ${total} delivered then`);
    // The flood goes on: more than half of it was still queued when the single message arrived.
    expect(total - floodDelivered).to.be.above(total / 2);
    expect(one.mails).to.have.length(1);
  });
});
