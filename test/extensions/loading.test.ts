import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { eid, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'acme.example.com';

/** A tiny kind an extension module under test defines, as JavaScript source. */
const KIND = (type: string) => `{
  schema: { type: 'object', additionalProperties: false, required: ['recipient'], properties: { recipient: api.shapes.Recipient, note: { type: 'string', description: 'A note.', 'x-untrusted': true } } },
  templates: { subject: '${type}: {{event.data.note}}', text: 'note {{event.data.note}}', html: '<p>{{event.data.note}}</p>' },
}`;

/** Extension modules, each a real file a configuration names by absolute path. */
const MODULES: Record<string, string> = {
  'good.js': `exports.register = async (api) => { await new Promise((r) => setTimeout(r, 10)); api.defineEvent('x.good', ${KIND('x.good')}); api.helper('shout', (s) => String(s).toUpperCase()); };`,
  'throws.js': `exports.register = () => { throw new Error('boom at register'); };`,
  'rejects.js': `exports.register = async () => { throw new Error('rejected at register'); };`,
  'partial.js': `exports.register = (api) => { api.defineEvent('x.partial', ${KIND('x.partial')}); api.helper('partialHelper', () => 'p'); api.hook('onAccepted', () => {}); throw new Error('after registering'); };`,
  'load-error.js': `throw new Error('cannot even load');`,
  'no-register.js': `exports.setup = () => {};`,
  'built-in-clash.js': `exports.register = (api) => api.defineEvent('voicemail.received', ${KIND('voicemail.received')});`,
  'helper-clash-built-in.js': `exports.register = (api) => api.helper('phone', () => 'x');`,
  'helper-clash-other.js': `exports.register = (api) => api.helper('shout', () => 'x');`,
  'bad-hook.js': `exports.register = (api) => api.hook('onSomething', () => {});`,
  'hangs.js': `exports.register = () => new Promise(() => {});`,
  'late.js': `let saved; exports.register = (api) => { saved = api; };
exports.later = () => ['defineEvent', 'hook', 'helper'].map((m) => { try { m === 'defineEvent' ? saved.defineEvent('x.late', {}) : m === 'hook' ? saved.hook('onAccepted', () => {}) : saved.helper('late', () => ''); return 'accepted'; } catch (e) { return e.code; } });`,
};

describe('extensions: loading, and what a broken one costs', function () {
  this.timeout(30_000);
  const h = new Harness();
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(() => {
    dir = h.tmpdir('pbx-ext-');
    for (const [name, src] of Object.entries(MODULES)) fs.writeFileSync(file(name), src);
  });
  after(() => h.dispose());

  it('loads the good ones; each broken one is logged EXTENSION_FAILED, listed in status() with its reason, and leaves nothing behind; the built-in kinds deliver', async () => {
    const server = await h.smtp();
    const names = ['good.js', 'throws.js', 'rejects.js', 'partial.js', 'load-error.js', 'no-register.js', 'built-in-clash.js', 'helper-clash-built-in.js', 'helper-clash-other.js', 'bad-hook.js', 'hangs.js', 'late.js'];
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { extensions: [...names.map(file), '/nonexistent/ext.js', 'no-such-package-xyz'], delivery: { hookTimeoutMs: 300, retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 60_000 } } }));
    const status = (await h.plugin.status());
    const byModule = new Map(status.extensions.map((x) => [path.basename(x.module), x]));
    expect(status.extensions).to.have.length(14);
    expect(status.extensions.filter((x) => x.state === 'loaded').map((x) => path.basename(x.module))).to.deep.equal(['good.js', 'late.js']);
    const reason = (m: string) => byModule.get(m)!.error!.message;
    expect(reason('throws.js')).to.equal('EXTENSION_FAILED: throws: register() failed: boom at register');
    expect(reason('rejects.js')).to.equal('EXTENSION_FAILED: rejects: register() failed: rejected at register');
    expect(reason('partial.js')).to.equal('EXTENSION_FAILED: partial: register() failed: after registering');
    expect(reason('load-error.js')).to.equal('EXTENSION_FAILED: load-error threw while loading: cannot even load');
    expect(reason('no-register.js')).to.equal('EXTENSION_FAILED: no-register exports no register(api) function');
    expect(reason('built-in-clash.js')).to.match(/^EXTENSION_FAILED: built-in-clash: register\(\) failed: KIND_INVALID: voicemail\.received is already defined \(by built-in\)$/);
    expect(reason('helper-clash-built-in.js')).to.equal('EXTENSION_FAILED: helper-clash-built-in: register() failed: HELPER_INVALID: helper phone: a built-in helper has that name');
    expect(reason('helper-clash-other.js')).to.equal('EXTENSION_FAILED: helper-clash-other: register() failed: HELPER_INVALID: helper shout: already added by good');
    expect(reason('bad-hook.js')).to.match(/^EXTENSION_FAILED: bad-hook: register\(\) failed: HOOK_INVALID: unknown hook "onSomething"/);
    expect(reason('hangs.js')).to.equal('EXTENSION_FAILED: hangs: register() did not settle within 300 ms (delivery.hookTimeoutMs)');
    expect(reason('ext.js')).to.match(/^EXTENSION_FAILED: "\/nonexistent\/ext\.js" cannot be found \(no such module file\)/);
    expect(reason('no-such-package-xyz')).to.match(/^EXTENSION_FAILED: "no-such-package-xyz" cannot be found \(no package of that name from /);
    for (const x of status.extensions.filter((e) => e.state === 'failed')) {
      expect(x.error!.code).to.equal('EXTENSION_FAILED');
      expect([x.kinds, x.hooks, x.helpers], x.module).to.deep.equal([[], [], []]);
    }
    const logged = h.host.logs.filter((l) => l.fields?.code === 'EXTENSION_FAILED');
    expect(logged).to.have.length(12);
    expect(logged.every((l) => l.level === 'error')).to.equal(true);

    // api.log tags every line with the extension's name.
    expect(h.host.logs.filter((l) => l.msg === 'extension loaded').map((l) => [l.fields!.extension, l.fields!.kinds, l.fields!.helpers])).to.deep.equal([
      ['good', ['x.good'], ['shout']],
      ['late', [], []],
    ]);
    // What partial.js registered before it threw is gone: no kind, no subscription.
    expect(status.eventTypes).to.deep.equal(['voicemail.received', 'fax.received', 'call.missed', 'x.good']);
    expect([...h.host.handlers.keys()].sort()).to.deep.equal(['call.missed', 'fax.received', 'voicemail.received', 'x.good']);
    const unknown = await h.host.send({ id: eid(), type: 'x.partial', tenant: T, occurredAt: '2026-11-28T12:00:00Z', data: {} }).then(() => 'accepted', (e) => e.message);
    expect(unknown).to.equal('no handler for x.partial');

    // The built-in kinds and the good extension deliver.
    const vm = await h.deliver(server, voicemail(T));
    expect(vm.parsed.subject).to.match(/^New voicemail from Bob Caller/);
    const good = await h.deliver(server, { id: eid(), type: 'x.good', tenant: T, occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: [`a@${T}`] }, note: 'hi\u0000 there' } });
    expect(good.parsed.subject).to.equal('x.good: hi there');

    // Registering after activate() resolved is refused, whatever is registered.
    const late = require(file('late.js')) as { later(): string[] };
    expect(late.later()).to.deep.equal(['KIND_INVALID', 'HOOK_INVALID', 'HELPER_INVALID']);
  });

  it('the good extension\'s helper is usable from tenant templates; an unknown one is still refused', async () => {
    const server = await h.smtp();
    await h.replaceHost(tenantConfig(testCa().cert, { [T]: { port: server.port } }, {
      extensions: [file('good.js')],
      tenants: { [T]: { from: `PBX <pbx@${T}>`, smtp: { host: '127.0.0.1', port: server.port, tls: { ca: testCa().cert, servername: 'localhost' } }, templates: { 'voicemail.received': { subject: '{{shout caller.name}}', text: '{{nosuch caller.name}}' } } } },
    }));
    const m = await h.deliver(server, voicemail(T));
    expect(m.parsed.subject).to.equal('BOB CALLER');
    // The text part with an unknown helper fell back to the default, logged once.
    expect(m.parsed.text).to.contain('you have a new voicemail');
    const problems = h.host.logs.filter((l) => l.fields?.code === 'TEMPLATE_INVALID');
    expect(problems).to.have.length(1);
    expect(String(problems[0]!.fields!.message)).to.contain('"nosuch" is not an allowed helper');
  });

  it('a package name resolves from the plugin\'s own node_modules, and its kind delivers (workers load it too)', async () => {
    // A real installed package: written into the plugin's node_modules under a scope of its own, removed in finally.
    const name = `@pbx-email-notify-test/ext-${process.pid}-${Date.now()}`;
    const pkg = path.join(__dirname, '../../node_modules', name);
    fs.mkdirSync(pkg, { recursive: true });
    try {
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'lib/main.js' }));
      fs.mkdirSync(path.join(pkg, 'lib'));
      fs.writeFileSync(path.join(pkg, 'lib/main.js'), `exports.register = (api) => { api.defineEvent('x.pkg', ${KIND('x.pkg')}); api.helper('pkgShout', (s) => String(s).toUpperCase() + '!'); };`);
      const server = await h.smtp();
      await h.replaceHost(tenantConfig(testCa().cert, { [T]: { port: server.port } }, {
        extensions: [name],
        tenants: { [T]: { from: `PBX <pbx@${T}>`, smtp: { host: '127.0.0.1', port: server.port, tls: { ca: testCa().cert, servername: 'localhost' } }, templates: { 'x.pkg': { subject: '{{pkgShout event.data.note}}' } } } },
      }));
      const ext = (await h.plugin.status()).extensions.find((e) => e.module === name);
      expect(ext, 'status().extensions').to.include({ state: 'loaded' });
      expect(ext!.kinds).to.deep.equal(['x.pkg']);
      // The tenant's subject uses the package's helper: rendered in a worker, which loaded the package by its resolved path.
      const m = await h.deliver(server, { id: eid(), type: 'x.pkg', tenant: T, occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: [`a@${T}`] }, note: 'from a package' } });
      expect(m.parsed.subject).to.equal('FROM A PACKAGE!');
    } finally {
      await h.replaceHost(tenantConfig(testCa().cert, { [T]: { port: 1 } }));
      fs.rmSync(path.join(__dirname, '../../node_modules/@pbx-email-notify-test'), { recursive: true, force: true });
    }
  });
});
