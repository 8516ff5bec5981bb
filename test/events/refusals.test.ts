import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { expect } from 'chai';
import { PluginError } from '../../src';
import { fax, missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';

/** Awaits a promise that must reject with a PluginError. */
async function refused(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(PluginError);
    return e as PluginError;
  }
  throw new Error('expected a refusal, the event was accepted');
}

function thrown(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(PluginError);
    return e as PluginError;
  }
  throw new Error('expected a PluginError');
}

describe('events: every refusal code, nothing queued, nothing sent', () => {
  let server: TestSmtp;
  const h = new Harness();
  let work: string;
  let root: string;
  let outside: string;

  before(async () => {
    server = await TestSmtp.start({ ca: testCa() });
  });
  after(() => server.close());

  beforeEach(async () => {
    server.mails.length = 0;
    work = h.tmpdir('pbx-refusals-');
    root = path.join(work, 'recordings');
    outside = path.join(work, 'elsewhere');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(root, 'ok.wav'), Buffer.alloc(64, 1));
    fs.writeFileSync(path.join(outside, 'secret.wav'), 'not yours');
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [root] }));
  });

  afterEach(() => h.dispose());

  /** Nothing queued, no attachment copy left behind, and the next valid event is the only mail sent. */
  async function assertNothingQueuedOrSent(): Promise<void> {
    expect((await h.plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 0, failed: 0 });
    expect(fs.readdirSync(path.join(h.host.dataDir, 'files'))).to.deep.equal([]);
    const ok = missed(T);
    await h.host.send(ok);
    await server.waitFor(1);
    await h.host.until((em) => em.some((e) => e.type === 'email.delivered'));
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.parsed.headers.get('x-pbx-event-id')).to.equal(ok.id);
    expect(h.host.emitted.map((e) => [e.type, e.payload.eventId])).to.deep.equal([['email.delivered', ok.id]]);
  }

  it('EVENT_INVALID for each malformed shape, with field naming the offending value', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['bad email', voicemail(T, {}, { recipient: { extension: '201', email: ['not-an-address'] } }), '/data/recipient/email/0'],
      ['no email', voicemail(T, {}, { recipient: { extension: '201', email: [] } }), '/data/recipient/email'],
      ['missing recipient', (() => { const e = voicemail(T); delete (e.data as Record<string, unknown>).recipient; return e; })(), '/data/recipient'],
      ['negative duration', voicemail(T, {}, { durationSeconds: -1 }), '/data/durationSeconds'],
      ['duration not a number', voicemail(T, {}, { durationSeconds: '65' }), '/data/durationSeconds'],
      ['occurredAt not a date', voicemail(T, { occurredAt: 'yesterday' }), '/occurredAt'],
      ['occurredAt impossible date', voicemail(T, { occurredAt: '2026-13-45T25:61:00Z' }), '/occurredAt'],
      ['extra data property', voicemail(T, {}, { evil: 1 }), '/data/evil'],
      ['extra envelope property', voicemail(T, { extra: true }), '/extra'],
      ['extra caller property', voicemail(T, {}, { caller: { number: '1', x: 1 } }), '/data/caller/x'],
      ['missing data', (() => { const e = missed(T) as Record<string, unknown>; delete e.data; return e; })(), '/data'],
      ['data null', missed(T, { data: null }), '/data'],
      ['missing id', (() => { const e = missed(T) as Record<string, unknown>; delete e.id; return e; })(), '/id'],
      ['id with spaces', missed(T, { id: 'a b' }), '/id'],
      ['fax status', fax(T, {}, { status: 'lost' }), '/data/status'],
      ['fax pages fractional', fax(T, {}, { pages: 1.5 }), '/data/pages'],
      ['relative attachment path', voicemail(T, {}, { recording: { path: 'ok.wav', contentType: 'audio/wav' } }), '/data/recording/path'],
      ['content type with CRLF', voicemail(T, {}, { recording: { path: path.join(root, 'ok.wav'), contentType: 'audio/wav\r\nX-Evil: 1' } }), '/data/recording/contentType'],
      ['tenant with a slash', missed(T, { tenant: '../etc' }), '/tenant'],
      ['eleven recipients', missed(T, {}, { recipient: { extension: '1', email: Array.from({ length: 11 }, (_, i) => `u${i}@a.example.com`) } }), '/data/recipient/email'],
    ];
    for (const [name, event, field] of cases) {
      const e = await refused(h.host.send(event));
      expect(e.code, name).to.equal('EVENT_INVALID');
      expect(e.field, name).to.equal(field);
      expect(e.message, name).to.contain(field);
    }
    for (const raw of [null, 'a string', 42, []]) {
      const e = await refused(h.plugin.handle(raw));
      expect(e.code).to.equal('EVENT_INVALID');
      expect(e.field).to.equal('/');
    }
    await assertNothingQueuedOrSent();
  });

  it('EVENT_INVALID lists every problem when there are several', async () => {
    const e = await refused(h.host.send(voicemail(T, { occurredAt: 'x' }, { durationSeconds: -3, recipient: { extension: '1', email: ['bad'] } })));
    expect(e.code).to.equal('EVENT_INVALID');
    expect((e.problems ?? []).map((p) => p.path)).to.include.members(['/occurredAt', '/data/durationSeconds', '/data/recipient/email/0']);
    await assertNothingQueuedOrSent();
  });

  it('EVENT_TYPE_UNKNOWN for a type the plugin does not handle', async () => {
    const handler = h.host.handlers.get('voicemail.received')!;
    for (const type of ['sms.received', undefined, 7]) {
      const e = await refused(handler({ ...voicemail(T), type } as never));
      expect(e.code).to.equal('EVENT_TYPE_UNKNOWN');
      expect(e.field).to.equal('/type');
    }
    await assertNothingQueuedOrSent();
  });

  it('TENANT_NOT_CONFIGURED for a tenant with no usable settings (no defaults)', async () => {
    const e = await refused(h.host.send(voicemail('unknown.example.com')));
    expect(e.code).to.equal('TENANT_NOT_CONFIGURED');
    expect(e.field).to.equal('/tenant');
    expect(e.message).to.contain('unknown.example.com');
    await assertNothingQueuedOrSent();
  });

  it('ATTACHMENT_FORBIDDEN: outside the roots, .. escape, prefix sibling, symlink out, FIFO, device via symlink, directory', async () => {
    fs.symlinkSync(path.join(outside, 'secret.wav'), path.join(root, 'link-out.wav'));
    fs.symlinkSync('/dev/zero', path.join(root, 'zero.wav'));
    execFileSync('mkfifo', [path.join(root, 'pipe.wav')]);
    fs.mkdirSync(path.join(root, 'dir.wav'));
    const sock = net.createServer();
    await new Promise<void>((r) => sock.listen(path.join(root, 'sock.wav'), r));
    fs.mkdirSync(`${root}-evil`);
    fs.writeFileSync(`${root}-evil/x.wav`, 'x');
    const cases: [string, string][] = [
      ['outside the roots', path.join(outside, 'secret.wav')],
      ['.. escape', `${root}/../elsewhere/secret.wav`],
      ['sibling sharing the prefix', `${root}-evil/x.wav`],
      ['symlink out of the root', path.join(root, 'link-out.wav')],
      ['FIFO', path.join(root, 'pipe.wav')],
      ['/dev/zero via a symlink inside the root', path.join(root, 'zero.wav')],
      ['directory', path.join(root, 'dir.wav')],
      ['/etc/passwd', '/etc/passwd'],
      ['a unix socket', path.join(root, 'sock.wav')],
      // Outside the roots, whether the file exists is nobody's business: no NOT_FOUND oracle.
      ['missing file outside the roots', path.join(outside, 'no-such.wav')],
      ['missing file outside via ..', `${root}/../elsewhere/no-such.wav`],
      ['missing directory outside the roots', '/no/such/dir/x.wav'],
    ];
    for (const [name, p] of cases) {
      const e = await refused(h.host.send(voicemail(T, {}, { recording: { path: p, contentType: 'audio/wav' } })));
      expect(e.code, name).to.equal('ATTACHMENT_FORBIDDEN');
      expect(e.field, name).to.equal('/data/recording/path');
    }
    sock.close();
    const f = await refused(h.host.send(fax(T, {}, { document: { path: path.join(outside, 'secret.wav'), contentType: 'application/pdf' } })));
    expect(f.code).to.equal('ATTACHMENT_FORBIDDEN');
    expect(f.field).to.equal('/data/document/path');
    await assertNothingQueuedOrSent();
  });

  it('ATTACHMENT_FORBIDDEN when no attachment root is configured at all', async () => {
    await h.replaceHost(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
    const e = await refused(h.host.send(voicemail(T, {}, { recording: { path: path.join(root, 'ok.wav'), contentType: 'audio/wav' } })));
    expect(e.code).to.equal('ATTACHMENT_FORBIDDEN');
    expect(e.field).to.equal('/data/recording/path');
    await assertNothingQueuedOrSent();
  });

  it('ATTACHMENT_NOT_FOUND for a missing file inside the roots', async () => {
    const e = await refused(h.host.send(voicemail(T, {}, { recording: { path: path.join(root, 'gone.wav'), contentType: 'audio/wav' } })));
    expect(e.code).to.equal('ATTACHMENT_NOT_FOUND');
    expect(e.field).to.equal('/data/recording/path');
    const d = await refused(h.host.send(fax(T, {}, { document: { path: path.join(root, 'nope', 'fax.pdf'), contentType: 'application/pdf' } })));
    expect(d.code).to.equal('ATTACHMENT_NOT_FOUND');
    expect(d.field).to.equal('/data/document/path');
    await assertNothingQueuedOrSent();
  });

  it('PLUGIN_STOPPED for an event after deactivate (through a handler the host kept, too)', async () => {
    const kept = h.host.handlers.get('call.missed')!;
    await h.plugin.deactivate();
    expect(h.host.handlers.size).to.equal(0); // deactivate disposed every subscription
    const e = await refused(h.plugin.handle(missed(T)));
    expect(e.code).to.equal('PLUGIN_STOPPED');
    const k = await refused(kept(missed(T) as never));
    expect(k.code).to.equal('PLUGIN_STOPPED');
    expect(server.mails).to.have.length(0);
  });

  it('HOOK_INVALID for an unknown hook name or a non-function', () => {
    const a = thrown(() => h.plugin.addHook('onSomething' as never, () => undefined));
    expect(a.code).to.equal('HOOK_INVALID');
    expect(a.field).to.equal('name');
    expect(a.message).to.contain('onSomething');
    for (const fn of [undefined, 'x', 42, {}]) {
      const b = thrown(() => h.plugin.addHook('beforeSend', fn as never));
      expect(b.code).to.equal('HOOK_INVALID');
      expect(b.field).to.equal('fn');
    }
    const c = thrown(() => h.plugin.addHook('__proto__' as never, () => undefined));
    expect(c.code).to.equal('HOOK_INVALID');
  });
});
