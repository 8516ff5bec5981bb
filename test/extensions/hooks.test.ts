import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { eid, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const A = 'a.example.com';
const B = 'b.example.com';

/**
 * An extension with one kind (`x.ping`) and hooks driven by the event: a `behaviour` field in the
 * data (or the caller's name for built-in kinds) says whether its beforeSend throws or hangs.
 */
const EXTENSION = `
exports.register = (api) => {
  api.defineEvent('x.ping', {
    schema: { type: 'object', additionalProperties: false, required: ['recipient'], properties: { recipient: api.shapes.Recipient, behaviour: { type: 'string', description: 'What the hook does.' } } },
    templates: { subject: 'ping {{view.crm}}', text: 'ping {{view.crm}}', html: '<p>ping <a href="{{view.crm}}">crm</a></p>' },
  });
  const behaviour = (event) => event.data.behaviour ?? (event.data.caller && event.data.caller.name) ?? '';
  api.hook('beforeRender', ({ event, view }) => {
    if (behaviour(event) === 'render-throw') throw new Error('no CRM record');
    if (behaviour(event) === 'render-function') view.fn = () => 1;
    view.crm = 'https://crm.example/e/' + encodeURIComponent(event.id);
  });
  api.hook('beforeSend', ({ event, message }) => {
    message.headers['X-Stamp'] = event.type;
    if (behaviour(event) === 'throw') throw new Error('CRM says no for ' + event.id);
    if (behaviour(event) === 'hang') return new Promise(() => {});
  });
  api.hook('afterDelivery', ({ event, type, payload }) => { (globalThis.__afterDelivery ??= []).push([event.type, type, payload.eventId]); });
};`;

describe('extensions: hooks on every kind, isolated per message', function () {
  this.timeout(30_000);
  const h = new Harness();
  let a: TestSmtp;
  let b: TestSmtp;

  // One instance for the whole file (its render workers start once); every assertion is about the events of its own test.
  before(async () => {
    const dir = h.tmpdir('pbx-hooks-');
    fs.writeFileSync(path.join(dir, 'stamp.js'), EXTENSION);
    a = await h.smtp();
    b = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [A]: { port: a.port }, [B]: { port: b.port } }, { extensions: [path.join(dir, 'stamp.js')], delivery: { hookTimeoutMs: 1500, messageTimeoutMs: 8000, retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 60_000 } } }));
    (globalThis as { __afterDelivery?: unknown[] }).__afterDelivery = [];
  });
  after(() => h.dispose());
  const ids = (mails: TestSmtp['mails'], of: { id: string }[]) => mails.map((m) => m.parsed.headers.get('x-pbx-event-id')).filter((id) => of.some((e) => e.id === id));

  const ping = (tenant: string, behaviour?: string) => ({ id: eid('ping'), type: 'x.ping', tenant, occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: [`ops@${tenant}`] }, ...(behaviour && { behaviour }) } });

  it('a beforeSend hook adds a header to built-in and extension mail alike; beforeRender view data reaches the templates; afterDelivery sees the event', async () => {
    const vm = await h.deliver(a, voicemail(A));
    const mc = await h.deliver(a, missed(A));
    const p = ping(A);
    const pm = await h.deliver(a, p);
    expect([vm, mc, pm].map((m) => m.parsed.headers.get('x-stamp'))).to.deep.equal(['voicemail.received', 'call.missed', 'x.ping']);
    const crm = `https://crm.example/e/${encodeURIComponent(p.id)}`;
    expect(pm.parsed.subject).to.equal(`ping ${crm}`);
    expect(String(pm.parsed.html)).to.contain(`<a href="${crm.replace(/=/g, '&#x3D;')}">crm</a>`);
    const seen = (globalThis as { __afterDelivery?: unknown[][] }).__afterDelivery!;
    await waitFor(() => seen.filter((s) => s[1] === 'email.delivered').length >= 3, { what: 'afterDelivery for the three mails', detail: () => seen });
    expect(seen.filter((s) => s[1] === 'email.delivered')).to.deep.equal([
      ['voicemail.received', 'email.delivered', vm.parsed.headers.get('x-pbx-event-id')],
      ['call.missed', 'email.delivered', mc.parsed.headers.get('x-pbx-event-id')],
      ['x.ping', 'email.delivered', p.id],
    ]);
  });

  it('a hook that throws for one tenant fails only that message (email.failed HOOK_FAILED with the reason); that tenant and the other deliver', async () => {
    const bad = missed(A, {}, { caller: { number: '+15550100', name: 'throw' } });
    const fine = missed(A);
    const other = ping(B);
    await h.host.send(bad);
    await h.host.send(fine);
    await h.host.send(other);
    const mine = [bad, fine, other];
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === bad.id) && em.filter((e) => e.type === 'email.delivered' && (e.payload.eventId === fine.id || e.payload.eventId === other.id)).length === 2);
    expect(h.host.of('email.failed', bad.id)).to.have.length(1);
    expect(h.host.of('email.failed', bad.id)[0]!.payload).to.deep.include({ tenant: A, attempts: 1, reason: `HOOK_FAILED: the beforeSend hook of stamp threw (Error: CRM says no for ${bad.id})` });
    expect(h.host.emitted.filter((e) => e.type === 'email.deferred' && mine.some((m) => m.id === e.payload.eventId))).to.have.length(0);
    expect(ids(a.mails, mine)).to.deep.equal([fine.id]);
    expect(ids(b.mails, mine)).to.deep.equal([other.id]);
    expect((await h.plugin.status()).tenants.find((t) => t.tenant === A)?.held ?? false).to.equal(false);
    expect((await h.plugin.lookup(bad.id, A))).to.deep.include({ state: 'failed', attempts: 1 });
    const logged = h.host.logs.filter((l) => l.level === 'error' && l.fields?.hook === 'beforeSend' && l.fields?.eventId === bad.id);
    expect(logged).to.have.length(1);
    expect(logged[0]!.fields).to.deep.include({ code: 'HOOK_FAILED', origin: 'stamp' });
  });

  it('a hung hook is cut at delivery.hookTimeoutMs (email.failed HOOK_TIMEOUT); the other tenant is delivered while it hangs', async () => {
    const hung = ping(A, 'hang');
    const other = ping(B);
    await h.host.send(hung);
    await h.host.send(other);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === other.id));
    // B went out while A's hook was still running (its budget is 1.5 s): nobody waited for it.
    expect(h.host.of('email.failed', hung.id)).to.have.length(0);
    await h.host.until((em) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === hung.id));
    expect(h.host.of('email.failed', hung.id)[0]!.payload.reason).to.equal('HOOK_TIMEOUT: the beforeSend hook of stamp did not settle within 1500 ms (delivery.hookTimeoutMs)');
    expect(ids(a.mails, [hung])).to.deep.equal([]);
    const next = await h.deliver(a, ping(A));
    expect(next.parsed.headers.get('x-stamp')).to.equal('x.ping');
    expect(h.host.of('email.failed', hung.id)).to.have.length(1);
    const logged = h.host.logs.filter((l) => l.fields?.code === 'HOOK_TIMEOUT' && l.fields?.eventId === hung.id);
    expect(logged.map((l) => l.fields!.hook), JSON.stringify(logged)).to.deep.equal(['beforeSend']);
    expect(logged[0]!.msg).to.equal('hook ran over its budget');
  });

  it('a beforeRender hook that throws, or leaves view data that is not plain, fails only its message (HOOK_FAILED)', async () => {
    const throws = ping(A, 'render-throw');
    const fn = ping(A, 'render-function');
    await h.host.send(throws);
    await h.host.send(fn);
    await h.host.until((em) => [throws.id, fn.id].every((id) => em.some((e) => e.type === 'email.failed' && e.payload.eventId === id)));
    expect(h.host.of('email.failed', throws.id)[0]!.payload.reason).to.equal('HOOK_FAILED: the beforeRender hook of stamp threw (Error: no CRM record)');
    expect(h.host.of('email.failed', fn.id)[0]!.payload.reason).to.match(/^HOOK_FAILED: a beforeRender hook put a value in state\.view that is not plain data/);
    expect(ids(a.mails, [throws, fn])).to.deep.equal([]);
  });
});
