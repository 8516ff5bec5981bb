import { expect } from 'chai';
import { tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';

const A = 'a.example.com';
const B = 'b.example.com';
const AUTH = { user: 'pbx', pass: 'pw-plaintext-0001' };
const clearWarnings = (logs: { level: string; msg: string; fields?: Record<string, unknown> }[]) =>
  logs.filter((l) => l.level === 'warn' && /credentials are sent in clear/.test(l.msg)).map((l) => l.fields);

describe('security "none" with auth: the password goes in clear, and the plugin says so', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('warns at activation, once per place it is set, naming the path and tenant; not for starttls or none without auth', async () => {
    const cfg = tenantConfig('', { [A]: { port: 2525, security: 'none', auth: AUTH }, [B]: { port: 2525, security: 'starttls', auth: AUTH }, 'c.example.com': { port: 2525, security: 'none' } });
    await h.start(cfg);
    expect(clearWarnings(h.host.logs)).to.deep.equal([{ path: `/tenants/${A}/smtp`, tenant: A }]);
    expect(JSON.stringify(h.host.logs)).to.not.include(AUTH.pass);
  });

  it('warns again on a configuration change that sets it (here in defaults), and not on one that removes it', async () => {
    const cfg = tenantConfig('', { [B]: { port: 2525, security: 'starttls', auth: AUTH } });
    await h.start(cfg);
    expect(clearWarnings(h.host.logs)).to.deep.equal([]);
    const changed = { ...cfg, defaults: { smtp: { host: '127.0.0.1', port: 2525, security: 'none', auth: AUTH } } };
    h.host.changeConfig(changed);
    expect(h.host.logs.some((l) => l.msg === 'configuration change applied')).to.equal(true);
    expect(clearWarnings(h.host.logs)).to.deep.equal([{ path: '/defaults/smtp' }]);
    h.host.changeConfig(cfg);
    expect(h.host.logs.filter((l) => l.msg === 'configuration change applied')).to.have.length(2);
    expect(clearWarnings(h.host.logs)).to.have.length(1);
  });
});
