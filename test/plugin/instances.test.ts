import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';

describe('several plugin instances in one process (CONTRACT.md section 2)', () => {
  it('each instance has its own config, spool and reports; the same tenant id routes to each its own server', async () => {
    const ca = testCa();
    const [s1, s2] = await Promise.all([TestSmtp.start({ ca }), TestSmtp.start({ ca })]);
    const h1 = new FakeHost(tenantConfig(ca.cert, { [T]: { port: s1.port } }));
    const h2 = new FakeHost(tenantConfig(ca.cert, { [T]: { port: s2.port } }));
    const [p1, p2] = await Promise.all([activate(h1.context()), activate(h2.context())]);
    try {
      const e1 = [voicemail(T), missed(T)];
      const e2 = [missed(T)];
      // The same event id in both instances: each instance has its own idempotency record.
      const shared = missed(T);
      await Promise.all([...e1, shared].map((e) => h1.send(e)));
      await Promise.all([...e2, shared].map((e) => h2.send(structuredClone(e))));
      await h1.until((em) => em.filter((x) => x.type === 'email.delivered').length === 3);
      await h2.until((em) => em.filter((x) => x.type === 'email.delivered').length === 2);
      const ids = (s: TestSmtp) => s.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort();
      expect(ids(s1)).to.deep.equal([...e1, shared].map((e) => e.id).sort());
      expect(ids(s2)).to.deep.equal([...e2, shared].map((e) => e.id).sort());
      expect(h1.emitted.every((x) => [...e1, shared].some((e) => e.id === x.payload.eventId))).to.equal(true);
      expect(h2.emitted.every((x) => [...e2, shared].some((e) => e.id === x.payload.eventId))).to.equal(true);
      // Stopping one leaves the other working.
      await p1.deactivate();
      const after = missed(T);
      await h2.send(after);
      await h2.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === after.id));
      expect((await p2.status()).counts.delivered).to.equal(3);
    } finally {
      await Promise.all([p1.deactivate(), p2.deactivate()]);
      await Promise.all([s1.close(), s2.close()]);
      h1.cleanup();
      h2.cleanup();
    }
  });
});
