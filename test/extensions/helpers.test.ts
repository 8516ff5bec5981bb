import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { eid, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const A = 'a.example.com';
const B = 'b.example.com';

/** A kind whose subject calls a helper that returns, throws or never returns, as the event says. */
const EXTENSION = `
exports.register = (api) => {
  api.helper('flaky', (mode) => {
    if (mode === 'throw') throw new Error('helper bug');
    if (mode === 'hang') for (;;) {}
    return 'fine';
  });
  api.defineEvent('x.flaky', {
    schema: { type: 'object', additionalProperties: false, required: ['recipient', 'mode'], properties: { recipient: api.shapes.Recipient, mode: { type: 'string', description: 'What the helper does.' } } },
    templates: { subject: 'flaky {{flaky event.data.mode}}', text: 't', html: '<p>h</p>' },
  });
};`;

describe('extensions: a helper that throws or never returns affects only its message', function () {
  this.timeout(30_000);
  const h = new Harness();
  after(() => h.dispose());

  it('the throwing and the hung helper defer their own messages (COMPOSE_FAILED); the other tenant and the same tenant’s other mail are delivered', async () => {
    const dir = h.tmpdir('pbx-flaky-');
    fs.writeFileSync(path.join(dir, 'flaky.js'), EXTENSION);
    const a = await h.smtp();
    const b = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [A]: { port: a.port }, [B]: { port: b.port } }, { extensions: [path.join(dir, 'flaky.js')], delivery: { renderTimeoutMs: 50, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 } } }));
    const flaky = (tenant: string, mode: string) => ({ id: eid('flaky'), type: 'x.flaky', tenant, occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: [`ops@${tenant}`] }, mode } });
    const throws = flaky(A, 'throw');
    const hangs = flaky(A, 'hang');
    await h.host.send(throws);
    await h.host.send(hangs);
    const vmA = await h.deliver(a, voicemail(A));
    const okB = await h.deliver(b, flaky(B, 'ok'));
    expect(okB.parsed.subject).to.equal('flaky fine');
    expect(vmA.parsed.subject).to.match(/^New voicemail/);
    await h.host.until((em) => [throws.id, hangs.id].every((id) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === id)));
    expect(h.host.of('email.deferred', throws.id)[0]!.payload.reason).to.equal('COMPOSE_FAILED: the mail could not be built (Error: helper bug)');
    expect(h.host.of('email.deferred', hangs.id)[0]!.payload.reason).to.match(/^COMPOSE_FAILED: the mail could not be built \(RenderStopped: the render ran for 1000 ms\)$/);
    expect(a.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([vmA.parsed.headers.get('x-pbx-event-id')]);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === A)?.held ?? false).to.equal(false);
    expect(h.plugin.templateStats().stopped).to.equal(2);
  });
});
