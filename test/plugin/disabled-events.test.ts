import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';

const A = 'a.example.com';
const B = 'b.example.com';

/**
 * README: "A disabled event type (`events.<type>.enabled: false`) is accepted and logged, and no mail
 * is made." The handler resolves (the PBX must not retry), nothing is queued or copied, nothing is
 * reported, and it is per tenant and per type.
 */
describe('events.<type>.enabled: false at intake', () => {
  const h = new Harness();
  let a: TestSmtp;
  let b: TestSmtp;
  let root: string;

  beforeEach(async () => {
    [a, b] = await Promise.all([h.smtp(), h.smtp()]);
    root = h.tmpdir('pbx-disabled-');
    const c = tenantConfig(testCa().cert, { [A]: { port: a.port }, [B]: { port: b.port } }, { attachmentRoots: [root] });
    (c.tenants[A] as Record<string, unknown>).events = { 'voicemail.received': { enabled: false }, 'call.missed': { enabled: true } };
    await h.start(c);
  });

  afterEach(() => h.dispose());

  const disabledLogs = () => h.host.logs.filter((l) => l.msg === 'event type disabled for tenant; no mail');

  it('accepts the event (the handler resolves), logs it once, queues, copies and reports nothing', async () => {
    const file = path.join(root, 'msg.wav');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(64)]));
    const off = voicemail(A, {}, { recording: { path: file, contentType: 'audio/wav' } });
    const result = await h.plugin.handle(off);
    expect(result.status).to.equal('disabled');
    await h.host.send(voicemail(A)); // through the host's handler too: resolves
    expect(disabledLogs()).to.have.length(2);
    expect(disabledLogs()[0]).to.deep.equal({ level: 'info', msg: 'event type disabled for tenant; no mail', fields: { tenant: A, type: 'voicemail.received', eventId: off.id } });
    expect((await h.plugin.lookup(off.id))).to.equal(undefined);
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 0, failed: 0 });
    expect(fs.readdirSync(path.join(h.host.dataDir, 'files'))).to.deep.equal([]);

    // A later, enabled event of the same tenant is delivered: by then the disabled one had every chance to go out.
    const on = missed(A);
    await h.deliver(a, on);
    expect(a.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([on.id]);
    expect(h.host.emitted.filter((e) => e.payload.eventId !== on.id)).to.deep.equal([]);
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 1, failed: 0 });
  });

  it('is per tenant and per type: the same type for another tenant, and other types for this one, are mailed', async () => {
    const events = [voicemail(B), fax(A), missed(A)];
    for (const e of events) await h.host.send(e);
    await h.host.send(voicemail(A));
    await h.host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length);
    expect(b.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([events[0]!.id]);
    expect(a.mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).sort()).to.deep.equal([events[1]!.id, events[2]!.id].sort());
    expect(disabledLogs().map((l) => l.fields!.tenant)).to.deep.equal([A]);
  });

  it('an invalid event of a disabled type is still refused with its code and field', async () => {
    const bad = voicemail(A, {}, { durationSeconds: -1 });
    const err = await h.host.send(bad).then(
      () => undefined,
      (e: unknown) => e as { code?: string; field?: string },
    );
    expect(err?.code).to.equal('EVENT_INVALID');
    expect(err?.field).to.equal('/data/durationSeconds');
    expect(disabledLogs()).to.have.length(0);
  });

  it('a file outside attachmentRoots is still refused with ATTACHMENT_FORBIDDEN, a missing one inside with ATTACHMENT_NOT_FOUND', async () => {
    const outside = path.join(h.tmpdir('pbx-disabled-outside-'), 'msg.wav');
    fs.writeFileSync(outside, Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(64)]));
    const refused = (e: unknown) => h.plugin.handle(e).then(() => expect.fail('accepted'), (err: { code?: string; field?: string }) => err);
    const forbidden = await refused(voicemail(A, {}, { recording: { path: outside, contentType: 'audio/wav' } }));
    expect([forbidden.code, forbidden.field]).to.deep.equal(['ATTACHMENT_FORBIDDEN', '/data/recording/path']);
    const missing = await refused(voicemail(A, {}, { recording: { path: path.join(root, 'gone.wav'), contentType: 'audio/wav' } }));
    expect([missing.code, missing.field]).to.deep.equal(['ATTACHMENT_NOT_FOUND', '/data/recording/path']);
    expect(disabledLogs()).to.have.length(0);
  });

  it('nothing is kept for later: after the type is enabled again, the same event id makes its mail', async () => {
    const e = voicemail(A);
    await h.host.send(e);
    expect((await h.plugin.lookup(e.id))).to.equal(undefined);
    const enabled = structuredClone(h.host.config) as ReturnType<typeof tenantConfig>;
    delete (enabled.tenants[A] as Record<string, unknown>).events;
    h.host.changeConfig(enabled);
    expect(h.host.logs.filter((l) => l.msg === 'configuration change applied')).to.have.length(1);
    const m = await h.deliver(a, e);
    expect(m.parsed.headers.get('x-pbx-event-id')).to.equal(e.id);
    expect(a.mails).to.have.length(1);
    expect(disabledLogs()).to.have.length(1);
  });
});
