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

  it('beforeSend may add headers and change the subject and body; addressing headers, line breaks in values, the sender and the envelope stay as composed', async () => {
    h.plugin.addHook('beforeSend', ({ message }) => {
      const m = message as any;
      m.headers['X-Ticket'] = 'T-42';
      m.headers['Bcc'] = 'evil@x.example';
      m.headers['X-Bad'] = 'a\r\nBcc: evil@x.example';
      m.headers['Content-Type'] = 'text/html';
      m.envelopeTo = ['evil@x.example'];
      m.envelopeFrom = 'ceo@x.example';
      m.from = 'CEO <ceo@x.example>';
      m.subject = 'Missed call\r\nBcc: evil@x.example';
      m.text += 'CRM: https://crm.example/c/1\n';
      m.html = m.html.replace('</body>', '<p>CRM link</p></body>');
    });
    const e = missed(T);
    const m = await deliver(e);
    expect(m.to).to.deep.equal(['bob@a.example.com']);
    expect(m.from).to.equal(`pbx@${T}`);
    expect((m.parsed.to as { value: { address: string }[] }).value.map((a) => a.address)).to.deep.equal(['bob@a.example.com']);
    expect(m.parsed.from!.value[0]!.address).to.equal(`pbx@${T}`);
    // The subject is one neutralised line: the line break became a space, no header was added.
    expect(m.parsed.subject).to.equal('Missed call Bcc: evil@x.example');
    expect(m.parsed.text).to.match(/CRM: https:\/\/crm\.example\/c\/1\n$/);
    expect(String(m.parsed.html)).to.contain('<p>CRM link</p>');
    expect(m.parsed.bcc).to.equal(undefined);
    expect(m.parsed.headers.get('x-ticket')).to.equal('T-42');
    // A value with a line break is dropped whole: no X-Bad header at all, and no line it could have smuggled in.
    expect(m.parsed.headers.has('x-bad')).to.equal(false);
    const head = m.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).to.not.match(/^x-bad:/im);
    expect(head).to.not.match(/^bcc:/im);
    expect((m.parsed.headers.get('content-type') as { value: string }).value, 'Content-Type as composed').to.equal('multipart/alternative');
  });

  it('beforeSend may change the recipients (logged); a file that was not composed or an address that is not one fails the message (HOOK_FAILED)', async () => {
    h.plugin.addHook('beforeSend', ({ event, message }) => {
      if (event.data.ringSeconds === 1) message.to = ['desk@a.example.com'];
      if (event.data.ringSeconds === 2) message.attachments.push({ filename: 'passwd', contentType: 'text/plain', path: '/etc/passwd' });
      if (event.data.ringSeconds === 3) message.to = ['not an address\r\nBcc: x@y'];
    });
    const rerouted = missed(T, {}, { ringSeconds: 1 });
    const m = await deliver(rerouted);
    expect(m.to).to.deep.equal(['desk@a.example.com']);
    expect(h.host.of('email.delivered', rerouted.id)[0]!.payload.to).to.deep.equal(['desk@a.example.com']);
    const logged = h.host.logs.filter((l) => l.msg === 'a beforeSend hook changed the recipients of a message');
    expect(logged).to.have.length(1);
    expect(logged[0]!.fields).to.deep.include({ eventId: rerouted.id, from: ['bob@a.example.com'], to: ['desk@a.example.com'] });
    for (const [ring, why] of [[2, 'attachments with a file that was not composed'], [3, 'to that is not 1 to 10 mail addresses']] as const) {
      const e = missed(T, {}, { ringSeconds: ring });
      await h.host.send(e);
      await h.host.until((em) => em.some((x) => x.payload.eventId === e.id && x.type === 'email.failed'));
      expect(h.host.of('email.failed', e.id)[0]!.payload.reason).to.contain(`HOOK_FAILED: a beforeSend hook left message.${why}`);
    }
    expect(server.mails).to.have.length(1);
  });
});
