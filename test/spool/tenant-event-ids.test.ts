import { expect } from 'chai';
import { eid, missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { describeStores } from '../helpers/stores';

const A = 'a.example.com';
const B = 'b.example.com';

describeStores('spool: event ids are unique per tenant, not across tenants', (store) => {
  const h = new Harness();
  let a: TestSmtp;
  let b: TestSmtp;

  beforeEach(async () => {
    const ca = testCa();
    a = await h.smtp({ ca });
    b = await h.smtp({ ca });
    await h.start(tenantConfig(ca.cert, { [A]: { port: a.port }, [B]: { port: b.port } }, { spool: await store.spoolConfig() }));
  });
  afterEach(() => h.dispose());

  const delivered = (tenant: string, id: string) => (em: { type: string; payload: Record<string, any> }[]) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === id && x.payload.tenant === tenant);

  it('the same id from two tenants is two events: two mails, each through its own tenant', async () => {
    const id = eid('shared');
    await h.host.send(missed(A, { id }));
    await h.host.send(missed(B, { id }));
    await h.host.until((em) => delivered(A, id)(em) && delivered(B, id)(em));
    expect(a.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([id]);
    expect(b.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([id]);
    expect((await h.plugin.lookup(id, A))!.tenant).to.equal(A);
    expect((await h.plugin.lookup(id, B))!.tenant).to.equal(B);
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 2, failed: 0 });
  });

  it('the same id twice from one tenant is still one mail', async () => {
    const id = eid('dup');
    await h.host.send(missed(A, { id }));
    await h.host.send(missed(A, { id }));
    // A marker after both: once it is delivered, a second mail for `id` would have been too.
    const marker = missed(A);
    await h.host.send(marker);
    await h.host.until(delivered(A, marker.id));
    await a.waitFor(2);
    expect(a.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort()).to.deep.equal([id, marker.id].sort());
    expect(h.host.of('email.delivered', id)).to.have.length(1);
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 2, failed: 0 });
  });
});
