import { expect } from 'chai';
import { voicemail } from '../helpers/events';
import { FaultServer } from '../helpers/fault-servers';
import { sharedPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName, eventIdOf } from './nodes';

const T = 'a.example.com';

describe('cluster: losing the database connection (terminated backends)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('backends terminated during steady delivery: every message delivered exactly once, none lost', async function () {
    this.timeout(90_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    const server = await FaultServer.start({ starttls: 'none', dataReplyDelayMs: 40 });
    cleanup.push(() => server.close());
    const nodes = await Promise.all([0, 1].map((i) => ClusterNode.start(`n${i}`, clusterConfig(url, { [T]: server.port }, { perTenant: 4 }))));
    for (const n of nodes) cleanup.push(() => n.kill());

    const total = 80;
    const events = Array.from({ length: total }, () => voicemail(T));
    const answers = await Promise.all(events.map((e, i) => nodes[i % 2]!.send(e)));
    expect(answers.map((a) => a.result ?? a.error)).to.deep.equal(events.map(() => 'queued'));

    const terminated: number[] = [];
    for (const mark of [15, 35, 55]) {
      await waitFor(() => server.mails.length >= mark, { what: `${mark} messages at the server`, timeoutMs: 30_000, detail: () => server.mails.length });
      terminated.push(await db.terminateBackends(dbName(url)));
    }
    // Each time, the nodes' pools and LISTEN connections were cut (two nodes: at least the two listeners).
    for (const n of terminated) expect(n).to.be.at.least(2);

    const delivered = () => new Set(nodes.flatMap((n) => n.of('email.delivered').map((e) => e.eventId)));
    await waitFor(() => delivered().size === total, { what: 'every message reported delivered', timeoutMs: 40_000, detail: () => [delivered().size, server.mails.length] });
    const status = await nodes[1]!.op('status');
    expect(status.counts).to.deep.equal({ queued: 0, delivered: total, failed: 0 });
    const ids = server.mails.map((m) => eventIdOf(m.raw));
    expect(ids, 'mails at the server').to.have.length(total);
    expect([...new Set(ids)].sort()).to.deep.equal(events.map((e) => e.id).sort());
    console.log(`      terminated backends at 15/35/55 delivered: ${terminated.join(', ')}`);
  });
});
