import { expect } from 'chai';
import { activate, PluginError } from '../../src';
import { resolveConfig, SchemaRegistry } from '../../src/config';
import { FakeHost } from '../helpers/fake-host';

async function refusal(config: unknown): Promise<PluginError> {
  const host = new FakeHost(config);
  try {
    const p = await activate(host.context());
    await p.deactivate();
    throw new Error('activate() accepted an invalid configuration');
  } catch (e) {
    if (!(e instanceof PluginError)) throw e;
    return e;
  } finally {
    host.cleanup();
  }
}

const paths = (e: PluginError) => (e.problems ?? []).map((p) => p.path);
const good = { tenants: { 'a.example.com': { from: 'PBX <pbx@a.example.com>', smtp: { host: 'smtp.a.example.com' } } } };

describe('config: activate() validates the configuration', () => {
  it('rejects an invalid config with CONFIG_INVALID listing every problem with its JSON path', async () => {
    const e = await refusal({
      surprise: true,
      attachmentRoots: ['relative/path'],
      delivery: { retry: { initialDelayMs: -1, maxDelayMs: 'soon' }, concurrency: { perTenant: 0 } },
      defaults: { smtp: { host: 'x', security: 'starttlz' }, language: 'not a tag!' },
      tenants: {
        'a.example.com': { from: 'PBX <pbx@a.example.com>', smtp: { host: 'h', port: 70000, extra: 1 } },
        'b.example.com': { from: 'PBX <pbx@b.example.com>', smtp: { port: 25 } },
      },
    });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e)).to.include.members([
      '/surprise',
      '/attachmentRoots/0',
      '/delivery/retry/initialDelayMs',
      '/delivery/retry/maxDelayMs',
      '/delivery/concurrency/perTenant',
      '/defaults/smtp/security',
      '/defaults/language',
      '/tenants/a.example.com/smtp/port',
      '/tenants/a.example.com/smtp/extra',
      '/tenants/b.example.com/smtp/host',
    ]);
    for (const p of e.problems!) expect(p.message, p.path).to.be.a('string').and.not.equal('');
    // The message names the paths too, for hosts that only log the message.
    expect(e.message).to.contain('/tenants/a.example.com/smtp/port').and.contain('/surprise');
  });

  it('rejects a config that is not an object', async () => {
    for (const c of [null, 42, 'x', []]) {
      const e = await refusal(c);
      expect(e.code, JSON.stringify(c)).to.equal('CONFIG_INVALID');
      expect(paths(e), JSON.stringify(c)).to.deep.equal(['/']);
    }
  });

  it('refuses a listed tenant with no from or no smtp.host after merging defaults, naming its path', async () => {
    const e = await refusal({
      defaults: { language: 'en' },
      tenants: {
        'nofrom.example.com': { smtp: { host: 'smtp.nofrom.example.com' } },
        'nosmtp.example.com': { from: 'pbx@nosmtp.example.com' },
        'badfrom.example.com': { from: 'not an address', smtp: { host: 'h' } },
        'ok.example.com': { from: 'pbx@ok.example.com', smtp: { host: 'h' } },
      },
    });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e).sort()).to.deep.equal(['/tenants/badfrom.example.com/from', '/tenants/nofrom.example.com/from', '/tenants/nosmtp.example.com/smtp/host']);
  });

  it('lists usability problems together with schema problems (every problem at once)', async () => {
    const e = await refusal({
      delivery: { retry: { maxAgeMs: -5 } },
      tenants: { 'nofrom.example.com': { smtp: { host: 'h' } } },
    });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e)).to.include.members(['/delivery/retry/maxAgeMs', '/tenants/nofrom.example.com/from']);
  });

  it('survives wrongly typed defaults and names each path once', async () => {
    const e = await refusal({ defaults: { from: 42, smtp: 'smtp.example.com' }, tenants: { 'a.example.com': { smtp: { port: 25 } } } });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e)).to.include.members(['/defaults/from', '/defaults/smtp', '/tenants/a.example.com/smtp/host']);
    expect(new Set(paths(e)).size).to.equal(paths(e).length);
  });

  it('accepts a tenant whose from and smtp come from defaults', async () => {
    const host = new FakeHost({ defaults: { from: 'PBX <pbx@example.com>', smtp: { host: 'smtp.example.com' } }, tenants: { 'a.example.com': { language: 'de' } } });
    const p = await activate(host.context());
    await p.deactivate();
    host.cleanup();
  });

  it('refuses initialDelayMs above maxDelayMs', async () => {
    const e = await refusal({ ...good, delivery: { retry: { initialDelayMs: 5000, maxDelayMs: 1000 } } });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e)).to.deep.equal(['/delivery/retry/initialDelayMs']);
  });
});

describe('config: resolveConfig applies defaults', () => {
  const schemas = new SchemaRegistry();

  it('fills every default (retry, concurrency, timeouts, spool) into a copy and freezes it', () => {
    const raw = structuredClone(good);
    const c = resolveConfig(raw, schemas);
    expect(c.delivery.retry).to.deep.equal({ initialDelayMs: 60000, maxDelayMs: 3600000, maxAgeMs: 432000000, authFailureDelayMs: 900000 });
    expect(c.delivery.concurrency).to.deep.equal({ perTenant: 4, global: 32 });
    expect(c.delivery.messageTimeoutMs).to.equal(90000);
    expect(c.delivery.shutdownTimeoutMs).to.equal(3000);
    expect(c.attachmentRoots).to.deep.equal([]);
    expect(c.defaults).to.deep.equal({});
    expect(c.tenants['a.example.com']!.smtp!.security).to.equal('starttls');
    expect(Object.isFrozen(c.delivery.retry)).to.equal(true);
    expect(Object.isFrozen(c.tenants['a.example.com']!.smtp)).to.equal(true);
    // The caller's object is not written to.
    expect(raw).to.deep.equal(good);
  });

  it('keeps given values and fills only the missing ones', () => {
    const c = resolveConfig({ ...good, delivery: { retry: { initialDelayMs: 10 } } }, schemas);
    expect(c.delivery.retry.initialDelayMs).to.equal(10);
    expect(c.delivery.retry.maxDelayMs).to.equal(3600000);
  });

  it('an empty or missing config is valid (no tenant listed)', () => {
    expect(resolveConfig(undefined, schemas).tenants).to.deep.equal({});
    expect(resolveConfig({}, schemas).delivery.retry.maxAgeMs).to.equal(432000000);
  });
});
