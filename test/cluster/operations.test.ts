import { expect } from 'chai';
import { voicemail } from '../helpers/events';
import { FaultServer } from '../helpers/fault-servers';
import { sharedPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';
import { ClusterNode, clusterConfig, dbName, eventIdOf } from './nodes';

const T = 'a.example.com';

describe('cluster: operations from any node', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('a message failed (550) after it was accepted on node A is listed and retried from node B, and delivered after the fix', async function () {
    this.timeout(60_000);
    const db = await sharedPostgres();
    const url = await db.createDatabase();
    cleanup.push(() => db.dropDatabase(dbName(url)));
    const server = await FaultServer.start({ starttls: 'none', rcpt: { [`alice@${T}`]: 550 } });
    cleanup.push(() => server.close());
    const config = clusterConfig(url, { [T]: server.port });
    const [a, b] = await Promise.all(['a', 'b'].map((n) => ClusterNode.start(n, config)));
    for (const n of [a!, b!]) cleanup.push(() => n.kill());

    const e = voicemail(T);
    expect((await a!.send(e)).result).to.equal('queued');
    await waitFor(() => [a!, b!].some((n) => n.of('email.failed').length === 1), { what: 'the message failed', timeoutMs: 20_000 });
    expect(server.mails).to.have.length(0);

    const listed = await b!.op<{ eventId: string; state: string; lastError?: { code: string } }[]>('messages', { tenant: T, state: 'failed' });
    expect(listed.map((m) => [m.eventId, m.state])).to.deep.equal([[e.id, 'failed']]);
    expect(listed[0]!.lastError?.code).to.be.a('string');

    // Retrying a message that is not there is refused with its code, from any node.
    const missing = await b!.op('retry', 'no-such-event', T).then(
      () => undefined,
      (err: { code: string }) => err.code,
    );
    expect(missing).to.equal('MESSAGE_NOT_FOUND');

    delete server.opts.rcpt![`alice@${T}`]; // the fix: the mailbox exists now
    const retried = await b!.op<{ eventId: string; state: string }>('retry', e.id, T);
    expect([retried.eventId, retried.state]).to.deep.equal([e.id, 'queued']);
    await waitFor(() => [a!, b!].some((n) => n.of('email.delivered').length === 1), { what: 'the retried message delivered', timeoutMs: 20_000 });
    expect(server.mails.map((m) => eventIdOf(m.raw))).to.deep.equal([e.id]);
    expect((await a!.op('lookup', e.id, T)).state).to.equal('delivered');
    expect((await a!.op('status')).counts).to.deep.equal({ queued: 0, delivered: 1, failed: 0 });
    expect([a!, b!].flatMap((n) => n.of('email.delivered'))).to.have.length(1);
  });
});
