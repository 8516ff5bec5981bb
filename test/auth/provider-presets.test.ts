import { expect } from 'chai';
import { PROVIDER_PRESETS } from '../../src/auth';
import { resolveConfig, SchemaRegistry, TenantDirectory } from '../../src/config';
import type { PluginError } from '../../src/errors';

const creds = { type: 'oauth2', user: 'pbx@acme.example', clientId: 'id', clientSecret: 'cs-secret-1', refreshToken: 'rt-secret-1' };

describe('provider presets', () => {
  const schemas = new SchemaRegistry();
  const tenant = (smtp: object) => new TenantDirectory(resolveConfig({ tenants: { acme: { from: 'pbx@acme.example', smtp } } }, schemas)).get('acme')!;

  it('microsoft365: credentials alone give smtp.office365.com:587 STARTTLS and the Microsoft token URL and scope', () => {
    const t = tenant({ provider: 'microsoft365', auth: creds });
    expect(t.smtp).to.include({ host: 'smtp.office365.com', port: 587, security: 'starttls' });
    expect(t.smtp.auth).to.include({ tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token', scope: 'https://outlook.office365.com/.default offline_access' });
  });

  it('google: smtp.gmail.com:587 STARTTLS (465 with security tls) and the Google token URL', () => {
    const t = tenant({ provider: 'google', auth: creds });
    expect(t.smtp).to.include({ host: 'smtp.gmail.com', port: 587, security: 'starttls' });
    expect(t.smtp.auth).to.include({ tokenUrl: PROVIDER_PRESETS.google.tokenUrl, scope: 'https://mail.google.com/' });
    expect(tenant({ provider: 'google', security: 'tls', auth: creds }).smtp).to.include({ host: 'smtp.gmail.com', port: 465, security: 'tls' });
  });

  it('keys the tenant sets win over the preset (loopback stand-ins in tests)', () => {
    const t = tenant({ provider: 'microsoft365', host: '127.0.0.1', port: 2525, auth: { ...creds, tokenUrl: 'http://127.0.0.1:1/token', scope: 's' } });
    expect(t.smtp).to.include({ host: '127.0.0.1', port: 2525 });
    expect(t.smtp.auth).to.include({ tokenUrl: 'http://127.0.0.1:1/token', scope: 's' });
  });

  it('password auth with a preset keeps the password (PLAIN/LOGIN as offered)', () => {
    const t = tenant({ provider: 'microsoft365', auth: { user: 'u', pass: 'p-secret' } });
    expect(t.smtp.auth).to.deep.equal({ user: 'u', pass: 'p-secret' });
  });

  it('without a provider, host and an OAuth2 tokenUrl are required: CONFIG_INVALID naming each path', () => {
    let err: PluginError | undefined;
    try {
      resolveConfig({ tenants: { acme: { from: 'pbx@acme.example', smtp: { auth: creds } } } }, schemas);
    } catch (e) {
      err = e as PluginError;
    }
    expect(err?.code).to.equal('CONFIG_INVALID');
    expect(err!.problems!.map((p) => p.path)).to.include.members(['/tenants/acme/smtp/host', '/tenants/acme/smtp/auth/tokenUrl']);
  });

  it('refuses a plain-http token URL except to a loopback address (the client secret travels there)', () => {
    let err: PluginError | undefined;
    try {
      resolveConfig({ tenants: { acme: { from: 'pbx@acme.example', smtp: { host: 'h', auth: { ...creds, tokenUrl: 'http://login.example.com/token' } } } } }, schemas);
    } catch (e) {
      err = e as PluginError;
    }
    expect(err?.code).to.equal('CONFIG_INVALID');
    expect(err!.problems!.map((p) => p.path)).to.deep.equal(['/tenants/acme/smtp/auth/tokenUrl']);
    expect(tenant({ host: 'h', auth: { ...creds, tokenUrl: 'http://127.0.0.1:8080/token' } }).smtp.auth).to.include({ tokenUrl: 'http://127.0.0.1:8080/token' });
  });

  it('refuses an unknown provider and an auth object that is neither password nor oauth2', () => {
    let err: PluginError | undefined;
    try {
      resolveConfig({ tenants: { acme: { from: 'pbx@acme.example', smtp: { provider: 'yahoo', auth: { type: 'oauth2', user: 'u' } } } } }, schemas);
    } catch (e) {
      err = e as PluginError;
    }
    expect(err?.code).to.equal('CONFIG_INVALID');
    const paths = err!.problems!.map((p) => p.path);
    expect(paths).to.include('/tenants/acme/smtp/provider');
    expect(paths.some((p) => p.startsWith('/tenants/acme/smtp/auth'))).to.equal(true);
  });
});
