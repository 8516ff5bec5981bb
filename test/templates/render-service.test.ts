import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../../src/errors';
import type { HostContext } from '../../src/host-api';
import { EmailNotifyPlugin, type ActivateOptions } from '../../src/plugin';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { TestSmtp, testCa } from '../helpers/smtp';
import { partialBomb } from './fixtures';

/** So that only the time limit can stop the bomb (the partial and output caps would stop it first). */
const TIME_ONLY: ActivateOptions = { renderLimits: { partialCalls: Number.MAX_SAFE_INTEGER, partialDepth: 64, outputChars: Number.MAX_SAFE_INTEGER } };

describe('templates: tenant templates render on a budget, off the main event loop', function () {
  this.timeout(60_000);
  let a: TestSmtp;
  let b: TestSmtp;
  const h = new Harness();
  let host: FakeHost;
  let plugin: EmailNotifyPlugin;
  /** What the plugin reported and logged, in the order it happened. */
  let timeline: string[];

  const start = async (config: Record<string, any>, opts: ActivateOptions = {}) => {
    host = new FakeHost(config);
    const ctx = host.context();
    timeline = [];
    const wrapped: HostContext = {
      ...ctx,
      log: {
        ...ctx.log,
        warn: (msg, fields) => {
          if (fields?.code === 'TEMPLATE_INVALID') timeline.push(`TEMPLATE_INVALID ${String(fields.tenant)}`);
          ctx.log.warn(msg, fields);
        },
      },
      emit: (type, payload) => {
        timeline.push(`${type} ${String(payload.tenant)}`);
        ctx.emit!(type, payload);
      },
    };
    plugin = await EmailNotifyPlugin.activate(wrapped, opts);
    h.defer(() => plugin.deactivate(), () => host.cleanup());
  };
  const config = (aExtra: Record<string, any>, delivery: Record<string, any> = {}) => {
    const c: Record<string, any> = tenantConfig(testCa().cert, { 'a.example.com': { port: a.port }, 'b.example.com': { port: b.port } });
    Object.assign(c.tenants['a.example.com'], aExtra);
    c.delivery = { ...c.delivery, ...delivery };
    return c;
  };
  const invalid = () => host.logs.filter((l) => l.fields?.code === 'TEMPLATE_INVALID');

  beforeEach(async () => {
    [a, b] = await Promise.all([TestSmtp.start({ ca: testCa() }), TestSmtp.start({ ca: testCa() })]);
    h.defer(() => Promise.all([a.close(), b.close()]));
  });
  afterEach(() => h.dispose());

  it("the partial bomb in tenant A's config: B's mail goes while A's render is stuck, the event loop keeps ticking, A's mail goes with the default part, logged once", async () => {
    await start(config({ partials: partialBomb(), templates: { 'call.missed': { subject: 'A {{caller.number}}', html: '<p>{{> p8}}</p>' } } }, { renderTimeoutMs: 2000 }), TIME_ONLY);
    // A first mail without the bomb starts A's render worker, so the bomb below runs in a ready worker.
    await host.send(voicemail('a.example.com'));
    await a.waitFor(1);

    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      await host.send(missed('a.example.com'));
      const ticksAtBomb = ticks;
      await host.send(missed('b.example.com'));
      await host.until((e) => e.filter((x) => x.type === 'email.delivered' && x.payload.tenant === 'a.example.com').length === 2);
      // Ordered by events: B was delivered before A's stuck render was given up, and A's mail went after that.
      expect(timeline.slice(timeline.indexOf('email.delivered a.example.com') + 1)).to.deep.equal(['email.delivered b.example.com', 'TEMPLATE_INVALID a.example.com', 'email.delivered a.example.com']);
      const ticksAtFallback = ticks;
      expect(ticksAtFallback - ticksAtBomb, 'the main event loop ran during the render').to.be.greaterThan(5);
    } finally {
      clearInterval(ticker);
    }
    const [, mail] = await a.waitFor(2);
    expect(mail!.parsed.subject).to.equal('A +15550122');
    expect(mail!.parsed.html).to.contain('Missed call');
    expect((await b.waitFor(1))[0]!.parsed.subject).to.equal('Missed call from +15550122');
    // A second mail with the same bomb: sent, and not logged again.
    await host.send(missed('a.example.com'));
    await a.waitFor(3);
    expect(invalid()).to.have.length(1);
    expect(invalid()[0]!.fields).to.include({ tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', limit: 'timeMs' });
    expect(invalid()[0]!.fields!.message).to.contain('render time limit of 2000 ms (delivery.renderTimeoutMs)');
  });

  it('with the default budget the bomb stops at the partial-call cap; the mail still goes, logged once', async () => {
    await start(config({ partials: partialBomb(), templates: { 'call.missed': { html: '<p>{{> p8}}</p>' } } }));
    for (let i = 0; i < 3; i++) await host.send(missed('a.example.com'));
    const mails = await a.waitFor(3);
    for (const m of mails) expect(m.parsed.html).to.contain('Missed call');
    expect(invalid()).to.have.length(1);
    expect(invalid()[0]!.fields).to.include({ tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', limit: 'partialCalls' });
  });

  it("the bomb in preview() sources: B's mail goes meanwhile, and the preview answers with the default part and the limit", async () => {
    await start(config({ templates: { 'call.missed': { subject: 'Saved' } } }, { renderTimeoutMs: 2000 }), TIME_ONLY);
    await plugin.preview({ tenant: 'a.example.com', eventType: 'call.missed' }); // starts a worker
    const preview = plugin.preview({ tenant: 'a.example.com', eventType: 'call.missed', sources: { html: '<p>{{> p8}}</p>', partials: partialBomb() } }).then((r) => {
      timeline.push('preview answered');
      return r;
    });
    await host.send(missed('b.example.com'));
    const r = await preview;
    expect(timeline.filter((t) => !t.startsWith('TEMPLATE_INVALID'))).to.deep.equal(['email.delivered b.example.com', 'preview answered']);
    expect(r.subject).to.equal('Saved');
    expect(r.html).to.contain('Missed call');
    expect(r.problems.map((p) => [p.template, p.limit])).to.deep.equal([['unsaved/call.missed/html', 'timeMs']]);
  });

  it('a render the budget cannot see (CSS inlining of a huge stylesheet) is stopped by terminating its worker; the mail goes with its CSS not inlined, logged once', async () => {
    const rules = Array.from({ length: 1500 }, (_, i) => `div p.c${i} span{color:#123456}`).join('\n');
    const els = Array.from({ length: 1500 }, (_, i) => `<div><p class="c${i}"><span>{{caller.number}}</span></p></div>`).join('');
    // With a text part of its own (the text is not made from this HTML, which would be slow too); a message deadline that leaves room for starting workers under ts-node.
    await start(config({ templates: { 'call.missed': { html: `<style>${rules}</style>${els}`, text: 'A {{caller.number}}' } } }, { messageTimeoutMs: 30_000 }));
    await host.send(missed('a.example.com'));
    await host.send(missed('b.example.com'));
    const [m] = await a.waitFor(1);
    await host.until((e) => e.some((x) => x.type === 'email.delivered' && x.payload.tenant === 'a.example.com'));
    expect(m!.parsed.html).to.contain('div p.c0 span{color:#123456}'); // the stylesheet as it was, not inlined
    expect(m!.parsed.html).to.contain('<span>+15550122</span>');
    expect(timeline.indexOf('email.delivered b.example.com')).to.be.lessThan(timeline.indexOf('email.delivered a.example.com'));
    expect(plugin.templateStats().stopped).to.equal(1);
    await host.send(missed('a.example.com'));
    await a.waitFor(2);
    expect(plugin.templateStats().stopped, 'the stopped stage is avoided for these templates').to.equal(1);
    expect(invalid()).to.have.length(1);
    expect(invalid()[0]!.fields).to.include({ tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html (CSS inlining)', limit: 'timeMs' });
    expect(invalid()[0]!.fields!.message).to.contain('the render was stopped');
  });

  it('refuses preview sources that are not strings, naming the field, and tenants not in the configuration', async () => {
    await start(config({}));
    const refusal = async (req: unknown) => {
      try {
        await plugin.preview(req as never);
      } catch (e) {
        expect(e).to.be.instanceOf(PluginError);
        return [(e as PluginError).code, (e as PluginError).field];
      }
      throw new Error('not refused');
    };
    const ast = { type: 'Program', body: [{ type: 'MustacheStatement', escaped: false, path: { type: 'PathExpression', original: 'caller.name', parts: ['caller', 'name'], depth: 0 }, params: [], hash: undefined }] };
    expect(await refusal({ tenant: 'a.example.com', eventType: 'call.missed', sources: { html: ast } })).to.deep.equal(['EVENT_INVALID', '/sources/html']);
    expect(await refusal({ tenant: 'a.example.com', eventType: 'call.missed', sources: { partials: { row: ast } } })).to.deep.equal(['EVENT_INVALID', '/sources/partials/row']);
    expect(await refusal({ tenant: 'a.example.com', eventType: 'call.missed', sources: { partials: ['x'] } })).to.deep.equal(['EVENT_INVALID', '/sources/partials']);
    expect(await refusal({ tenant: 'a.example.com', eventType: 'call.missed', sources: 'x' })).to.deep.equal(['EVENT_INVALID', '/sources']);
    expect(await refusal({ tenant: 'a.example.com', eventType: 'call.missed', sources: { script: 'x' } })).to.deep.equal(['EVENT_INVALID', '/sources/script']);
    expect(await refusal({ tenant: 'nobody.example.com', eventType: 'call.missed' })).to.deep.equal(['TENANT_NOT_CONFIGURED', '/tenant']);
  });

  it('300 previews with new tenant ids are refused and leave no cache entry and no watcher behind', async () => {
    const dirs = h.tmpdir('pbx-tpl-many-');
    for (let i = 0; i < 300; i++) {
      fs.mkdirSync(path.join(dirs, `t${i}.example.com`));
      fs.writeFileSync(path.join(dirs, `t${i}.example.com`, 'call.missed.subject.hbs'), `T${i}`);
    }
    const c = config({});
    c.defaults = { ...c.defaults, templatesDir: path.join(dirs, '{tenant}') };
    await start(c);
    const before = plugin.templateStats();
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      await plugin.preview({ tenant: `t${i}.example.com`, eventType: 'call.missed', sources: { subject: `draft ${i}` } }).catch((e: PluginError) => {
        expect(e.code).to.equal('TENANT_NOT_CONFIGURED');
        refused++;
      });
    }
    expect(refused).to.equal(300);
    const after = plugin.templateStats();
    expect(after.watchers).to.equal(before.watchers);
    expect(after.directories).to.equal(before.directories);
    expect(after.compiled).to.equal(before.compiled);
    expect(after.workers).to.equal(0);
  });
});
