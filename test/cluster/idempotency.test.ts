import { expect } from 'chai';
import { voicemail } from '../helpers/events';
import { sharedPostgres } from '../helpers/postgres';
import { TestSmtp, testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName } from './nodes';

const T = 'a.example.com';

describe('cluster: idempotency across nodes', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('the same (tenant, event id) posted to two nodes at once makes one mail; one handler says queued, the other duplicate', async function () {
    this.timeout(60_000);
    const pg = await sharedPostgres();
    const url = await pg.createDatabase();
    cleanup.push(() => pg.dropDatabase(dbName(url)));
    const server = await TestSmtp.start({ ca: testCa() });
    cleanup.push(() => server.close());
    const config = clusterConfig(url, { [T]: server.port }, { security: 'starttls' });
    const nodes = await Promise.all(['a', 'b'].map((n) => ClusterNode.start(n, config)));
    for (const n of nodes) cleanup.push(() => n.kill());

    const rounds = 20;
    const events = Array.from({ length: rounds }, () => voicemail(T));
    // Each event to both nodes in the same instant, twenty times over (so the race is run, not hoped for).
    const answers = await Promise.all(events.map((e) => Promise.all(nodes.map((n) => n.send(e)))));
    for (const pair of answers) {
      expect(pair.map((a) => a.error), JSON.stringify(pair)).to.deep.equal([undefined, undefined]);
      expect(pair.map((a) => a.result).sort()).to.deep.equal(['duplicate', 'queued']);
    }
    await server.waitFor(rounds);
    const delivered = () => nodes.flatMap((n) => n.of('email.delivered'));
    await waitFor(() => delivered().length === rounds, { what: `${rounds} deliveries reported`, detail: () => delivered().length });
    // A duplicate would have been sent by now: the second node had it as long as the first.
    const status = await nodes[1]!.op('status');
    expect(status.counts).to.deep.equal({ queued: 0, delivered: rounds, failed: 0 });
    const ids = server.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'));
    expect(ids).to.have.length(rounds);
    expect([...new Set(ids)].sort()).to.deep.equal(events.map((e) => e.id).sort());
    expect(delivered()).to.have.length(rounds);
  });
});
