import { expect } from 'chai';
import { missed, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';

describe('hooks: the closed set (onAccepted, beforeSend, onOutcome)', () => {
  let server: TestSmtp;
  const h = new Harness();

  beforeEach(async () => {
    server = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
  });

  afterEach(() => h.dispose());

  async function deliver(e: Record<string, any>) {
    await h.host.send(e);
    await h.host.until((em) => em.some((x) => x.payload.eventId === e.id && x.type !== 'email.deferred'));
    return server.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === e.id)!;
  }

  it('onAccepted, beforeSend and onOutcome each see their event; a disposed hook is not called', async () => {
    const seen: string[] = [];
    h.plugin.addHook('onAccepted', (s) => void seen.push(`accepted ${s.event.id} ${s.tenant}`));
    h.plugin.addHook('beforeSend', (s) => void seen.push(`beforeSend ${s.event.id} ${s.attempt}`));
    const d = h.plugin.addHook('onOutcome', (s) => void seen.push(`${s.type} ${s.payload.eventId}`));
    const e = missed(T);
    await deliver(e);
    await h.host.until(() => seen.length >= 3);
    expect(seen).to.have.members([`accepted ${e.id} ${T}`, `beforeSend ${e.id} 1`, `email.delivered ${e.id}`]);
    d.dispose();
    const e2 = missed(T);
    await deliver(e2);
    expect(seen.filter((s) => s.startsWith('email.delivered'))).to.have.length(1);
  });

  // A throwing beforeSend defers its message instead (HOOK_FAILED): test/delivery/error-scopes.test.ts.
  it('a throwing onAccepted hook is logged and the mail still goes out', async () => {
    h.plugin.addHook('onAccepted', () => {
      throw new Error('integrator bug');
    });
    const e = missed(T);
    const m = await deliver(e);
    expect(m.parsed.headers.get('x-pbx-event-id')).to.equal(e.id);
    expect(h.host.of('email.delivered', e.id)).to.have.length(1);
    const logged = h.host.logs.filter((l) => l.level === 'error' && l.fields?.hook === 'onAccepted');
    expect(logged).to.have.length(1);
    expect(logged[0]!.fields!.error).to.equal('integrator bug');
  });

  it('beforeSend may add an X- header; it cannot change recipients, sender, subject, body or attachments', async () => {
    h.plugin.addHook('beforeSend', ({ mail }) => {
      const m = mail as any;
      m.headers['X-Ticket'] = 'T-42';
      m.headers['Bcc'] = 'evil@x.example';
      m.headers['X-Bad'] = 'a\r\nBcc: evil@x.example';
      m.headers['Content-Type'] = 'text/html';
      m.to = [{ name: 'Evil', address: 'evil@x.example' }];
      m.envelopeTo = ['evil@x.example'];
      m.envelopeFrom = 'ceo@x.example';
      m.from = 'CEO <ceo@x.example>';
      m.subject = 'Reset your password';
      m.html = '<a href="https://phish.example">login</a>';
      m.text = 'phish';
      m.attachments = [{ filename: 'passwd', contentType: 'text/plain', path: '/etc/passwd' }];
    });
    const e = missed(T);
    const m = await deliver(e);
    expect(m.to).to.deep.equal(['bob@a.example.com']);
    expect(m.from).to.equal(`pbx@${T}`);
    expect((m.parsed.to as { value: { address: string }[] }).value.map((a) => a.address)).to.deep.equal(['bob@a.example.com']);
    expect(m.parsed.from!.value[0]!.address).to.equal(`pbx@${T}`);
    expect(m.parsed.subject).to.not.contain('password');
    expect(m.parsed.text).to.not.equal('phish');
    expect(String(m.parsed.html)).to.not.contain('phish.example');
    expect(m.parsed.attachments).to.deep.equal([]);
    expect(m.parsed.bcc).to.equal(undefined);
    expect(m.parsed.headers.get('x-ticket')).to.equal('T-42');
    // A value with a line break is dropped whole: no X-Bad header at all, and no line it could have smuggled in.
    expect(m.parsed.headers.has('x-bad')).to.equal(false);
    const head = m.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).to.not.match(/^x-bad:/im);
    expect(head).to.not.match(/^bcc:/im);
    expect(head).to.not.include('evil@x.example');
    expect((m.parsed.headers.get('content-type') as { value: string }).value, 'Content-Type as composed').to.equal('multipart/alternative');
  });
});
